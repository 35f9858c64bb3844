/**
 * `npm run reidentify -- <pseudonym> [--purpose CODE]`: prints the identity records held for a pseudonym
 * (every source) as JSON, after appending an AuditEvent (https://hl7.org/fhir/R4/auditevent.html) saying who
 * asked, when, for which pseudonym, with what outcome. The audit record never carries the identifiers.
 *
 * This module holds the CLI logic only; the lead wires real adapters (vault with the identity key, audit log,
 * the operator's identity) into {@link main}.
 */
import type { AuditEntry, AuditLog, Clock, IdentityVault } from '../src/core/ports';
import { loadConfig } from '../src/config';
import { runCli } from './cli';

/** Dependencies of {@link main}. */
export interface ReidentifyDeps {
  vault: IdentityVault;
  audit: AuditLog;
  /** Who is asking (operator / IAM principal), recorded in the audit event. */
  who: string;
  clock?: Clock;
  /** Where the records go (default: stdout). */
  out?: (text: string) => void;
  /** Where messages go (default: stderr). */
  err?: (text: string) => void;
}

/** System of the pseudonym identifier in audit events. */
export const PSEUDONYM_SYSTEM = 'https://tributary.nhs.example/Id/pseudonym';
/** Audit subtype code of a re-identification. */
export const REIDENTIFY_SUBTYPE = { system: 'https://tributary.nhs.example/fhir/CodeSystem/audit-subtype', code: 're-identify', display: 'Re-identification of a pseudonym' } as const;

const USAGE = 'usage: npm run reidentify -- <pseudonym> [--purpose CODE]   (CODE from v3 PurposeOfUse, e.g. TREAT, PATRQT, HOPERAT, LEGAL)';

/** `--help` text. */
export const HELP = `${USAGE}

Prints the identity records held for a pseudonym (every source) as JSON, after appending an AuditEvent saying who
asked (REIDENTIFY_WHO, else user@host), when, for which pseudonym and with what outcome.
Needs the local stack (\`npm start\`, found through DATA_DIR/stack.json, default .data/stack.json); in AWS
(TRIBUTARY_RUNTIME=aws) the identity bucket and KMS key, with the reidentify role's credentials.
Exit codes: 0 records printed; 1 none found, a store failed, or the stack is not running; 2 usage.
`;

/** Builds the AuditEvent of one re-identification request. Exported for tests and reuse. */
export function reidentifyAuditEvent(a: {
  who: string;
  pseudonym: string;
  recorded: Date;
  outcome: '0' | '4' | '8';
  records: number;
  purpose?: string;
  outcomeDesc?: string;
}): AuditEntry {
  return {
    resourceType: 'AuditEvent',
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110110', display: 'Patient Record' },
    subtype: [{ ...REIDENTIFY_SUBTYPE }],
    action: 'R',
    recorded: a.recorded.toISOString(),
    outcome: a.outcome,
    ...(a.outcomeDesc ? { outcomeDesc: a.outcomeDesc } : {}),
    ...(a.purpose ? { purposeOfEvent: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: a.purpose }] }] } : {}),
    agent: [{ who: { identifier: { value: a.who } }, requestor: true }],
    source: { observer: { display: 'tributary reidentify' }, type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }] },
    entity: [
      {
        what: { identifier: { system: PSEUDONYM_SYSTEM, value: a.pseudonym } },
        type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
        detail: [{ type: 'identity-records', valueString: String(a.records) }],
      },
    ],
  };
}

/**
 * Runs the CLI. Exit codes: 0 records printed; 1 none found or the vault/audit failed; 2 usage error.
 * The audit event is appended before anything is printed: if auditing fails, nothing is revealed.
 */
export async function main(argv: string[], deps: ReidentifyDeps): Promise<number> {
  const out = deps.out ?? ((t: string) => void process.stdout.write(t + '\n'));
  const err = deps.err ?? ((t: string) => void process.stderr.write(t + '\n'));
  const now = () => (deps.clock ? deps.clock.now() : new Date());
  let pseudonym: string | undefined;
  let purpose: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') {
      out(USAGE);
      return 0;
    } else if (a === '--purpose') {
      purpose = argv[++i];
      if (!purpose || !/^[A-Z]{2,20}$/.test(purpose)) {
        err(`--purpose takes a PurposeOfUse code\n${USAGE}`);
        return 2;
      }
    } else if (!a.startsWith('-') && pseudonym === undefined) {
      pseudonym = a;
    } else {
      err(`unexpected argument ${JSON.stringify(a)}\n${USAGE}`);
      return 2;
    }
  }
  if (!pseudonym || !/^[A-Za-z0-9\-.]{1,64}$/.test(pseudonym)) {
    err(`a pseudonym (a FHIR id) is required\n${USAGE}`);
    return 2;
  }
  if (!deps.who) {
    err('refusing to re-identify without knowing who asks');
    return 2;
  }
  let records: { source: string; record: unknown }[];
  try {
    records = await deps.vault.get(pseudonym);
  } catch (e) {
    await deps.audit.append(
      reidentifyAuditEvent({ who: deps.who, pseudonym, recorded: now(), outcome: '8', records: 0, ...(purpose ? { purpose } : {}), outcomeDesc: 'identity store error' }),
    );
    err(`cannot read the identity records of ${pseudonym}: ${(e as Error).name}`);
    return 1;
  }
  await deps.audit.append(
    reidentifyAuditEvent({
      who: deps.who,
      pseudonym,
      recorded: now(),
      outcome: records.length ? '0' : '4',
      records: records.length,
      ...(purpose ? { purpose } : {}),
      ...(records.length ? {} : { outcomeDesc: 'no identity record' }),
    }),
  );
  if (records.length === 0) {
    err(`no identity record for ${pseudonym}`);
    return 1;
  }
  out(JSON.stringify({ pseudonym, records }, null, 2));
  return 0;
}

/**
 * `npm run reidentify -- <pseudonym> [--purpose CODE]`: the configured identity vault (locally: the running
 * stack's s3rver and the wrapping key under DATA_DIR; in AWS: the identity bucket and KMS key, with the
 * reidentify role's credentials) and audit trail. "Who" is REIDENTIFY_WHO or the operating-system user@host.
 */
if (require.main === module) {
  runCli({
    name: 'reidentify',
    usage: HELP,
    needsStack: true,
    run: async (argv, env) => {
      /* eslint-disable @typescript-eslint/no-require-imports */
      const os = require('node:os') as typeof import('node:os');
      const { getApp } = require('../src/bootstrap') as typeof import('../src/bootstrap');
      /* eslint-enable @typescript-eslint/no-require-imports */
      const app = getApp(loadConfig(env));
      const who = env.REIDENTIFY_WHO || `${os.userInfo().username}@${os.hostname()}`;
      return main(argv, { vault: app.identity, audit: app.audit, who });
    },
  });
}
