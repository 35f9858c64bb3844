/**
 * Loading the Terraform in terraform/ for the static checks of the test/unit/terraform-*.test.ts files (there is no
 * terraform binary here, so no `validate`/`plan`): each configuration directory (root module, child module or
 * bootstrap) is parsed as HCL with @cdktf/hcl2json and merged over its .tf files. Also the names the expanded
 * configuration gives the module's instances (`this["lake"]`, `function["etl"]`).
 */
import * as fs from 'fs';
import * as path from 'path';
import { parse } from '@cdktf/hcl2json';

// ---------------------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------------------

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Obj = { [k: string]: Json };

/** One Terraform configuration directory (root module, child module or bootstrap), merged over its .tf files. */
export interface TfConfig {
  dir: string;
  resource: Record<string, Record<string, Obj>>;
  data: Record<string, Record<string, Obj>>;
  module: Record<string, Obj>;
  variable: Record<string, Obj>;
  output: Record<string, Obj>;
  locals: Obj;
  terraform: Obj[];
  provider: Record<string, Obj[]>;
  moved: Obj[];
}

const REPO = path.resolve(__dirname, '../..');
export const TF_DIR = path.join(REPO, 'terraform');
export const MODULE_DIR = path.join(TF_DIR, 'modules', 'tributary');
export const BOOTSTRAP_DIR = path.join(TF_DIR, 'bootstrap');

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Blocks of a given type inside a body (hcl2json renders every nested block as an array). */
export function blocks(body: Json | undefined, key: string): Obj[] {
  if (!isObj(body)) return [];
  const v = body[key];
  if (Array.isArray(v)) return v.filter(isObj);
  return isObj(v) ? [v] : [];
}

export function listFiles(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue; // .terraform/, .terraform.lock.hcl
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(p, exts));
    else if (exts.some((e) => entry.name.endsWith(e))) out.push(p);
  }
  return out.sort();
}

export async function parseFile(file: string): Promise<Obj> {
  const parsed = (await parse(path.basename(file), fs.readFileSync(file, 'utf8'))) as Json;
  if (!isObj(parsed)) throw new Error(`${file}: not an object`);
  return parsed;
}

/** Merges the .tf files of one directory (not recursive) into a {@link TfConfig}. */
export async function loadConfig(dir: string): Promise<TfConfig> {
  const cfg: TfConfig = {
    dir,
    resource: {},
    data: {},
    module: {},
    variable: {},
    output: {},
    locals: {},
    terraform: [],
    provider: {},
    moved: [],
  };
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.tf'))
    .map((f) => path.join(dir, f))
    .sort();
  for (const file of files) {
    const j = await parseFile(file);
    for (const kind of ['resource', 'data'] as const) {
      const byType = j[kind];
      if (!isObj(byType)) continue;
      for (const [type, byName] of Object.entries(byType)) {
        if (!isObj(byName)) continue;
        cfg[kind][type] ??= {};
        for (const [name, bodies] of Object.entries(byName)) {
          const body = Array.isArray(bodies) ? bodies[0] : bodies;
          if (!isObj(body)) continue;
          if (cfg[kind][type][name]) throw new Error(`${file}: duplicate ${kind} ${type}.${name}`);
          cfg[kind][type][name] = body;
        }
      }
    }
    for (const kind of ['module', 'variable', 'output'] as const) {
      const byName = j[kind];
      if (!isObj(byName)) continue;
      for (const [name, bodies] of Object.entries(byName)) {
        const body = Array.isArray(bodies) ? bodies[0] : bodies;
        if (isObj(body)) cfg[kind][name] = body;
      }
    }
    for (const l of blocks(j, 'locals')) {
      for (const [k, v] of Object.entries(l)) {
        if (k in cfg.locals) throw new Error(`${file}: duplicate local ${k}`);
        cfg.locals[k] = v;
      }
    }
    cfg.terraform.push(...blocks(j, 'terraform'));
    cfg.moved.push(...blocks(j, 'moved'));
    if (isObj(j.provider)) {
      for (const [name, bodies] of Object.entries(j.provider)) {
        cfg.provider[name] = [...(cfg.provider[name] ?? []), ...(Array.isArray(bodies) ? bodies.filter(isObj) : [])];
      }
    }
  }
  return cfg;
}

export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

// ---------------------------------------------------------------------------------------------------------
// Instance names
// ---------------------------------------------------------------------------------------------------------

/** The module's instance names, as the expanded configuration (and Terraform's addresses) name them. */
export const bucketOf = (name: string): string => `this[${JSON.stringify(name)}]`;
export const keyOf = (name: string): string => `this[${JSON.stringify(name)}]`;
/** The role (and role policy and policy document) of a function, keyed like local.functions: `function["notAllowed"]`. */
export const roleOf = (fn: string): string => `function[${JSON.stringify(fn)}]`;
