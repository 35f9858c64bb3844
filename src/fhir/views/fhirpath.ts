/**
 * The FHIRPath engine of the runner: the HL7 `fhirpath` package with its R4 model, plus the
 * SQL on FHIR v2 functions `getResourceKey()` and `getReferenceKey([type])`
 * (https://sql-on-fhir.org/ig/StructureDefinition-ViewDefinition.html#required-additional-functions)
 * registered through fhirpath's `userInvocationTable`, and ViewDefinition constants turned into
 * typed environment variables.
 */
import fhirpath = require('fhirpath');
import r4 = require('fhirpath/fhir-context/r4');
import { ViewDefinitionError } from './errors';
import type { ViewConstant } from './types';

/** The R4 model given to every compile. */
export const model: fhirpath.Model = r4 as unknown as fhirpath.Model;

/** A node of fhirpath's parse tree (the shape `fhirpath.parse` returns). */
export interface AstNode {
  type: string;
  text?: string;
  children?: AstNode[];
}

/** A compiled FHIRPath: evaluates on a resource, element or fhirpath ResourceNode with environment variables. */
export type FhirPathFn = (data: unknown, env: Record<string, unknown>) => unknown[];

/** A parsed reference: the referenced id and, when the reference says so, its resource type. */
export interface ParsedReference {
  type?: string;
  id: string;
}

/**
 * Parses `Reference.reference` into type and id: `Patient/123`, `Patient/123/_history/2`,
 * absolute URLs (`http://x/fhir/Patient/123`), `urn:uuid:…` and `urn:oid:…` (id only: the type is not
 * in the string, `Reference.type` supplies it when present). Contained (`#x`) and conditional
 * (`Patient?identifier=…`) references, bare ids and empty strings give `undefined`.
 */
export function parseReference(reference: string, explicitType?: string): ParsedReference | undefined {
  if (!reference || reference.startsWith('#') || reference.includes('?')) return undefined;
  if (reference.startsWith('urn:uuid:') || reference.startsWith('urn:oid:')) {
    const id = reference.slice(reference.indexOf(':', 4) + 1);
    return id ? { id, type: explicitType } : undefined;
  }
  const segs = (reference.split('#', 1)[0] ?? '').split('/').filter((x) => x !== '');
  const h = segs.lastIndexOf('_history');
  if (h >= 2) segs.length = h;
  const id = segs[segs.length - 1];
  const type = segs[segs.length - 2];
  if (!id || !type || !/^[A-Z][A-Za-z]+$/.test(type)) return undefined;
  return { id, type };
}

/**
 * SQL on FHIR `getReferenceKey([type])` over a collection of References: the id each one points to.
 * With a type, references whose known type differs give nothing. Where the type cannot be known
 * (a `urn:uuid:` reference without `Reference.type`, as in Synthea transaction bundles) the id is returned:
 * the runner cannot tell, and the lake's keys are those uuids.
 */
export function referenceKeys(refs: unknown[], type?: string): string[] {
  const out: string[] = [];
  for (const r of refs) {
    if (r === null || typeof r !== 'object') continue;
    const ref = (r as { reference?: unknown }).reference;
    const explicit = (r as { type?: unknown }).type;
    if (typeof ref !== 'string') continue;
    const parsed = parseReference(ref, typeof explicit === 'string' ? explicit : undefined);
    if (!parsed) continue;
    if (type !== undefined && parsed.type !== undefined && parsed.type !== type) continue;
    out.push(parsed.id);
  }
  return out;
}

/** SQL on FHIR `getResourceKey()`: the id of each resource in the collection. */
export function resourceKeys(resources: unknown[]): string[] {
  const out: string[] = [];
  for (const r of resources) {
    if (r !== null && typeof r === 'object' && 'resourceType' in r) {
      const id = (r as { id?: unknown }).id;
      if (typeof id === 'string') out.push(id);
    }
  }
  return out;
}

/** fhirpath's type-specifier argument (its `TypeInfo`). */
interface TypeInfoArg {
  name?: string;
  namespace?: string;
}

/**
 * SQL on FHIR's `join([separator])`: the strings of the input joined, and `''` (not empty) for an empty input,
 * as the v2 conformance suite requires; non-string items are an error.
 */
export function join(items: unknown[], separator?: string): string[] {
  for (const i of items) if (typeof i !== 'string') throw new TypeError('join() requires a collection of strings');
  return [items.join(separator ?? '')];
}

