/**
 * KmsKeyService: HMAC through KMS GenerateMac (aws-sdk-client-mock), cached so each message costs at most one
 * call per process, with the engine deriving its id-hashing key from a single call.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GenerateMacCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import type { Resource } from 'fhir/r4';
import { KmsKeyService } from '../../src/adapters/aws/kms-key-service';
import { createPseudonymiser, ID_HASH_KEY_LABEL, parsePolicy } from '../../src/fhir/pseudo';

const ARN = 'arn:aws:kms:eu-west-2:111122223333:key/9f8e7d6c-1111-2222-3333-444455556666';
const SECRET = 'kms-held-secret';
const kmsClient = new KMSClient({ region: 'eu-west-2', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
const kms = mockClient(kmsClient);

/** Behaves like KMS: a real HMAC-SHA256 of the message under a key only "KMS" knows. */
const fakeGenerateMac = async (input: any) => ({
  KeyId: input.KeyId,
  MacAlgorithm: input.MacAlgorithm,
  Mac: createHmac('sha256', SECRET).update(Buffer.from(input.Message)).digest(),
});

beforeEach(() => {
  kms.reset();
  kms.on(GenerateMacCommand).callsFake(fakeGenerateMac);
});
afterAll(() => kms.restore());

test('mac() is GenerateMac(HMAC_SHA_256) on the key, hex', async () => {
  const keys = new KmsKeyService({ client: kmsClient, keyId: ARN });
  expect(keys.keyVersion).toBe('9f8e7d6c-1111-2222-3333-444455556666');
  expect(await keys.mac('tributary:v1:pseudonym:nhs:9434765919')).toBe(createHmac('sha256', SECRET).update('tributary:v1:pseudonym:nhs:9434765919').digest('hex'));
  expect(kms).toHaveReceivedCommandWith(GenerateMacCommand, {
    KeyId: ARN,
    MacAlgorithm: 'HMAC_SHA_256',
    Message: Buffer.from('tributary:v1:pseudonym:nhs:9434765919'),
  });
});

test('each message costs at most one call: cached, concurrent callers share it, failures are not cached', async () => {
  const keys = new KmsKeyService({ client: kmsClient, keyId: ARN, keyVersion: 'v7' });
  const [a, b] = await Promise.all([keys.mac('m1'), keys.mac('m1')]);
  expect(a).toBe(b);
  await keys.mac('m1');
  expect(kms).toHaveReceivedCommandTimes(GenerateMacCommand, 1);
  kms.reset();
  kms
    .on(GenerateMacCommand)
    .rejectsOnce(Object.assign(new Error('ThrottlingException'), { name: 'ThrottlingException' }))
    .resolvesOnce({ Mac: Buffer.alloc(32, 0xab) });
  await expect(keys.mac('m2')).rejects.toThrow('ThrottlingException');
  await expect(keys.mac('m2')).resolves.toBe('ab'.repeat(32));
  await expect(keys.mac('m2')).resolves.toBe('ab'.repeat(32));
  expect(kms).toHaveReceivedCommandTimes(GenerateMacCommand, 2);
  expect(keys.keyVersion).toBe('v7');
});

test('the cache is bounded; over-long messages are refused before calling KMS', async () => {
  const keys = new KmsKeyService({ client: kmsClient, keyId: ARN, maxCacheEntries: 2 });
  await keys.mac('a');
  await keys.mac('b');
  await keys.mac('c'); // evicts 'a'
  await keys.mac('a');
  expect(kms).toHaveReceivedCommandTimes(GenerateMacCommand, 4);
  await expect(keys.mac('x'.repeat(4097))).rejects.toThrow(/1-4096 bytes/);
  expect(kms).toHaveReceivedCommandTimes(GenerateMacCommand, 4);
  expect(KmsKeyService.versionOf('alias/tributary-pseudonym')).toBe('alias-tributary-pseudonym');
});

test('engine over KMS: one call for the id-hashing key, then one per person and one per source patient record per cold start', async () => {
  const keys = new KmsKeyService({ client: kmsClient, keyId: ARN });
  const policy = parsePolicy(readFileSync(path.resolve(__dirname, '../../policy/pseudonymisation.yaml'), 'utf8'));
  const p = await createPseudonymiser({ policy, keys });
  expect(kms).toHaveReceivedCommandTimes(GenerateMacCommand, 1);
  expect(kms).toHaveReceivedCommandWith(GenerateMacCommand, { Message: Buffer.from(ID_HASH_KEY_LABEL) });
  const patient = (id: string, nhs: string) => ({ resourceType: 'Patient', id, identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhs }] });
  const obs = (id: string, pat: string) => ({ resourceType: 'Observation', id, status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${pat}` } });
  const batch = [patient('a', '9434765919'), patient('b', '9434765870'), ...Array.from({ length: 50 }, (_, i) => obs(`o${i}`, i % 2 ? 'a' : 'b'))] as Resource[];
  const r1 = await p.pseudonymise(batch, { source: 'gp' });
  // 52 resources, ~100 ids: 2 people, and their 2 source-local keys (src:gp|Patient/a, src:gp|Patient/b)
  expect(kms).toHaveReceivedCommandTimes(GenerateMacCommand, 5);
  await p.pseudonymise(batch, { source: 'hospital' });
  await p.pseudonymise([patient('zz', '943 476 5919')] as Resource[], { source: 'ambulance' });
  // same people: cached; the source-local keys are per source: 2 for hospital, 1 for ambulance
  expect(kms).toHaveReceivedCommandTimes(GenerateMacCommand, 8);
  await p.pseudonymise(batch, { source: 'hospital' });
  expect(kms).toHaveReceivedCommandTimes(GenerateMacCommand, 8); // all cached
  expect(r1.resources[0]!.meta!.tag).toContainEqual({ system: 'https://tributary.nhs.example/fhir/CodeSystem/pseudonymisation-key', code: keys.keyVersion });
});
