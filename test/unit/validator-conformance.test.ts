/**
 * Conformance of the StructureDefinition-generated validator:
 * 1. the HL7 validator test cases in /work/shared/fhir/validator-tests (R4 core subset), with the profile
 *    validator alone and through the API's full `strict` path (+ the ajv standalone R4 JSON schema), each twice:
 *    with the reference validator's per-case options (mapped to the deployment settings that choose the same
 *    behaviour) and with the default settings;
 * 2. no false rejections on the R4 example package (every JSON file with a resourceType), the Synthea
 *    bundles and the UK Core examples, except a documented list of examples that are invalid per the
 *    HL7 reference validator.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { OperationOutcomeIssue } from 'fhir/r4';

const root = path.resolve(__dirname, '../..');
if (!fs.existsSync(path.join(root, 'generated/profile-model.json'))) {
  execFileSync(process.execPath, [path.join(root, 'scripts/gen-profile-validator.mjs')], { stdio: 'inherit' });
}
if (!fs.existsSync(path.join(root, 'generated/fhir-schema-validate.js'))) {
  execFileSync(process.execPath, [path.join(root, 'scripts/gen-schema-validator.mjs')], { stdio: 'inherit' });
}
/* eslint-disable import/first */
import type { Resource } from 'fhir/r4';
import { createProfileValidator, type ProfileValidator } from '../../src/fhir/validation/profile';
import { buildProfileValidator, buildValidator } from '../../src/fhir/validation/pipeline';
import { loadConfig } from '../../src/config';
import { loadSchemaModule, readProfileModel, readRulesText } from '../../src/paths';
import type { ResourceValidator } from '../../src/fhir/validation/types';
/* eslint-enable import/first */

const shared = path.resolve(__dirname, '../../../shared');
const suite = path.join(shared, 'fhir/validator-tests');
const hasSuite = fs.existsSync(path.join(suite, 'index.json'));
if (!hasSuite) console.log(`validator-conformance: ${suite} is absent, skipping the shared-data tests`);
const itShared = hasSuite ? test : test.skip;

const errorsOf = (issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] => issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
const readJson = (f: string): unknown => JSON.parse(fs.readFileSync(f, 'utf8').replace(/^\uFEFF/, ''));

interface Case {
  name: string;
  file: string;
  tier: string;
  expectedValid: boolean | null;
  manifestEntry: Record<string, unknown>;
  expectedErrors?: { expression: string; text: string }[];
}

/**
 * The reference validator's per-case options (manifest) as the DEPLOYMENT SETTINGS that choose the same behaviour
 * (src/config.ts): the test builds each validator from these settings through the app's own config loader and
 * pipeline, so every option it applies is one a Tributary deployment can set.
 */
function settingsFor(m: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = {};
  if (m.examples === false) env.VALIDATION_EXAMPLE_URLS = 'error';
  if (m.noHtmlInMarkdown === true) env.VALIDATION_HTML_IN_MARKDOWN = 'error';
  if (m.validateContains === 'IGNORE') env.VALIDATION_CONTAINED = 'ignore';
  if (typeof m.validateReference === 'string' && m.validateReference.startsWith('CHECK_EXISTS')) env.VALIDATION_REFERENCES = 'local';
  return env;
}

