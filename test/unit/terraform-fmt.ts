/**
 * The layout rules of `terraform fmt` that can be checked without the binary (test/unit/terraform-files.test.ts):
 * a line lexer for the tokens that matter (brackets, the `=` of attributes, comments) and the findings for a file.
 */

// ---------------------------------------------------------------------------------------------------------
// Formatting (the canonical `terraform fmt` layout, as implemented by hclwrite's formatter)
// ---------------------------------------------------------------------------------------------------------

type TokKind = 'open' | 'close' | 'interp' | 'interpEnd' | 'eq' | 'comment' | 'heredoc' | 'other';
interface Tok {
  kind: TokKind;
  start: number;
  end: number;
}

/** Lexes one line of HCL into the tokens that matter for layout: brackets, the `=` of attributes, comments. */
function lexLine(line: string): { toks: Tok[]; heredocMarker?: string } {
  const toks: Tok[] = [];
  // stack of open contexts: 'code-brace' (a { in code), 'interp' (${ or %{ in a string)
  const stack: ('brace' | 'interp')[] = [];
  let inString = false;
  let i = 0;
  let heredocMarker: string | undefined;
  while (i < line.length) {
    const c = line[i];
    if (inString) {
      if (c === '\\') {
        i += 2;
        continue;
      }
      if ((c === '$' || c === '%') && line[i + 1] === '{' && line[i - 1] !== c) {
        toks.push({ kind: 'interp', start: i, end: i + 2 });
        stack.push('interp');
        inString = false;
        i += 2;
        continue;
      }
      if (c === '"') {
        toks.push({ kind: 'other', start: i, end: i + 1 });
        inString = false;
      }
      i += 1;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i += 1;
      continue;
    }
    if (c === '#' || (c === '/' && (line[i + 1] === '/' || line[i + 1] === '*'))) {
      toks.push({ kind: 'comment', start: i, end: line.length });
      break;
    }
    if (c === '"') {
      toks.push({ kind: 'other', start: i, end: i + 1 });
      inString = true;
      i += 1;
      continue;
    }
    if (c === '<' && line[i + 1] === '<' && /^<<-?[A-Za-z_]/.test(line.slice(i))) {
      const m = /^<<-?([A-Za-z_][\w-]*)/.exec(line.slice(i));
      heredocMarker = m ? m[1] : undefined;
      toks.push({ kind: 'heredoc', start: i, end: line.length });
      break;
    }
    if (c === '{' || c === '[' || c === '(') {
      if (c === '{') stack.push('brace');
      toks.push({ kind: 'open', start: i, end: i + 1 });
      i += 1;
      continue;
    }
    if (c === '}' || c === ']' || c === ')') {
      if (c === '}') {
        const top = stack.pop();
        if (top === 'interp') {
          toks.push({ kind: 'interpEnd', start: i, end: i + 1 });
          inString = true;
          i += 1;
          continue;
        }
      }
      toks.push({ kind: 'close', start: i, end: i + 1 });
      i += 1;
      continue;
    }
    if (c === '=') {
      const next = line[i + 1];
      if (next === '=' || next === '>') {
        toks.push({ kind: 'other', start: i, end: i + 2 });
        i += 2;
        continue;
      }
      toks.push({ kind: 'eq', start: i, end: i + 1 });
      i += 1;
      continue;
    }
    if ((c === '!' || c === '<' || c === '>') && line[i + 1] === '=') {
      toks.push({ kind: 'other', start: i, end: i + 2 });
      i += 2;
      continue;
    }
    // identifiers, numbers, operators: one token per run of word characters, else per character
    let j = i + 1;
    if (/[\w.\-*]/.test(c)) while (j < line.length && /[\w.\-*]/.test(line[j])) j += 1;
    toks.push({ kind: 'other', start: i, end: j });
    i = j;
  }
  return { toks, heredocMarker };
}

function bracketChange(t: Tok): number {
  return t.kind === 'open' || t.kind === 'interp' ? 1 : t.kind === 'close' || t.kind === 'interpEnd' ? -1 : 0;
}

interface LineInfo {
  n: number;
  text: string;
  toks: Tok[];
  inHeredoc: boolean;
  assignEq?: Tok; // the `=` of a single-line attribute (hclwrite's "assign" cell)
  leadEnd?: number; // column just after the attribute name
  comment?: Tok; // trailing comment after other tokens (hclwrite's "comment" cell)
  contentEnd?: number; // column just after the last non-comment token
}

/**
 * Findings for the layout rules `terraform fmt` enforces and that can be checked textually:
 * LF line endings, no tabs, no trailing whitespace, one final newline; 2-space indentation by bracket depth
 * (hclwrite's indent stack); `=` of consecutive single-line attributes aligned one column after the longest
 * name (a blank line, a comment line, a block line or a multi-line value ends the group); one space after
 * `=`; trailing comments of consecutive lines aligned; block headers with single spaces.
 */
