/**
 * Invariants of the profile validator (FHIRPath constraints of the R4 StructureDefinitions,
 * https://hl7.org/fhir/R4/conformance-rules.html#constraints), at the `strict` level: a few implemented directly
 * (`dom-2..6`, `bdl-7`, `per-1`), the others by the fast JSON evaluator (`fastpath.ts`) with the HL7 `fhirpath`
 * package as fallback; and the deployment's user rules (`rules.ts`), which are invariants too.
 */
import type { Ctx, ValidatorState } from './context';
import { evalIr, UNKNOWN, type FhirPathRunner, type IrEnv } from './fastpath';
import type { InvariantRt } from './model';
import { dateLessOrEqual } from './primitives';
import type { UserRule } from './rules';

/** Invariants the fhirpath package is known not to evaluate (found on the R4 examples). */
const KNOWN_UNSUPPORTED: Record<string, string> = {
  'eld-16': 'regex in matches() is not valid in JavaScript unicode mode (Invalid escape)',
  'eld-19': 'regex in matches() is not valid in JavaScript unicode mode (Invalid escape)',
  'eld-20': 'regex in matches() is not valid in JavaScript unicode mode (Lone quantifier brackets)',
  'ctm-1': 'resolve() is only available in fhirpath async mode',
};

/**
 * Invariants that are not evaluated, with the reason (see `ProfileValidator.skippedInvariants`).
 * @param fp the validator's fhirpath runner (it records the expressions the package could not handle)
 */
export function skippedInvariants(fp: FhirPathRunner): Record<string, string> {
  return {
    'txt-1': 'htmlChecks() is not implemented by fhirpath: checked directly (xhtml.ts)',
    'txt-2': 'htmlChecks() is not implemented by fhirpath: checked directly (xhtml.ts)',
    ...KNOWN_UNSUPPORTED,
    ...Object.fromEntries(fp.unsupported),
  };
}

/**
 * Runs a list of invariants on a node and reports each violated one.
 * @param v the validator
 * @param list the invariants of the node's element or type
 * @param node the JSON node (the FHIRPath context of the invariants; the path stack `c.seg` is at it)
 * @param c the call's state
 */
export function runInvariants(v: ValidatorState, list: InvariantRt[], node: unknown, c: Ctx): void {
  for (let i = 0; i < list.length; i++) {
    const inv = list[i];
    let ok: boolean | undefined;
    if (inv.d === 1) {
      ok = direct(v, inv, node, c);
    } else {
      if (inv.ir !== undefined) {
        const r = evalIr(inv.ir, node, c as unknown as IrEnv);
        if (r !== UNKNOWN) {
          ok = !(r.length === 1 && r[0] === false);
          if (v.onFastPath) v.onFastPath(inv, node, ok, { resource: c.resource, rootResource: c.rootResource });
          if (ok) continue;
        }
      }
      if (ok === undefined) {
        if (inv.unsupported) continue;
        ok = v.fp.run(inv, node, c.resource, c.rootResource);
      }
    }
    if (ok === false) {
      v.issue(c, inv.s, 'invariant', `Constraint failed: ${inv.k}: ${inv.h}`);
    }
  }
}

