/**
 * The identity and pseudonym keys' policies name every role whose IAM policy uses them. Their key policies do not
 * delegate use to IAM (root may administer, never use: terraform/modules/tributary/kms.tf), so a role granted
 * `kms:GenerateDataKey`/`kms:Encrypt`/`kms:GenerateMac` in IAM but missing from the key policy is refused by KMS in
 * AWS: recovery could not make a committed request's identity records current, the ops API could not re-ingest a
 * triage item. Parsed with @cdktf/hcl2json; nothing is deployed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from '@cdktf/hcl2json';

type Obj = Record<string, any>;
const MODULE_DIR = path.resolve(__dirname, '../../terraform/modules/tributary');

async function load(): Promise<{ locals: Obj; docs: Record<string, Obj> }> {
  const locals: Obj = {};
  const docs: Record<string, Obj> = {};
  for (const f of fs.readdirSync(MODULE_DIR).filter((x) => x.endsWith('.tf'))) {
    const j = (await parse(f, fs.readFileSync(path.join(MODULE_DIR, f), 'utf8'))) as Obj;
    for (const l of (j.locals ?? []) as Obj[]) Object.assign(locals, l);
    for (const [name, body] of Object.entries<any>(j.data?.aws_iam_policy_document ?? {})) docs[name] = Array.isArray(body) ? body[0] : body;
  }
  return { locals, docs };
}

/** Roles whose statement groups include `group`, and where a key policy statement leaves them out. */
function missing(locals: Obj, docs: Record<string, Obj>, group: string, doc: string, sid: string): { roles: string[]; missing: string[] } {
  const roles = Object.entries<string[]>(locals.function_statements ?? {})
    .filter(([, groups]) => groups.includes(`\${local.${group}}`))
    .map(([fn]) => fn)
    .sort();
  const named = ((docs[doc]?.statement ?? []) as Obj[])
    .filter((s) => s.sid === sid)
    .flatMap((s) => ((s.principals ?? []) as Obj[]).flatMap((p) => p.identifiers as string[]));
  return { roles, missing: roles.filter((fn) => !named.includes(`\${aws_iam_role.function["${fn}"].arn}`)) };
}

test('every role that lands resources (identity records, pseudonyms) is named by the identity and pseudonym key policies', async () => {
  const { locals, docs } = await load();
  const identity = missing(locals, docs, 'landing_statements', 'kms_identity', 'WritersEncryptOnly');
  const hmac = missing(locals, docs, 'landing_statements', 'kms_hmac', 'PseudonymiseOnly');
  // the roles that land resources: the API, triage's re-ingest, recovery's roll-forward, the ops API's re-ingest, import chunks
  expect(identity.roles).toEqual(expect.arrayContaining(['ingest', 'triage', 'recovery', 'ops', 'importChunk']));
  expect(identity.missing).toEqual([]);
  expect(hmac.missing).toEqual([]);
});

test('the check finds a role left out of a key policy', async () => {
  const { locals, docs } = await load();
  const broken = JSON.parse(JSON.stringify(docs)) as Record<string, Obj>;
  for (const s of broken.kms_identity!.statement as Obj[]) {
    if (s.sid === 'WritersEncryptOnly') for (const p of s.principals as Obj[]) p.identifiers = (p.identifiers as string[]).filter((i) => !i.includes('"recovery"'));
  }
  expect(missing(locals, broken, 'landing_statements', 'kms_identity', 'WritersEncryptOnly').missing).toEqual(['recovery']);
});