describe('HL7 validator test cases (R4 core subset)', () => {
  itShared('agreement table, with the reference validator\'s per-case options and with the default settings', () => {
    const index = readJson(path.join(suite, 'index.json')) as { cases: Case[] };
    type Pipelines = { profile: ProfileValidator; strict: ResourceValidator };
    const built = new Map<string, Pipelines>();
    /** The profile validator alone and the full `strict` path (+ ajv standalone JSON schema + NHS number check) */
    const pipelinesFor = (settings: Record<string, string>): Pipelines => {
      const k = JSON.stringify(settings);
      if (!built.has(k)) {
        const config = loadConfig({ VALIDATION_LEVEL: 'strict', ...settings });
        const profile = buildProfileValidator({ model: readProfileModel(), rules: readRulesText(config.rulesFile), validation: config.validation });
        built.set(k, { profile, strict: buildValidator({ ...config, schemaModule: loadSchemaModule }, profile) });
      }
      return built.get(k)!;
    };

    type Row = { validOk: number; valid: number; invalidOk: number; invalid: number };
    type Mode = 'reference' | 'defaults';
    type Kind = 'profile' | 'strict';
    const table: Record<string, Record<Mode, Record<Kind, Row>>> = {};
    const row = (): Row => ({ validOk: 0, valid: 0, invalidOk: 0, invalid: 0 });
    const missed: Record<Mode, string[]> = { reference: [], defaults: [] };
    const falseRejects: Record<Mode, string[]> = { reference: [], defaults: [] };
    const missedNames: Record<Mode, Set<string>> = { reference: new Set(), defaults: new Set() };
    let notJson = 0;
    for (const c of index.cases) {
      if (c.expectedValid === null) continue;
      let r: unknown;
      try {
        r = readJson(path.join(suite, c.file));
      } catch {
        notJson++; // deliberately broken JSON (json5/comments/bad-json cases): rejected by the JSON parser
        r = undefined;
      }
      const settings = settingsFor(c.manifestEntry);
      for (const mode of ['reference', 'defaults'] as const) {
        const p = pipelinesFor(mode === 'reference' ? settings : {});
        const rt = (r as { resourceType?: unknown } | undefined)?.resourceType;
        const results: Record<Kind, OperationOutcomeIssue[]> =
          r === undefined
            ? { profile: [{ severity: 'error' } as OperationOutcomeIssue], strict: [{ severity: 'error' } as OperationOutcomeIssue] }
            : {
                profile: errorsOf(p.profile.validate(r)),
                strict: errorsOf(p.strict(r as Resource, typeof rt === 'string' ? rt : 'Resource')),
              };
        for (const tier of [c.tier, 'all']) {
          const t = (table[tier] ??= { reference: { profile: row(), strict: row() }, defaults: { profile: row(), strict: row() } });
          for (const kind of ['profile', 'strict'] as const) {
            const x = t[mode][kind];
            const ok = results[kind].length === 0;
            if (c.expectedValid) {
              x.valid++;
              if (ok) x.validOk++;
            } else {
              x.invalid++;
              if (!ok) x.invalidOk++;
            }
          }
        }
        const accepted = results.strict.length === 0;
        const opts = Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(' ');
        if (c.expectedValid === false && accepted) {
          missedNames[mode].add(c.name);
          missed[mode].push(`${c.tier} ${c.name}${opts ? ` [reference option: ${opts}]` : ''}: ${c.expectedErrors?.[0]?.text.slice(0, 120) ?? ''} (${c.expectedErrors?.[0]?.expression ?? ''})`);
        }
        if (c.expectedValid === true && !accepted) {
          falseRejects[mode].push(`${c.tier} ${c.name}${opts ? ` [reference option: ${opts}]` : ''}: ${results.strict[0]?.diagnostics ?? 'not JSON'}`);
        }
      }
    }
    const line = (name: string, x: Row): string =>
      `${name.padEnd(46)} valid accepted ${String(x.validOk).padStart(2)}/${x.valid}   invalid rejected ${String(x.invalidOk).padStart(2)}/${x.invalid}`;
    const modeName: Record<Mode, string> = {
      reference: "each case with the reference validator's options, as deployment settings",
      defaults: 'default settings (a deployment that sets nothing)',
    };
    const out: string[] = ['Agreement with the HL7 Java validator (expected outcome):'];
    for (const mode of ['reference', 'defaults'] as const) {
      out.push(`* ${modeName[mode]}:`);
      for (const [tier, label] of [['core-strict', 'core-strict'], ['all', 'all 140 known']] as const) {
        out.push(line(`  ${label}, profile validator alone`, table[tier][mode].profile));
        out.push(line(`  ${label}, strict (+ JSON schema, as the API)`, table[tier][mode].strict));
      }
      if (mode === 'reference') {
        out.push(`  Missed invalid cases, strict (${missed[mode].length}):`, ...missed[mode].map((m) => `    - ${m}`));
        out.push(`  Valid cases rejected, strict (${falseRejects[mode].length}):`, ...falseRejects[mode].map((m) => `    - ${m}`));
      } else {
        const nameOf = (m: string): string => m.split(' ')[1]!.replace(/:$/, '');
        const extraMissed = missed.defaults.filter((m) => !missedNames.reference.has(nameOf(m)));
        const extraRejected = falseRejects.defaults.filter((m) => !falseRejects.reference.some((x) => nameOf(x) === nameOf(m)));
        out.push(`  Missed only with the defaults (${extraMissed.length}):`, ...extraMissed.map((m) => `    - ${m}`));
        out.push(`  Valid cases rejected only with the defaults (${extraRejected.length}):`, ...extraRejected.map((m) => `    - ${m}`));
      }
    }
    out.push(`(${notJson} cases are not strict JSON and count as rejected by the parser)`);
    console.log(out.join('\n'));

    const ref = table['core-strict'].reference;
    for (const kind of ['profile', 'strict'] as const) {
      expect(ref[kind].valid).toBe(27);
      expect(ref[kind].invalid).toBe(45);
      expect(ref[kind].validOk).toBe(27);
      expect(ref[kind].invalidOk).toBeGreaterThanOrEqual(40);
    }
    // across all tiers, only the two JSON-with-comments cases (json5 parsing, not validation) are rejected
    expect(falseRejects.reference.filter((x) => !x.endsWith('not JSON'))).toEqual([]);
    // with the defaults, every difference is a case whose reference run uses a non-default option
    const byName = new Map(index.cases.map((c) => [c.name, c]));
    for (const name of [...missedNames.defaults].filter((n) => !missedNames.reference.has(n))) {
      expect([name, Object.keys(settingsFor(byName.get(name)!.manifestEntry)).length > 0]).toEqual([name, true]);
    }
    for (const x of falseRejects.defaults.filter((f) => !f.endsWith('not JSON'))) expect(x).toContain('[reference option:');
    expect(table['core-strict'].defaults.strict.invalidOk).toBeGreaterThanOrEqual(39);
  });
});