export function formatFindings(file: string, content: string): string[] {
  const findings: string[] = [];
  if (content.includes('\r')) findings.push(`${file}: CR characters (use LF line endings)`);
  if (content.length > 0 && !content.endsWith('\n')) findings.push(`${file}: no final newline`);
  if (content.endsWith('\n\n')) findings.push(`${file}: blank lines at end of file`);
  const rawLines = content.replace(/\r/g, '').split('\n');
  if (rawLines[rawLines.length - 1] === '') rawLines.pop();

  const lines: LineInfo[] = [];
  let heredocEnd: string | undefined;
  rawLines.forEach((text, idx) => {
    const n = idx + 1;
    if (text.includes('\t')) findings.push(`${file}:${n}: tab character`);
    if (/[ \t]+$/.test(text)) findings.push(`${file}:${n}: trailing whitespace`);
    if (heredocEnd !== undefined) {
      lines.push({ n, text, toks: [], inHeredoc: true });
      if (text.trim() === heredocEnd) heredocEnd = undefined;
      return;
    }
    const { toks, heredocMarker } = lexLine(text);
    if (heredocMarker) heredocEnd = heredocMarker;
    const info: LineInfo = { n, text, toks, inHeredoc: false };
    const nonComment = toks.filter((t) => t.kind !== 'comment');
    if (toks.length > 1 && toks[toks.length - 1].kind === 'comment') info.comment = toks[toks.length - 1];
    if (nonComment.length > 0) info.contentEnd = nonComment[nonComment.length - 1].end;
    const eqIdx = toks.findIndex((t) => t.kind === 'eq');
    if (eqIdx > 0) {
      let net = 0;
      for (const t of toks.slice(eqIdx)) {
        net += bracketChange(t);
        if (t.kind === 'heredoc') break;
      }
      if (net === 0) {
        info.assignEq = toks[eqIdx];
        info.leadEnd = toks[eqIdx - 1].end;
      }
    }
    lines.push(info);
  });

  // Indentation (hclwrite formatIndent).
  const indents: number[] = [];
  for (const l of lines) {
    if (l.inHeredoc || l.toks.length === 0) continue;
    let net = 0;
    for (const t of l.toks) net += bracketChange(t);
    let expected: number;
    if (net > 0) {
      expected = 2 * indents.length;
      indents.push(net);
    } else if (net < 0) {
      let closed = -net;
      while (closed > 0 && indents.length > 0) {
        const top = indents[indents.length - 1];
        if (closed > top) {
          closed -= top;
          indents.pop();
        } else if (closed < top) {
          indents[indents.length - 1] -= closed;
          closed = 0;
        } else {
          indents.pop();
          closed = 0;
        }
      }
      expected = 2 * indents.length;
    } else {
      expected = 2 * indents.length;
    }
    const actual = /^ */.exec(l.text)?.[0].length ?? 0;
    if (actual !== expected) findings.push(`${file}:${l.n}: indented ${actual} spaces, expected ${expected}`);
  }

  // `=` alignment within chains of consecutive single-line attributes (hclwrite formatCells).
  const closeChain = (chain: LineInfo[], expectedCol: (c: LineInfo[]) => number, actualCol: (l: LineInfo) => number, what: string): void => {
    if (chain.length === 0) return;
    const col = expectedCol(chain);
    for (const l of chain) {
      if (actualCol(l) !== col) findings.push(`${file}:${l.n}: ${what} at column ${actualCol(l) + 1}, expected ${col + 1}`);
    }
  };
  let chain: LineInfo[] = [];
  for (const l of [...lines, undefined]) {
    if (l && l.assignEq && !l.inHeredoc) {
      chain.push(l);
      continue;
    }
    closeChain(chain, (c) => Math.max(...c.map((x) => x.leadEnd ?? 0)) + 1, (x) => x.assignEq?.start ?? -1, '"="');
    chain = [];
  }
  // trailing comments of consecutive lines
  chain = [];
  for (const l of [...lines, undefined]) {
    if (l && l.comment && !l.inHeredoc) {
      chain.push(l);
      continue;
    }
    closeChain(chain, (c) => Math.max(...c.map((x) => x.contentEnd ?? 0)) + 1, (x) => x.comment?.start ?? -1, 'comment');
    chain = [];
  }

  for (const l of lines) {
    if (l.inHeredoc) continue;
    // exactly one space after any attribute `=` (aligned or not)
    const eqs = l.toks.filter((t) => t.kind === 'eq');
    if (eqs.length > 0) {
      const eq = eqs[0];
      if (l.text[eq.end] !== ' ' || l.text[eq.end + 1] === ' ') findings.push(`${file}:${l.n}: expected exactly one space after "="`);
      if (!l.assignEq && eq.start > 0 && (l.text[eq.start - 1] !== ' ' || l.text[eq.start - 2] === ' ')) {
        findings.push(`${file}:${l.n}: expected exactly one space before "=" of a multi-line value`);
      }
    }
    // terraform fmt unwraps interpolation-only strings ("${var.x}" -> var.x) and unquotes type names
    if (l.assignEq) {
      const value = l.toks.slice(l.toks.indexOf(l.assignEq) + 1).filter((t) => t.kind !== 'comment');
      const open = value[0];
      const close = value[value.length - 1];
      if (value.length >= 4 && l.text[open.start] === '"' && value[1].kind === 'interp' && value[1].start === open.end && l.text[close.start] === '"') {
        let depth = 0;
        let end = -1;
        for (let k = 1; k < value.length; k += 1) {
          depth += bracketChange(value[k]);
          if (depth === 0) {
            end = k;
            break;
          }
        }
        if (end === value.length - 2 && value[end].end === close.start) findings.push(`${file}:${l.n}: interpolation-only string (terraform fmt unwraps "\${x}" to x)`);
      }
    }
    if (/^\s*type\s*=\s*"(string|number|bool|list|map|set|any)"\s*$/.test(l.text)) findings.push(`${file}:${l.n}: quoted type name (terraform fmt unquotes it)`);
    // block headers: `type "label" "label" {` or `type {}` with single spaces
    const trimmed = l.text.trim();
    if (/^[A-Za-z_][\w-]*(\s+"[^"]*")*\s*\{\s*\}?$/.test(trimmed) && !/^[A-Za-z_][\w-]*(\s"[^"]*")* \{\}?$/.test(trimmed)) {
      findings.push(`${file}:${l.n}: block header spacing (expected single spaces: type "label" {)`);
    }
  }
  return findings;
}
