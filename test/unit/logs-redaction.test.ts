/**
 * No client id (a resource id from a PUT URL can be an MRN) and no request path in our own log lines:
 * - the logger's safety net (src/core/log.ts) redacts path-like keys and the id of any FHIR instance path inside a
 *   string, the message and error messages included;
 * - every logger call in src/ passes neither a path nor the route's parameters (a static scan, with a negative
 *   control on a broken copy).
 * The running stack's API log is scanned end to end by test/e2e/logs.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createLogger, redactFhirPaths, redactUnsafe, REDACTED, requestLogger } from '../../src/core/log';

const MRN = 'MRN-88812';

/** Captures what Powertools writes (JSON lines on stdout/stderr). */
function capture(): { text: () => string; lines: () => Record<string, any>[]; restore: () => void } {
  const chunks: string[] = [];
  const sink = (chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  };
  const spies = [jest.spyOn(process.stdout, 'write').mockImplementation(sink), jest.spyOn(process.stderr, 'write').mockImplementation(sink)];
  const text = () => chunks.join('');
  return {
    text,
    lines: () =>
      text()
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l)),
    restore: () => spies.forEach((s) => s.mockRestore()),
  };
}

describe('redactFhirPaths', () => {
  it.each([
    [`PUT /fhir/Patient/${MRN}`, `PUT /fhir/Patient/${REDACTED}`],
    [`http://localhost:3000/fhir/Patient/${MRN}/_history/2`, `http://localhost:3000/fhir/Patient/${REDACTED}/_history/2`],
    [`"/fhir/Observation/${MRN}"`, `"/fhir/Observation/${REDACTED}"`],
    [`/fhir/Patient/${MRN}?x=1 and /fhir/Encounter/e%2F1`, `/fhir/Patient/${REDACTED}?x=1 and /fhir/Encounter/${REDACTED}`],
  ])('%s → %s', (input, expected) => {
    expect(redactFhirPaths(input)).toBe(expected);
  });

  it('keeps operations, type-level paths and text without a FHIR path', () => {
    for (const s of ['/fhir/Patient/$validate', '/fhir/Patient', 'POST /fhir', 'raw/Patient/source=a/date=2030-01-01/r1.ndjson', 'Patient/123']) {
      expect(redactFhirPaths(s)).toBe(s);
    }
  });
});

describe('the logger never writes a request path or a client id', () => {
  it('redacts path-like keys at any depth, and FHIR instance paths in the message, values and errors', () => {
    const cap = capture();
    try {
      const log = requestLogger(createLogger('tributary-test', { logLevel: 'DEBUG' }), 'req-1', { source: 'gp-feed', clientId: 'lab-1' });
      log.info(`PUT /fhir/Patient/${MRN}`, {
        path: `/fhir/Patient/${MRN}`,
        rawPath: `/fhir/Patient/${MRN}`,
        url: `http://127.0.0.1/fhir/Patient/${MRN}`,
        pathParameters: { type: 'Patient', id: MRN },
        queryStringParameters: { identifier: MRN },
        headers: { Authorization: 'Bearer x' },
        nested: { reason: `could not store /fhir/Patient/${MRN}` },
        status: 201,
      });
      log.error('failed', new Error(`upstream refused /fhir/Patient/${MRN}`));
      const text = cap.text();
      expect(text).not.toContain(MRN);
      const [info, error] = cap.lines();
      expect(info).toMatchObject({
        message: `PUT /fhir/Patient/${REDACTED}`,
        path: REDACTED,
        rawPath: REDACTED,
        url: REDACTED,
        pathParameters: REDACTED,
        queryStringParameters: REDACTED,
        headers: REDACTED,
        nested: { reason: `could not store /fhir/Patient/${REDACTED}` },
        status: 201,
        correlationId: 'req-1',
      });
      expect(error.error.message).toBe(`upstream refused /fhir/Patient/${REDACTED}`);
    } finally {
      cap.restore();
    }
  });

  it('redactUnsafe applies the same rules', () => {
    const out = redactUnsafe({ path: `/fhir/Patient/${MRN}`, note: `see /fhir/Patient/${MRN}`, err: new Error(`/fhir/Patient/${MRN}`) });
    expect(JSON.stringify(out)).not.toContain(MRN);
    expect(out.path).toBe(REDACTED);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Static scan of every logger call in src/
// ---------------------------------------------------------------------------------------------------------

const SRC = path.resolve(__dirname, '../../src');

/** A logger call: `log.info(`, `logger.error(`, `baseLogger.warn(`, `ctx.log?.warn(`. */
const LOG_CALL = /(?<![\w$.])(?:[\w$]+\??\.)*[\w$]*(?:log|logger|Logger)\??\.(?:debug|info|warn|error|critical)\(/g;

/** What a logger call's arguments must not mention: the request's path, its parts, headers or the body. */
const FORBIDDEN_IN_LOG_ARGS = /\b(path|rawPath|url|segments|params|pathParameters|queryStringParameters|multiValueQueryStringParameters|headers|multiValueHeaders|body)\b/;

/** The argument text of the call whose `(` is at `open` (balanced parentheses; strings are not special-cased). */
function argsAt(src: string, open: number): string {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === '(') depth++;
    else if (src[i] === ')' && --depth === 0) return src.slice(open + 1, i);
  }
  return src.slice(open + 1);
}

/** Findings for the logger calls of one source text. */
function logCallFindings(file: string, src: string): string[] {
  const code = src.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/(^|[^:])\/\/.*$/gm, '$1');
  const findings: string[] = [];
  for (const m of code.matchAll(LOG_CALL)) {
    const args = argsAt(code, m.index! + m[0].length - 1);
    const bad = FORBIDDEN_IN_LOG_ARGS.exec(args);
    if (bad) findings.push(`${file}: ${m[0]}… mentions ${bad[1]}`);
  }
  return findings;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

describe('every logger call in src/', () => {
  const files = sourceFiles(SRC);

  it('finds the logger calls (the scan sees them)', () => {
    const calls = files.flatMap((f) => [...fs.readFileSync(f, 'utf8').matchAll(LOG_CALL)]);
    expect(calls.length).toBeGreaterThanOrEqual(10);
  });

  it('passes no request path, route parameter, header or body', () => {
    expect(files.flatMap((f) => logCallFindings(path.relative(SRC, f), fs.readFileSync(f, 'utf8')))).toEqual([]);
  });

  it('flags a call that logs the path or the route parameters (negative control)', () => {
    const broken = [
      "log.info('request', { method: req.method, path: req.path });",
      'baseLogger.error(`failed ${req.segments.join("/")}`);',
      "ctx.log?.warn('x', { id: found.params.id });",
      "logger.info('ok', { status }); // path in a comment is fine",
    ].join('\n');
    expect(logCallFindings('broken.ts', broken)).toEqual([
      "broken.ts: log.info(… mentions path",
      'broken.ts: baseLogger.error(… mentions segments',
      'broken.ts: ctx.log?.warn(… mentions params',
    ]);
  });
});