import { INVALID_R4_EXAMPLES, INVALID_UKCORE } from '../fixtures/known-invalid';

describe('no false rejections', () => {
  let v: ProfileValidator;
  beforeAll(() => {
    v = createProfileValidator({ model: readProfileModel() });
  });

  const summarise = (failures: Map<string, string>): string =>
    [...failures].map(([f, d]) => `  ${f}: ${d.slice(0, 200)}`).join('\n');

  test('every R4 example (hl7.fhir.r4.examples) validates at strict, except the documented invalid ones', () => {
    const dir = path.dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
    const failures = new Map<string, string>();
    let n = 0;
    let instances = 0;
    const conformance = /^(StructureDefinition|ValueSet|CodeSystem|SearchParameter|ConceptMap|OperationDefinition|CompartmentDefinition|CapabilityStatement|NamingSystem|ImplementationGuide|StructureMap|GraphDefinition|MessageDefinition|TerminologyCapabilities)$/;
    for (const f of fs.readdirSync(dir)) {
      if (!f.endsWith('.json') || f === 'package.json') continue;
      const r = readJson(path.join(dir, f)) as { resourceType?: string };
      if (typeof r?.resourceType !== 'string') continue;
      n++;
      if (!conformance.test(r.resourceType)) instances++;
      const errs = errorsOf(v.validate(r));
      if (errs.length) failures.set(f, `${errs[0].expression?.[0]}: ${errs[0].diagnostics}`);
    }
    const unexpected = new Map([...failures].filter(([f]) => !(f in INVALID_R4_EXAMPLES)));
    const nowValid = Object.keys(INVALID_R4_EXAMPLES).filter((f) => !failures.has(f));
    console.log(
      `R4 examples: ${n} files with a resourceType (${instances} instance examples, ${n - instances} conformance resources); ` +
        `${failures.size} rejected, all documented: ${unexpected.size === 0}\n` +
        `incl. DiagnosticReport-gingival-mass.json and StructureDefinition-example-composition.json (JSON-schema failures): ` +
        `${failures.has('DiagnosticReport-gingival-mass.json') ? 'rejected' : 'accepted'} / ${failures.has('StructureDefinition-example-composition.json') ? 'rejected' : 'accepted'}` +
        (unexpected.size ? `\nUNEXPECTED:\n${summarise(unexpected)}` : ''),
    );
    expect(n).toBeGreaterThan(5000);
    expect(unexpected.size).toBe(0);
    expect(nowValid).toEqual([]);
  });

  const syntheaDirs = ['covid19', 'smart-on-fhir-r4'].map((d) => path.join(shared, 'fhir/synthea', d));
  const hasSynthea = syntheaDirs.every((d) => fs.existsSync(d));
  if (!hasSynthea) console.log('validator-conformance: Synthea data absent, skipping');
  (hasSynthea ? test : test.skip)('every Synthea resource (both folders) validates at strict', () => {
    let bundles = 0;
    let resources = 0;
    const failures = new Map<string, string>();
    for (const dir of syntheaDirs) {
      for (const f of fs.readdirSync(dir)) {
        if (!f.endsWith('.json')) continue;
        const b = readJson(path.join(dir, f)) as { resourceType: string; type: string; entry?: unknown[] };
        bundles++;
        resources += b.entry?.length ?? 0;
        expect(['transaction', 'batch', 'collection']).toContain(b.type);
        // the Bundle is validated whole: every entry's resource as its own type (Bundle.entry[n].resource...)
        const errs = errorsOf(v.validate(b));
        if (errs.length) failures.set(f, `${errs.length} errors, first ${errs[0].expression?.[0]}: ${errs[0].diagnostics}`);
      }
    }
    console.log(`Synthea: ${bundles} bundles, ${resources} entry resources, ${failures.size} bundles with errors\n${summarise(failures)}`);
    expect(bundles).toBeGreaterThan(100);
    expect(failures.size).toBe(0);
  });

  const ukdir = path.join(shared, 'fhir/ukcore/json');
  const hasUk = fs.existsSync(ukdir);
  if (!hasUk) console.log('validator-conformance: UK Core data absent, skipping');
  (hasUk ? test : test.skip)('every UK Core example validates at strict, except the documented invalid ones', () => {
    const failures = new Map<string, string>();
    let n = 0;
    for (const f of fs.readdirSync(ukdir)) {
      if (!f.endsWith('.json')) continue;
      n++;
      const errs = errorsOf(v.validate(readJson(path.join(ukdir, f))));
      if (errs.length) failures.set(f, `${errs[0].expression?.[0]}: ${errs[0].diagnostics}`);
    }
    const unexpected = new Map([...failures].filter(([f]) => !(f in INVALID_UKCORE)));
    console.log(`UK Core: ${n} examples, ${failures.size} rejected (documented: ${Object.keys(INVALID_UKCORE).join(', ')})${unexpected.size ? `\nUNEXPECTED:\n${summarise(unexpected)}` : ''}`);
    expect(n).toBe(215);
    expect(unexpected.size).toBe(0);
    expect(Object.keys(INVALID_UKCORE).filter((f) => !failures.has(f))).toEqual([]);
  });
});
