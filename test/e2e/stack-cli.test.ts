/**
 * A second terminal needs no variables: `npm start` (every port changed; then, when they are free, the default
 * ports) writes DATA_DIR/stack.json, and each ops command, run by `npm run` in another process whose environment
 * holds only PATH, HOME and DATA_DIR, finds the stack through it and exits 0: triage list, reidentify (a
 * pseudonym made by posting a Patient), query --tables, compact observation, etl-replay, audit:verify.
 * None of them needs token settings or prints the AWS SDK's Node-version notice. The API answers with the
 * instance id of the start that launched it, and stack.json goes away with a clean stop.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BASE, bareEnv, npmRun, npmStart } from './stack-helpers';

const DEFAULT_PORTS = [3000, 3001, 3002, 4569, 4002, 3099];
/** Are the default ports free? Checked synchronously so the default-ports case can be skipped with a message. */
function defaultPortsFree(): boolean {
  const script = `const net=require('net');let n=0,ok=true;for(const p of ${JSON.stringify(DEFAULT_PORTS)}){const s=net.createServer();s.once('error',()=>{ok=false;if(++n===${DEFAULT_PORTS.length})process.exit(ok?0:1)});s.listen(p,()=>s.close(()=>{if(++n===${DEFAULT_PORTS.length})process.exit(ok?0:1)}))}`;
  try {
    execFileSync(process.execPath, ['-e', script], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const CASES: [string, Record<string, number>, boolean][] = [
  ['every port changed', { PORT: BASE, S3_PORT: BASE + 10, SNS_PORT: BASE + 11, ISSUER_PORT: BASE + 12 }, true],
  ['default ports', {}, defaultPortsFree()],
];
for (const [name, , run] of CASES) {
  // eslint-disable-next-line no-console
  if (!run) console.warn(`SKIPPED "${name}": ports ${DEFAULT_PORTS.join(', ')} are not all free on this machine`);
}

/** Ids of the Patients in the lake, read from s3rver's files. */
function lakePatientIds(dataDir: string): string[] {
  const ids = new Set<string>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('._S3rver_object')) {
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/"resourceType":"Patient","id":"(p-[a-z2-7]+)"/g)) ids.add(m[1]!);
      }
    }
  };
  walk(path.join(dataDir, 's3', 'tributary-lake'));
  return [...ids];
}

const SDK_NOTICE = /NodeVersionSupportWarning|AWS SDK for JavaScript \(v3\)/;

describe.each(CASES)('npm start (%s), then every ops command from a second terminal with no variables', (_name, ports, run) => {
  const maybe = run ? test : test.skip;
  maybe('each command exits 0', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-stack-cli-'));
    const start = npmStart(bareEnv({ ...ports, DATA_DIR: dataDir }));
    let supervisor = 0;
    try {
      await start.ready();
      const info = JSON.parse(fs.readFileSync(path.join(dataDir, 'stack.json'), 'utf8'));
      supervisor = info.pid;
      const port = ports.PORT ?? 3000;
      expect(info).toMatchObject({ apiBaseUrl: `http://localhost:${port}/fhir`, dataDir, s3Endpoint: `http://127.0.0.1:${ports.S3_PORT ?? 4569}` });
      expect(start.output()).toContain(`Tributary is ready`);

      // the API is the one this start launched
      const cs = await (await fetch(`http://127.0.0.1:${port}/fhir/metadata`)).json();
      expect(cs.extension).toEqual(expect.arrayContaining([{ url: 'https://tributary.nhs.example/fhir/StructureDefinition/instance-id', valueString: info.instanceId }]));

      // the second terminal: PATH, HOME and the data dir only
      const env = bareEnv({ DATA_DIR: dataDir });
      const tok = await npmRun('token', ['--source', 'second-terminal', '--scope', 'system/*.write'], env);
      expect(tok.code).toBe(0);
      const token = tok.stdout.trim().split('\n').pop()!;
      const post = async (type: string, resource: object): Promise<Response> =>
        fetch(`${info.apiBaseUrl}/${type}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/fhir+json', Authorization: `Bearer ${token}` },
          body: JSON.stringify(resource),
        });
      const pr = await post('Patient', {
        resourceType: 'Patient',
        identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }],
        name: [{ family: 'Secondterminal', given: ['Ada'] }],
        gender: 'female',
        birthDate: '1970-01-01',
      });
      expect(pr.status).toBe(201);
      // the pseudonym is the Patient's id in the lake (s3rver keeps each object as a file under the data dir)
      const pseudonym = lakePatientIds(dataDir)[0];
      expect(pseudonym).toMatch(/^p-[a-z2-7]{32}$/);
      const or = await post('Observation', {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
        subject: { reference: `Patient/${pseudonym}` },
        effectiveDateTime: '2024-05-01T10:00:00Z',
        valueQuantity: { value: 72, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
      });
      expect(or.status).toBe(201);

      const commands: [string, string[], RegExp][] = [
        ['triage', ['list'], /triage area is empty|held/],
        ['reidentify', [pseudonym], /Secondterminal/],
        ['etl-replay', [], /^replayed \d+ events: \d+ files, \d+ rows, 0 failed$/m],
        ['query', ['--tables'], /observation/],
        ['compact', ['observation'], /observation_history source=second-terminal/],
        ['audit:verify', [], /^audit trail OK: \d+ record\(s\) in \d+ chain\(s\)/m],
      ];
      for (const [script, args, expected] of commands) {
        const r = await npmRun(script, args, env);
        expect({ script, code: r.code, stderr: r.stderr }).toEqual({ script, code: 0, stderr: expect.not.stringMatching(SDK_NOTICE) });
        expect(r.stdout).toMatch(expected);
        expect(r.stdout + r.stderr).not.toMatch(/OIDC_ISSUER|TRIBUTARY_JWT_ISSUER|\n\s+at /);
      }
      // a clean stop (what Ctrl-C does to `node dist/scripts/start.js`)
      process.kill(supervisor, 'SIGINT');
      await Promise.race([start.exit, new Promise((r) => setTimeout(r, 30_000).unref())]);
    } finally {
      await start.stop();
    }
    const end = await start.exit;
    expect(end.code).toBe(0);
    expect(fs.existsSync(path.join(dataDir, 'stack.json'))).toBe(false);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});
