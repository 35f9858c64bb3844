/**
 * Narrative XHTML checks (https://hl7.org/fhir/R4/narrative.html#xhtml): the R4 invariants `txt-1`
 * ("only the basic html formatting elements and attributes", no scripts, no event handlers, no
 * forms, no external links to scripts) and `txt-2` ("some non-whitespace content"), which R4 writes as
 * `htmlChecks()`, a FHIRPath function the `fhirpath` package does not implement, plus well-formedness
 * (XML 1.0 subset: balanced tags, quoted attributes, only the five XML entities or character references)
 * and the root `<div xmlns="http://www.w3.org/1999/xhtml">`.
 *
 * The allow-lists follow the HL7 Java reference validator (`XhtmlNode`/`InstanceValidator`).
 */

/** One XHTML problem: the invariant (`txt-1`, `txt-2`) or `xhtml` for well-formedness, and a message. */
export interface XhtmlProblem {
  rule: 'txt-1' | 'txt-2' | 'xhtml';
  message: string;
}

const ELEMENTS = new Set(
  (
    'p br div h1 h2 h3 h4 h5 h6 a span b em i strong small big tt dfn q var abbr acronym cite blockquote hr address bdo kbd ' +
    'sub sup ul ol li dl dt dd pre table caption colgroup col thead tr tfoot tbody th td code samp img map area s u strike del ins font center'
  ).split(' '),
);
const ATTRIBUTES = new Set(
  (
    'title style class id lang xml:lang xml:space dir accesskey tabindex ' +
    'span width height align valign char charoff abbr axis headers scope rowspan colspan border cellpadding cellspacing frame rules summary bgcolor nowrap ' +
    'href name target rel rev hreflang type src alt usemap ismap longdesc shape coords nohref start reversed value cite datetime face size color compact clear'
  ).split(' '),
);
const XML_ENTITIES = new Set(['lt', 'gt', 'amp', 'quot', 'apos']);
const XHTML_NS = 'http://www.w3.org/1999/xhtml';

function checkEntities(s: string, problems: XhtmlProblem[]): void {
  let i = s.indexOf('&');
  while (i >= 0) {
    const semi = s.indexOf(';', i + 1);
    const name = semi > i ? s.slice(i + 1, semi) : '';
    if (!(name.length && (XML_ENTITIES.has(name) || /^#(?:[0-9]+|x[0-9a-fA-F]+)$/.test(name)))) {
      problems.push({ rule: 'xhtml', message: `Invalid entity in the XHTML ('&${name.length < 20 ? name : name.slice(0, 20)}${semi > i ? ';' : ''}')` });
      return;
    }
    i = s.indexOf('&', semi + 1);
  }
}

/**
 * Checks a Narrative.div value.
 * @param div the XHTML string
 * @returns the problems found (empty when fine); stops at the first well-formedness error
 */
export function checkXhtml(div: string): XhtmlProblem[] {
  const problems: XhtmlProblem[] = [];
  const stack: string[] = [];
  let i = 0;
  let roots = 0;
  let hasText = false;
  let hasElementContent = false;
  const n = div.length;
  const tagRe = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/y;
  const attrRe = /\s+([^\s=/>]+)\s*=\s*("[^"]*"|'[^']*')/g;
  while (i < n) {
    const lt = div.indexOf('<', i);
    const text = lt < 0 ? div.slice(i) : div.slice(i, lt);
    if (text.length) {
      if (stack.length === 0 && text.trim().length) {
        problems.push({ rule: 'xhtml', message: 'Text content is not allowed outside the root <div>' });
        return problems;
      }
      if (text.trim().length) hasText = true;
      if (text.includes('&')) checkEntities(text, problems);
      if (text.includes('>') && /\]\]>/.test(text)) {
        problems.push({ rule: 'xhtml', message: "Illegal ']]>' in the XHTML" });
      }
    }
    if (lt < 0) break;
    if (div.startsWith('<!--', lt)) {
      const end = div.indexOf('-->', lt + 4);
      if (end < 0) {
        problems.push({ rule: 'xhtml', message: 'Unterminated comment in the XHTML' });
        return problems;
      }
      i = end + 3;
      continue;
    }
    if (div.startsWith('<!', lt) || div.startsWith('<?', lt)) {
      problems.push({ rule: 'txt-1', message: 'DOCTYPE, CDATA and processing instructions are not allowed in the narrative' });
      return problems;
    }
    tagRe.lastIndex = lt;
    const m = tagRe.exec(div);
    if (!m) {
      problems.push({ rule: 'xhtml', message: `Malformed XHTML tag at character ${lt}` });
      return problems;
    }
    const [, close, rawName, attrs, selfClose] = m;
    const name = rawName.toLowerCase();
    i = tagRe.lastIndex;
    if (close) {
      if (attrs.trim().length || selfClose) {
        problems.push({ rule: 'xhtml', message: `Malformed closing tag </${rawName}>` });
        return problems;
      }
      const open = stack.pop();
      if (open !== rawName) {
        problems.push({ rule: 'xhtml', message: `Unbalanced XHTML: </${rawName}> closes <${open ?? ''}>` });
        return problems;
      }
      continue;
    }
    if (stack.length === 0) {
      roots++;
      if (roots > 1 || name !== 'div') {
        problems.push({ rule: 'txt-1', message: `The narrative root must be a single <div> element (found <${rawName}>)` });
        return problems;
      }
    } else hasElementContent = true;
    if (!ELEMENTS.has(name)) {
      problems.push({ rule: 'txt-1', message: `Invalid element name in the XHTML ('${rawName.slice(0, 40)}')` });
    }
    let xmlns: string | undefined;
    attrRe.lastIndex = 0;
    let a: RegExpExecArray | null;
    while ((a = attrRe.exec(attrs))) {
      const attr = a[1];
      const value = a[2].slice(1, -1);
      const lower = attr.toLowerCase();
      if (lower === 'xmlns') xmlns = value;
      else if (lower.startsWith('xmlns:')) {
        /* namespace declarations are allowed */
      } else if (!ATTRIBUTES.has(lower)) {
        problems.push({ rule: 'txt-1', message: `Invalid attribute name in the XHTML ('${attr.slice(0, 40)}' on '${rawName.slice(0, 20)}')` });
      } else if ((lower === 'href' || lower === 'src') && /^\s*(?:javascript|vbscript|data:text\/html)/i.test(value)) {
        problems.push({ rule: 'txt-1', message: `Script URLs are not allowed in the XHTML ('${attr}')` });
      }
      if (value.includes('&')) checkEntities(value, problems);
    }
    if (stack.length === 0 && xmlns !== XHTML_NS) {
      problems.push({ rule: 'xhtml', message: `Wrong namespace on the XHTML ('${(xmlns ?? '').slice(0, 60)}', should be '${XHTML_NS}')` });
    }
    if (!selfClose) stack.push(rawName);
  }
  if (stack.length) {
    problems.push({ rule: 'xhtml', message: `Unclosed XHTML element <${stack[stack.length - 1]}>` });
    return problems;
  }
  if (roots === 0) {
    problems.push({ rule: 'txt-1', message: 'The narrative must be a <div> element' });
    return problems;
  }
  if (!hasText && !hasElementContent) {
    problems.push({ rule: 'txt-2', message: 'The narrative SHALL have some non-whitespace content' });
  }
  return problems;
}
