/**
 * Reading fhirpath's parse tree (https://hl7.org/fhirpath/N1/grammar.html, as `fhirpath.parse` returns it) for the
 * direct-accessor compiler: invocation chains, identifiers, literals and function parameters.
 */
import type { AstNode } from './fhirpath';

/** Linearises an invocation chain (`a.b[0].f()`) into its steps, or undefined for other shapes. */
export function chain(node: AstNode): AstNode[] | undefined {
  switch (node.type) {
    case 'EntireExpression':
    case 'TermExpression':
    case 'InvocationTerm':
      return node.children?.length === 1 ? chain(node.children[0]!) : undefined;
    case 'InvocationExpression': {
      const [a, b] = node.children ?? [];
      const head = a ? chain(a) : undefined;
      return head && b ? [...head, b] : undefined;
    }
    case 'IndexerExpression': {
      const [a, idx] = node.children ?? [];
      const head = a ? chain(a) : undefined;
      return head && idx ? [...head, { type: 'Index', children: [idx] }] : undefined;
    }
    default:
      return [node];
  }
}

/** The simple identifier a node is (a type specifier or member name), or undefined. */
export function identifier(node: AstNode | undefined): string | undefined {
  const steps = node ? chain(node) : undefined;
  if (steps?.length !== 1 || steps[0]!.type !== 'MemberInvocation') return undefined;
  const text = steps[0]!.text ?? '';
  return /^[A-Za-z][A-Za-z0-9_]*$/.test(text) ? text : undefined;
}

/** Value of a string literal node without escapes, or undefined. */
export function stringLiteral(node: AstNode | undefined): string | undefined {
  const steps = node ? chain(node) : undefined;
  const lit = steps?.length === 1 ? steps[0] : undefined;
  if (lit?.type !== 'LiteralTerm' || lit.children?.[0]?.type !== 'StringLiteral') return undefined;
  const text = lit.text ?? '';
  if (!text.startsWith("'") || !text.endsWith("'") || text.includes('\\')) return undefined;
  return text.slice(1, -1);
}

/** An integer literal parameter, or undefined. */
export function intLiteral(node: AstNode | undefined): number | undefined {
  const steps = node ? chain(node) : undefined;
  const lit = steps?.length === 1 ? steps[0] : undefined;
  return lit?.type === 'LiteralTerm' && /^\d+$/.test(lit.text ?? '') ? Number(lit.text) : undefined;
}

/** A boolean literal node's value, or undefined. */
export function booleanLiteral(node: AstNode | undefined): boolean | undefined {
  const steps = node ? chain(node) : undefined;
  const lit = steps?.length === 1 ? steps[0] : undefined;
  if (lit?.type !== 'LiteralTerm' || lit.children?.[0]?.type !== 'BooleanLiteral') return undefined;
  return lit.text === 'true';
}

/** A function invocation's name and parameter nodes, or undefined for other nodes. */
export function fnParts(node: AstNode): { name: string; params: AstNode[] } | undefined {
  const f = node.children?.[0];
  if (node.type !== 'FunctionInvocation' || f?.type !== 'Functn') return undefined;
  const params = f.children?.[1]?.children ?? [];
  return { name: node.text ?? '', params };
}
