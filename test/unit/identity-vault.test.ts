/**
 * The identity vault (issue 3): records are envelope-encrypted client-side (AWS Encryption SDK), files on disk
 * are ciphertext, only the right key decrypts (the wrong one fails loudly), the encryption context binds a record
 * to its pseudonym and source. Local side with real cryptography (raw AES keyring); AWS side with the KMS
 * keyring against aws-sdk-client-mock (GenerateDataKey on put, Decrypt on get).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import type { ObjectHead, ObjectStore } from '../../src/core/ports';
import { createKmsIdentityVault } from '../../src/adapters/aws/identity-vault';
import { createLocalIdentityVault, EnvelopeIdentityVault, IdentityVaultError, localIdentityKeyring } from '../../src/adapters/local/identity-vault';

/** A tiny directory-backed ObjectStore (one file per key). */
class DirStore implements ObjectStore {
  constructor(readonly name: string) {}
  private file(key: string) {
    return path.join(this.name, ...key.split('/'));
  }
  async put(key: string, body: Uint8Array | string): Promise<void> {
    await mkdir(path.dirname(this.file(key)), { recursive: true });
    await writeFile(this.file(key), body);
  }
  async get(key: string): Promise<Uint8Array | undefined> {
    return readFile(this.file(key)).catch(() => undefined);
  }
  async head(key: string): Promise<ObjectHead | undefined> {
    const b = await this.get(key);
    return b ? { key, size: b.length, metadata: {} } : undefined;
  }
  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = (dir: string, rel: string) => {
      let names: string[] = [];
      try {
        names = readdirSync(dir);
      } catch {
        return;
      }
      for (const n of names) {
        const p = path.join(dir, n);
        const k = rel ? `${rel}/${n}` : n;
        if (statSync(p).isDirectory()) walk(p, k);
        else if (k.startsWith(prefix)) out.push(k);
      }
    };
    walk(this.name, '');
    return out.sort();
  }
  async copy(from: string, to: string): Promise<void> {
    const b = await this.get(from);
    if (b) await this.put(to, b);
  }
  async delete(keys: string[]): Promise<void> {
    await Promise.all(keys.map((k) => rm(this.file(k), { force: true })));
  }
}

const RECORD = {
  pseudonym: 'p-abcdefghijklmnopqrstuvwxyz234567',
  source: 'gp-a81001',
  resourceType: 'Patient',
  sourceIds: ['Patient/gp-123'],
  keyVersion: 'local-0123456789ab',
  policyVersion: '1.0.0',
  receivedAt: '2024-05-01T12:00:00.000Z',
  elements: [
    { path: 'Patient.identifier', value: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }] },
    { path: 'Patient.name', value: [{ family: 'Featherstonehaugh', given: ['Oluwaseun'] }] },
  ],
};
const PS = RECORD.pseudonym;

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'tributary-vault-'));