const userInvocationTable: fhirpath.UserInvocationTable = {
  join: { fn: join, arity: { 0: [], 1: ['String'] } },
  getResourceKey: { fn: (data: unknown[]) => resourceKeys(data), arity: { 0: [] } },
  getReferenceKey: {
    fn: (data: unknown[], type?: TypeInfoArg) => referenceKeys(data, type?.name),
    arity: { 0: [], 1: ['TypeSpecifier'] },
  },
};

/** Environment variable names fhirpath itself defines, plus those the runner always sets. */
export const BUILTIN_VARIABLES: ReadonlySet<string> = new Set([
  'rowIndex',
  'resource',
  'rootResource',
  'context',
  'ucum',
  'factory',
]);

/**
 * Parses a FHIRPath expression with fhirpath's own parser.
 * @throws ViewDefinitionError naming `location` when it does not parse.
 */
export function parseExpression(expression: string, location: string): AstNode {
  try {
    return fhirpath.parse(expression) as AstNode;
  } catch (err) {
    const detail = err instanceof Error ? err.message.split('\n', 1)[0] : String(err);
    throw new ViewDefinitionError(`${location}: FHIRPath '${expression}' does not parse: ${detail}`, location, { cause: err });
  }
}

/** The variable name of an `ExternalConstantTerm` node (`%name`, `%\`name\``, `%'name'`). */
export function constantName(node: AstNode): string {
  let text = node.text;
  if (text === undefined) {
    let n: AstNode | undefined = node;
    while (n && n.text === undefined) n = n.children?.[0];
    text = n?.text ?? '';
  }
  text = text.replace(/^%/, '');
  return /^[`'].*[`']$/.test(text) ? text.slice(1, -1) : text;
}

/** Every `%name` the expression refers to. */
export function externalConstants(ast: AstNode, out: Set<string> = new Set()): Set<string> {
  if (ast.type === 'ExternalConstantTerm') out.add(constantName(ast));
  for (const c of ast.children ?? []) externalConstants(c, out);
  return out;
}

/**
 * Compiles an expression with the R4 model and the SQL on FHIR functions.
 * @param base - the element path or type the input is (e.g. `Observation.component`, `CodeableConcept`);
 *   omitted for whole resources and for fhirpath ResourceNodes, which carry their own type.
 * @param keepNodes - return fhirpath ResourceNodes (typed, to feed back as input) instead of plain values.
 */
export function compileExpression(expression: string, base?: string, keepNodes = false): FhirPathFn {
  const options = { resolveInternalTypes: !keepNodes, userInvocationTable };
  const fn = fhirpath.compile(base ? { base, expression } : expression, model, options);
  return fn as unknown as FhirPathFn;
}

const DATE = /^\d{4}(-\d{2}(-\d{2})?)?$/;
const DATETIME = /^\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;
const TIME = /^\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?$/;

function literal(text: string): unknown {
  return (fhirpath.evaluate({}, text, {}, model, { resolveInternalTypes: false }) as unknown[])[0];
}

/**
 * The environment-variable value of a constant: strings, numbers and booleans as they are; date, dateTime,
 * instant and time as fhirpath's own date/time values (so `birthDate = %d` compares as FHIRPath dates).
 * @throws ViewDefinitionError when a date/time value is malformed.
 */
export function constantValue(c: ViewConstant, location: string): unknown {
  const bad = (what: string, v: string): never => {
    throw new ViewDefinitionError(`${location}: '${v}' is not a valid ${what}`, location);
  };
  if (c.valueDate !== undefined) return DATE.test(c.valueDate) ? literal(`@${c.valueDate}`) : bad('date', c.valueDate);
  if (c.valueDateTime !== undefined) {
    const v = c.valueDateTime;
    if (!DATETIME.test(v)) return bad('dateTime', v);
    return literal(v.includes('T') ? `@${v}` : `@${v}T`);
  }
  if (c.valueInstant !== undefined) {
    return DATETIME.test(c.valueInstant) && c.valueInstant.includes('T') ? literal(`@${c.valueInstant}`) : bad('instant', c.valueInstant);
  }
  if (c.valueTime !== undefined) return TIME.test(c.valueTime) ? literal(`@T${c.valueTime}`) : bad('time', c.valueTime);
  for (const [k, v] of Object.entries(c)) if (k.startsWith('value')) return v;
  throw new ViewDefinitionError(`${location}: constant '${c.name}' has no value[x]`, location);
}
