/**
 * User-defined validation rules (`rules/rules.yaml`): extra FHIRPath invariants per resource type,
 * applied at the `strict` level after the core R4 checks.
 *
 * File format (YAML): a list, or `{ rules: [...] }`, of
 * `{ id, resourceType, expression, severity: error|warning, message }`, where `expression` is a FHIRPath
 * expression evaluated on each resource of `resourceType` that must be true (an empty result counts
 * as not violated, as for FHIR invariants: https://hl7.org/fhir/R4/conformance-rules.html#constraints).
 * Expressions are compiled once, when the rules are loaded. The caller reads the file; this module gets its text.
 */
import { parse as parseYaml } from 'yaml';
import { ServerFault } from '../errors';
import { firstLine } from './fastpath';

/** One user rule as written in the file. */
export interface UserRuleSpec {
  id: string;
  resourceType: string;
  expression: string;
  severity: 'error' | 'warning';
  message: string;
}

/** A loaded rule: the spec plus its compiled FHIRPath evaluator. */
export interface UserRule extends UserRuleSpec {
  evaluate: (resource: unknown) => unknown[];
}

/**
 * Thrown when the rules file is invalid; the message names the offending rule. A configuration fault: it stops
 * the start (and would answer a generic 500, never this message, should it reach a request).
 */
export class RulesConfigError extends ServerFault {
  override readonly name: string = 'RulesConfigError';
}

const FIELDS: (keyof UserRuleSpec)[] = ['id', 'resourceType', 'expression', 'severity', 'message'];

/**
 * Checks and compiles user rules (FHIRPath, https://hl7.org/fhir/R4/fhirpath.html, with the `fhirpath` package's
 * R4 model).
 * @param text the YAML text of the rules file
 * @param resourceTypes optional set of valid resource types to check `resourceType` against
 * @param source what to call the rules in messages (the file name; default `rules`)
 * @throws RulesConfigError naming the rule (id or position) when a field is missing or wrong, an id is
 *   duplicated, or an expression does not compile
 */
export function loadUserRules(text: string, resourceTypes?: ReadonlySet<string>, source = 'rules'): UserRule[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new RulesConfigError(`${source}: not valid YAML: ${firstLine(e)}`, { cause: e });
  }
  if (doc === null || doc === undefined) return [];
  const list = Array.isArray(doc) ? doc : (doc as { rules?: unknown }).rules;
  if (list === null || list === undefined) return [];
  if (!Array.isArray(list)) throw new RulesConfigError(`${source}: expected a list of rules (or 'rules:' with a list)`);
  // no rules (the default file): no FHIRPath engine to load at cold start
  if (list.length === 0) return [];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fhirpath = require('fhirpath') as {
    compile: (p: { base: string; expression: string }, model: unknown) => (r: unknown) => unknown[];
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const r4 = require('fhirpath/fhir-context/r4');
  const seen = new Set<string>();
  return list.map((raw: unknown, i: number) => {
    const r = (raw ?? {}) as Record<string, unknown>;
    const name = typeof r.id === 'string' && r.id ? `'${r.id}'` : `#${i + 1}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RulesConfigError(`${source}: rule ${name} must be a mapping`);
    for (const f of FIELDS) {
      if (typeof r[f] !== 'string' || !(r[f] as string).trim()) {
        throw new RulesConfigError(`${source}: rule ${name} is missing the field '${f}' (a non-empty string)`);
      }
    }
    const spec = r as unknown as UserRuleSpec;
    if (spec.severity !== 'error' && spec.severity !== 'warning') {
      throw new RulesConfigError(`${source}: rule ${name} has severity '${spec.severity}': use 'error' or 'warning'`);
    }
    if (resourceTypes && !resourceTypes.has(spec.resourceType)) {
      throw new RulesConfigError(`${source}: rule ${name} names an unknown resourceType '${spec.resourceType}'`);
    }
    if (seen.has(spec.id)) throw new RulesConfigError(`${source}: rule id '${spec.id}' is used twice`);
    seen.add(spec.id);
    let fn: (r: unknown) => unknown[];
    try {
      fn = fhirpath.compile({ base: spec.resourceType, expression: spec.expression }, r4);
    } catch (e) {
      throw new RulesConfigError(`${source}: rule ${name}: the expression '${spec.expression}' does not compile: ${firstLine(e)}`, { cause: e });
    }
    return {
      id: spec.id,
      resourceType: spec.resourceType,
      expression: spec.expression,
      severity: spec.severity,
      message: spec.message,
      evaluate: (resource: unknown) => fn(resource),
    };
  });
}
