/** LocalKeyService: a real HMAC key in a 0600 file under the data dir, created on first start. */
import { createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalKeyService, loadOrCreateKeyFile } from '../../src/adapters/local/key-service';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'tributary-keys-'));

test('creates a 32-byte 0600 key on first start, reuses it after, real HMAC-SHA256', async () => {
  const dir = tmp();
  const k1 = await LocalKeyService.open(dir);
  const file = path.join(dir, 'keys', 'pseudonym-hmac.key');
  expect(statSync(file).mode & 0o777).toBe(0o600);
  expect(statSync(path.dirname(file)).mode & 0o077).toBe(0);
  const key = readFileSync(file);
  expect(key).toHaveLength(32);
  expect(await k1.mac('hello')).toBe(createHmac('sha256', key).update('hello').digest('hex'));
  const k2 = await LocalKeyService.open(dir);
  expect(await k2.mac('hello')).toBe(await k1.mac('hello'));
  expect(k2.keyVersion).toBe(k1.keyVersion);
  expect(k1.keyVersion).toMatch(/^local-[0-9a-f]{12}$/);
  const other = await LocalKeyService.open(tmp());
  expect(await other.mac('hello')).not.toBe(await k1.mac('hello'));
  expect(other.keyVersion).not.toBe(k1.keyVersion);
});

test('refuses a key file readable by others or of the wrong size', async () => {
  const dir = tmp();
  mkdirSync(path.join(dir, 'keys'));
  const f = path.join(dir, 'keys', 'k.key');
  writeFileSync(f, Buffer.alloc(32, 1), { mode: 0o644 });
  chmodSync(f, 0o644);
  await expect(loadOrCreateKeyFile(f)).rejects.toThrow(/accessible to group\/others/);
  chmodSync(f, 0o600);
  writeFileSync(f, Buffer.alloc(16, 1));
  await expect(loadOrCreateKeyFile(f)).rejects.toThrow(/exactly 32 bytes/);
});

test('concurrent first starts agree on one key', async () => {
  const dir = tmp();
  const ks = await Promise.all([LocalKeyService.open(dir), LocalKeyService.open(dir), LocalKeyService.open(dir)]);
  expect(new Set(ks.map((k) => k.keyVersion)).size).toBe(1);
});