describe('local identity vault (raw AES-256 keyring, real crypto)', () => {
  test('round trip; files on disk are ciphertext; the key file is created 0600', async () => {
    const dataDir = tmp();
    const store = new DirStore(path.join(dataDir, 'identity'));
    const vault = await createLocalIdentityVault({ store, dataDir });
    await vault.put(PS, 'gp-a81001', RECORD, 'r1');
    await vault.put(PS, 'hospital/leeds', { ...RECORD, source: 'hospital/leeds' }, 'r2');
    expect(await store.list('identity/')).toEqual([
      `identity/${PS}/gp-a81001/r1-0.committed`,
      `identity/${PS}/gp-a81001/r1-0.enc`,
      `identity/${PS}/hospital%2Fleeds/r2-0.committed`,
      `identity/${PS}/hospital%2Fleeds/r2-0.enc`,
    ]);
    const bytes = readFileSync(path.join(store.name, 'identity', PS, 'gp-a81001', 'r1-0.enc'));
    const text = bytes.toString('latin1');
    for (const plain of ['9434765919', 'Featherstonehaugh', 'Oluwaseun', 'nhs-number', 'elements']) expect(text).not.toContain(plain);
    expect(bytes[0]).toBe(0x02); // Encryption SDK message format version 2 (key commitment)
    const keyFile = path.join(dataDir, 'keys', 'identity-wrapping.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile)).toHaveLength(32);

    const back = await vault.get(PS);
    expect(back).toEqual([
      { source: 'gp-a81001', record: RECORD, requestId: 'r1' },
      { source: 'hospital/leeds', record: { ...RECORD, source: 'hospital/leeds' }, requestId: 'r2' },
    ]);
    expect(await vault.get('p-nobody')).toEqual([]);
    // Re-opening the same data dir reuses the key.
    expect(await (await createLocalIdentityVault({ store, dataDir })).get(PS)).toHaveLength(2);
  });

  test('decrypting with the wrong key fails loudly', async () => {
    const dataDir = tmp();
    const store = new DirStore(path.join(dataDir, 'identity'));
    await (await createLocalIdentityVault({ store, dataDir })).put(PS, 'gp', RECORD, 'r1');
    const wrong = new EnvelopeIdentityVault({ store, keyring: localIdentityKeyring(randomBytes(32)) });
    await expect(wrong.get(PS)).rejects.toThrow(IdentityVaultError);
    await expect(wrong.get(PS)).rejects.toThrow(/cannot decrypt identity record identity\/p-abcdefghijklmnopqrstuvwxyz234567\/gp\/r1-0\.enc/);
    // A different data dir means a different key file, hence a different key.
    await expect((await createLocalIdentityVault({ store, dataDir: tmp() })).get(PS)).rejects.toThrow(IdentityVaultError);
  });

  test('a record moved to another pseudonym or source is refused (encryption context)', async () => {
    const dataDir = tmp();
    const store = new DirStore(path.join(dataDir, 'identity'));
    const vault = await createLocalIdentityVault({ store, dataDir });
    await vault.put(PS, 'gp', RECORD, 'r1');
    for (const ext of ['enc', 'committed']) await store.copy(`identity/${PS}/gp/r1-0.${ext}`, `identity/p-someoneelse/gp/r1-0.${ext}`);
    await expect(vault.get('p-someoneelse')).rejects.toThrow(/encryption context for another record/);
    for (const ext of ['enc', 'committed']) await store.copy(`identity/${PS}/gp/r1-0.${ext}`, `identity/${PS}/hospital/r1-0.${ext}`);
    await expect(vault.get(PS)).rejects.toThrow(/encryption context for another record/);
  });

  test('tampered ciphertext fails; bad pseudonyms are refused', async () => {
    const dataDir = tmp();
    const store = new DirStore(path.join(dataDir, 'identity'));
    const vault = await createLocalIdentityVault({ store, dataDir });
    await vault.put(PS, 'gp', RECORD, 'r1');
    const f = path.join(store.name, 'identity', PS, 'gp', 'r1-0.enc');
    const b = readFileSync(f);
    b[b.length - 40] ^= 0xff;
    writeFileSync(f, b);
    await expect(vault.get(PS)).rejects.toThrow(IdentityVaultError);
    await expect(vault.put('../../etc', 'gp', RECORD)).rejects.toThrow(/FHIR id/);
  });
});

describe('inside the transaction: staged records are not current until promoted; discarded ones leave nothing', () => {
  test('stage → not returned; promote → current (history kept); discard → gone; a legacy record is still read', async () => {
    const dataDir = tmp();
    const store = new DirStore(path.join(dataDir, 'identity'));
    const vault = await createLocalIdentityVault({ store, dataDir });
    const ref = { pseudonym: PS, source: 'gp', seq: 0 };
    await vault.stage('req-a', [{ ...ref, record: RECORD }]);
    await vault.stage('req-b', [{ ...ref, record: { ...RECORD, v: 2 } }]);
    expect(await vault.get(PS)).toEqual([]);
    await vault.promote('req-a', [ref]);
    await vault.promote('req-a', [ref]); // idempotent
    expect(await vault.get(PS)).toEqual([{ source: 'gp', record: RECORD, requestId: 'req-a' }]);
    await vault.discard('req-b', [ref]);
    expect(await store.list('identity/')).toEqual([`identity/${PS}/gp/req-a-0.committed`, `identity/${PS}/gp/req-a-0.enc`]);
    // a second committed request of the same person and source adds to the history
    await vault.put(PS, 'gp', { ...RECORD, v: 3 }, 'req-c');
    expect((await vault.get(PS)).map((e) => e.requestId)).toEqual(['req-a', 'req-c']);
    // a record stored before the commit protocol (`identity/{p}/{source}.enc`) is read as current
    await store.copy(`identity/${PS}/gp/req-a-0.enc`, `identity/${PS}/gp.enc`);
    expect(await vault.get(PS)).toHaveLength(3);
    await expect(vault.stage('../x', [{ ...ref, record: RECORD }])).rejects.toThrow(/request id/);
  });
});

describe('AWS identity vault (KMS keyring, aws-sdk-client-mock)', () => {
  const ARN = 'arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  /** A fake KMS that really wraps data keys (AES-GCM under a secret) and checks the encryption context. */
  function fakeKms(kms: ReturnType<typeof mockClient>, secret = randomBytes(32)) {
    const aad = (ctx: Record<string, string> | undefined) => Buffer.from(JSON.stringify(Object.entries(ctx ?? {}).sort()));
    const wrap = (pt: Uint8Array, ctx: Record<string, string> | undefined) => {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', secret, iv);
      c.setAAD(aad(ctx));
      const body = Buffer.concat([c.update(pt), c.final()]);
      return Buffer.concat([iv, c.getAuthTag(), body]);
    };
    kms.on(GenerateDataKeyCommand).callsFake(async (input) => {
      const pt = randomBytes(input.NumberOfBytes ?? 32);
      return { KeyId: input.KeyId, Plaintext: pt, CiphertextBlob: wrap(pt, input.EncryptionContext) };
    });
    kms.on(DecryptCommand).callsFake(async (input) => {
      const blob = Buffer.from(input.CiphertextBlob);
      const d = createDecipheriv('aes-256-gcm', secret, blob.subarray(0, 12));
      d.setAuthTag(blob.subarray(12, 28));
      d.setAAD(aad(input.EncryptionContext));
      const pt = Buffer.concat([d.update(blob.subarray(28)), d.final()]);
      return { KeyId: input.KeyId ?? ARN, Plaintext: pt, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    });
  }

  test('put calls GenerateDataKey with the key and encryption context; get calls Decrypt; round trip', async () => {
    const client = new KMSClient({ region: 'eu-west-2', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const kms = mockClient(client);
    fakeKms(kms);
    const store = new DirStore(tmp());
    const vault = createKmsIdentityVault({ store, kmsKeyId: ARN, kmsClient: client });
    await vault.put(PS, 'gp', RECORD, 'r1');
    expect(kms).toHaveReceivedCommandTimes(GenerateDataKeyCommand, 1);
    expect(kms).toHaveReceivedCommandWith(GenerateDataKeyCommand, {
      KeyId: ARN,
      EncryptionContext: expect.objectContaining({ purpose: 'tributary-identity', pseudonym: PS, source: 'gp' }),
    });
    expect((await store.get(`identity/${PS}/gp/r1-0.enc`))!.toString()).not.toContain('9434765919');
    expect(await vault.get(PS)).toEqual([{ source: 'gp', record: RECORD, requestId: 'r1' }]);
    expect(kms).toHaveReceivedCommandTimes(DecryptCommand, 1);
    expect(kms).toHaveReceivedCommandWith(DecryptCommand, { KeyId: ARN });
    kms.restore();
  });

  test('when KMS refuses to decrypt (wrong key / no permission) get fails loudly', async () => {
    const client = new KMSClient({ region: 'eu-west-2', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const kms = mockClient(client);
    fakeKms(kms);
    const store = new DirStore(tmp());
    await createKmsIdentityVault({ store, kmsKeyId: ARN, kmsClient: client }).put(PS, 'gp', RECORD);
    kms.reset();
    fakeKms(kms, randomBytes(32)); // a KMS holding a different key: AES-GCM auth fails
    await expect(createKmsIdentityVault({ store, kmsKeyId: ARN, kmsClient: client }).get(PS)).rejects.toThrow(IdentityVaultError);
    kms.reset();
    kms.on(DecryptCommand).rejects(Object.assign(new Error('AccessDeniedException'), { name: 'AccessDeniedException' }));
    await expect(createKmsIdentityVault({ store, kmsKeyId: ARN, kmsClient: client }).get(PS)).rejects.toThrow(IdentityVaultError);
    kms.restore();
  });
});