/** Directly implemented invariants; undefined = not applicable/handled elsewhere. */
function direct(v: ValidatorState, inv: InvariantRt, node: unknown, c: Ctx): boolean | undefined {
  const o = node as Record<string, unknown>;
  switch (inv.k) {
    case 'dom-2':
      return !Array.isArray(o.contained) || !o.contained.some((r) => r && typeof r === 'object' && (r as Record<string, unknown>).contained !== undefined);
    case 'dom-3':
      return dom3(v, o, c);
    case 'dom-4':
      return !Array.isArray(o.contained) || !o.contained.some((r) => {
        const meta = (r as { meta?: { versionId?: unknown; lastUpdated?: unknown } } | null)?.meta;
        return meta && typeof meta === 'object' && (meta.versionId !== undefined || meta.lastUpdated !== undefined);
      });
    case 'dom-5':
      return !Array.isArray(o.contained) || !o.contained.some((r) => {
        const meta = (r as { meta?: { security?: unknown } } | null)?.meta;
        return meta && typeof meta === 'object' && meta.security !== undefined;
      });
    case 'dom-6': {
      if (c.contained > 0) return true;
      const text = o.text as { div?: unknown } | undefined;
      return !!text && typeof text === 'object' && text.div !== undefined;
    }
    case 'bdl-7': {
      if (o.type === 'history' || !Array.isArray(o.entry)) return true;
      const seen = new Set<string>();
      for (const e of o.entry as { fullUrl?: unknown; resource?: { meta?: { versionId?: unknown } } }[]) {
        if (!e || typeof e !== 'object' || e.fullUrl === undefined) continue;
        const ver = e.resource?.meta?.versionId;
        const key = `${String(e.fullUrl)}\u0000${typeof ver === 'string' ? ver : ''}`;
        if (seen.has(key)) return false;
        seen.add(key);
      }
      return true;
    }
    case 'per-1': {
      if (typeof o.start !== 'string' || typeof o.end !== 'string') return true;
      return dateLessOrEqual(o.start, o.end) !== false;
    }
    default:
      // ele-1, ext-1, txt-1, txt-2, ref-1: checked in the walk
      return undefined;
  }
}

/** Adds every `#...` string found in `x` (narrative `div`s excepted) to `refs`. */
function scanLocalRefs(x: unknown, refs: Set<string>): void {
  if (typeof x === 'string') {
    if (x.charCodeAt(0) === 35) refs.add(x);
  } else if (Array.isArray(x)) {
    for (const y of x) scanLocalRefs(y, refs);
  } else if (x !== null && typeof x === 'object') {
    for (const k in x as Record<string, unknown>) if (k !== 'div') scanLocalRefs((x as Record<string, unknown>)[k], refs);
  }
}

/**
 * dom-3: every contained resource is referenced from elsewhere in the resource (`#id` in a reference,
 * canonical, uri or url), or itself refers to the container (`#`). One scan collects all `#...` strings.
 */
function dom3(v: ValidatorState, o: Record<string, unknown>, c: Ctx): boolean | undefined {
  const contained = o.contained;
  if (!Array.isArray(contained) || contained.length === 0) return true;
  if (!v.validateContained) return true;
  // %resource.descendants(): the whole resource, contained resources included
  const refs = new Set<string>();
  scanLocalRefs(o, refs);
  const unmatched: string[] = [];
  for (const r of contained) {
    if (!r || typeof r !== 'object') continue;
    const id = (r as { id?: unknown }).id;
    if (typeof id === 'string' && refs.has(`#${id}`)) continue;
    if (refs.has('#')) {
      const own = new Set<string>();
      scanLocalRefs(r, own);
      if (own.has('#')) continue;
    }
    unmatched.push(typeof id === 'string' ? id.slice(0, 64) : '(no id)');
  }
  if (unmatched.length) {
    v.issue(
      c,
      'error',
      'invariant',
      `Constraint failed: dom-3: If the resource is contained in another resource, it SHALL be referred to from elsewhere in the resource or SHALL refer to the containing resource (not referenced: ${unmatched.join(', ')})`,
    );
    return undefined;
  }
  return true;
}

/**
 * Runs the deployment's user rules of a resource's type on it: a rule whose expression gives `false` is reported
 * with its severity, id and message; one that cannot be evaluated gives a warning.
 * @param v the validator
 * @param rules the rules of the resource's type
 * @param r the resource (the path stack `c.seg` is at it)
 * @param c the call's state
 */
export function runUserRules(v: ValidatorState, rules: UserRule[], r: Record<string, unknown>, c: Ctx): void {
  for (const rule of rules) {
    let res: unknown[];
    try {
      res = rule.evaluate(r);
    } catch {
      v.issue(c, 'warning', 'processing', `Rule ${rule.id} could not be evaluated`);
      continue;
    }
    if (res.length === 1 && res[0] === false) {
      v.issue(c, rule.severity, rule.severity === 'error' ? 'business-rule' : 'informational', `Rule failed: ${rule.id}: ${rule.message}`);
    }
  }
}
