/**
 * A large generated CommonJS module loaded with a V8 code cache (`vm.Script` `cachedData`,
 * https://nodejs.org/docs/latest-v20.x/api/vm.html#scriptcreatecacheddata): the ahead-of-time JSON-schema validator
 * (`generated/fhir-schema-validate.js`, 6 MB) cost every worker thread of the import runner 120–160 ms to load;
 * from a code cache, 45–80 ms (functions compiled before the cache was made are in it too).
 * Node 22 has `module.enableCompileCache()` for every module; Node 20 (this machine) has not, and this module is
 * the one worth it.
 *
 * The cache file's name holds a SHA-256 of the source, the Node version, the platform and the process's
 * `execArgv` (V8 refuses a cache made under other V8 flags; and it checks only the source's length, so the content
 * hash is what keeps a changed module from running stale code). A cache V8 refuses is ignored (the module compiles
 * as without one). Writing is best effort: a read-only folder (Lambda's package) only means no cache.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

/** Options of {@link loadWithCodeCache}. */
export interface CodeCacheOptions {
  /** Folder of the cache files (created when a cache is written). */
  cacheDir: string;
  /**
   * With no cache: write one this long after loading (functions compiled meanwhile are in it), on an unref'd
   * timer. Default 3,000 ms; 0: never (the caller may {@link LoadedModule.saveCache} itself).
   */
  writeAfterMs?: number;
}

/** A module loaded by {@link loadWithCodeCache}. */
export interface LoadedModule<T> {
  exports: T;
  /** `used`: compiled from the cache; `rejected`: V8 refused the cache file; `absent`: there was none. */
  cache: 'used' | 'rejected' | 'absent';
  /** The cache file of this source under these flags. */
  cacheFile: string;
  /** Writes the cache now (atomically); false when the folder is not writable. */
  saveCache(): boolean;
}

/** Node options of `execArgv` that are no V8 flags (nor change what V8 compiles): not part of a cache's name. */
const NOT_V8 = /^--(eval|print|require|import|input-type|inspect|cpu-prof|heap-prof|title|enable-source-maps|no-warnings)\b/;

/** The flags of `execArgv` a cache is made under (`--x` options but Node's own; `-e` and its code are not). */
export function cacheFlags(execArgv: readonly string[]): string[] {
  return execArgv.filter((a) => a.startsWith('--') && !/\s/.test(a) && !NOT_V8.test(a));
}

/** The cache file of `source` (loaded from `file`) for this Node and these V8 flags. */
export function codeCacheFile(file: string, source: string, cacheDir: string): string {
  const h = crypto.createHash('sha256');
  for (const part of [source, process.version, process.platform, process.arch, ...cacheFlags(process.execArgv)]) h.update(part).update('\0');
  return path.join(cacheDir, `${path.basename(file, '.js')}-${h.digest('hex').slice(0, 24)}.v8cache`);
}

function readCache(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Writes `data()` to `file` atomically; false (and `data` not called) when the folder is not writable. */
function writeCache(file: string, data: () => Buffer): boolean {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.accessSync(path.dirname(file), fs.constants.W_OK);
  } catch {
    return false;
  }
  const tmp = `${file}.${process.pid}.${crypto.randomUUID()}.tmp`;
  try {
    fs.writeFileSync(tmp, data());
    fs.renameSync(tmp, file);
    return true;
  } catch {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      /* no folder to clean */
    }
    return false;
  }
}

/**
 * Loads the CommonJS module `file` (its `require` resolves from its own folder, as Node's would), compiled from
 * its code cache when there is a usable one. Not registered in `require.cache`: callers load it once.
 */
export function loadWithCodeCache<T>(file: string, opts: CodeCacheOptions): LoadedModule<T> {
  const source = fs.readFileSync(file, 'utf8');
  const cacheFile = codeCacheFile(file, source, opts.cacheDir);
  const cachedData = readCache(cacheFile);
  const script = new vm.Script(Module.wrap(source), { filename: file, ...(cachedData ? { cachedData } : {}) });
  const cache: LoadedModule<T>['cache'] = !cachedData ? 'absent' : script.cachedDataRejected ? 'rejected' : 'used';
  const mod = { exports: {} as T, filename: file, id: file, loaded: false };
  const wrapper = script.runInThisContext() as (e: unknown, r: NodeJS.Require, m: unknown, f: string, d: string) => void;
  wrapper.call(mod.exports, mod.exports, createRequire(file), mod, file, path.dirname(file));
  mod.loaded = true;
  const saveCache = (): boolean => writeCache(cacheFile, () => script.createCachedData());
  const after = opts.writeAfterMs ?? 3000;
  // only where there was none: a cache V8 refused was made under other flags (`NODE_OPTIONS` ones are not in the
  // name), and replacing it would make two kinds of process take turns refusing each other's
  if (cache === 'absent' && after > 0) setTimeout(saveCache, after).unref();
  return { exports: mod.exports, cache, cacheFile, saveCache };
}
