/**
 * Local {@link KeyService}: real HMAC-SHA256 with a 256-bit key kept in a file under the data directory,
 * created on first start with mode 0600. Used by `npm start` and tests; the cloud uses `KmsKeyService`.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { KeyService } from '../../core/ports';

/**
 * Reads a 32-byte key file, creating it (random, mode 0600, directory 0700) when it does not exist.
 * Creation uses an exclusive open so two processes starting together end up with the same key.
 * @throws when the file exists with another size, or is readable by group/others.
 */
export async function loadOrCreateKeyFile(file: string): Promise<Buffer> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    const fh = await open(file, 'wx', 0o600);
    try {
      await fh.writeFile(randomBytes(32));
    } finally {
      await fh.close();
    }
    await chmod(file, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = await stat(file);
  if ((st.mode & 0o077) !== 0) throw new Error(`key file ${file} is accessible to group/others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  const key = await readFile(file);
  if (key.length !== 32) throw new Error(`key file ${file} must hold exactly 32 bytes, found ${key.length}`);
  return key;
}

/** {@link KeyService} over a local HMAC key. */
export class LocalKeyService implements KeyService {
  /** `local-` + the first 12 hex digits of SHA-256(key): changes whenever the key file does. */
  readonly keyVersion: string;

  constructor(private readonly key: Buffer) {
    if (key.length < 32) throw new Error('LocalKeyService needs a key of at least 32 bytes');
    this.keyVersion = `local-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
  }

  /** Opens (or creates) the key file `{dataDir}/keys/pseudonym-hmac.key`. */
  static async open(dataDir: string): Promise<LocalKeyService> {
    return new LocalKeyService(await loadOrCreateKeyFile(path.join(dataDir, 'keys', 'pseudonym-hmac.key')));
  }

  /** HMAC-SHA256 of `message` (UTF-8), hex. Local HMAC is cheap, so nothing is cached. */
  async mac(message: string): Promise<string> {
    return createHmac('sha256', this.key).update(message, 'utf8').digest('hex');
  }
}
