import { createLogger, isUnsafeLogKey, redactingReplacer, redactUnsafe, REDACTED, requestLogger } from '../../src/core/log';

/** Captures what Powertools writes (JSON lines on stdout, errors on stderr), in order. */
function capture(): { lines: () => Record<string, any>[]; restore: () => void } {
  const chunks: string[] = [];
  const sink = (chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  };
  const spies = [jest.spyOn(process.stdout, 'write').mockImplementation(sink), jest.spyOn(process.stderr, 'write').mockImplementation(sink)];
  return {
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l)),
    restore: () => spies.forEach((s) => s.mockRestore()),
  };
}

describe('log redaction helpers', () => {
  it('flags the unsafe keys case-insensitively', () => {
    for (const k of ['body', 'Resource', 'payload', 'name', 'IDENTIFIER', 'authorization', 'token']) expect(isUnsafeLogKey(k)).toBe(true);
    for (const k of ['requestId', 'count', 'resourceType', 'objectKey', 'status', 'resources']) expect(isUnsafeLogKey(k)).toBe(false);
  });

  it('redacts at any depth and keeps safe fields', () => {
    const input = {
      requestId: 'r1',
      count: 2,
      nested: { resource: { resourceType: 'Patient', name: [{ family: 'Smith' }] }, ok: true },
      list: [{ identifier: [{ value: '9434765919' }], status: 'final' }],
    };
    const out = redactUnsafe(input);
    expect(out).toEqual({
      requestId: 'r1',
      count: 2,
      nested: { resource: REDACTED, ok: true },
      list: [{ identifier: REDACTED, status: 'final' }],
    });
    expect(JSON.stringify(out)).not.toMatch(/Smith|9434765919/);
    expect(input.nested.resource.name[0].family).toBe('Smith'); // input untouched
  });

  it('renders errors without a colliding name key', () => {
    const r = JSON.parse(JSON.stringify({ error: new TypeError('boom', { cause: new Error('root') }) }, redactingReplacer));
    expect(r.error).toMatchObject({ errorName: 'TypeError', message: 'boom', cause: { errorName: 'Error', message: 'root' } });
  });

  it('handles cycles', () => {
    const a: Record<string, unknown> = { id: 1 };
    a.self = a;
    expect(redactUnsafe(a)).toEqual({ id: 1, self: '[Circular]' });
  });
});

describe('createLogger / requestLogger', () => {
  it('writes structured JSON with the service, correlation id and redacted payloads', () => {
    const cap = capture();
    try {
      const base = createLogger('tributary-test', { logLevel: 'DEBUG' });
      const log = requestLogger(base, 'req-123', { source: 'gp-feed', clientId: 'c1' });
      log.info('ingested', { count: 3, body: '{"resourceType":"Patient","name":[{"family":"Smith"}]}', extra: { payload: 'secret' } });
      base.info('no request');
      log.error('failed', new RangeError('boom'));
      const [first, second, third] = cap.lines();
      expect(third).toMatchObject({ level: 'ERROR', correlationId: 'req-123', error: { errorName: 'RangeError', message: 'boom' } });
      expect(first).toMatchObject({ level: 'INFO', message: 'ingested', service: 'tributary-test', correlationId: 'req-123', source: 'gp-feed', clientId: 'c1', count: 3, body: REDACTED, extra: { payload: REDACTED } });
      expect(JSON.stringify(first)).not.toContain('Smith');
      expect(second.correlationId).toBeUndefined(); // child keys do not leak into the shared logger
    } finally {
      cap.restore();
    }
  });

  it('keeps concurrent request loggers apart', () => {
    const cap = capture();
    try {
      const base = createLogger('tributary-test', { logLevel: 'INFO' });
      const a = requestLogger(base, 'req-a');
      const b = requestLogger(base, 'req-b');
      a.info('a');
      b.info('b');
      a.info('a2');
      expect(cap.lines().map((l) => [l.message, l.correlationId])).toEqual([
        ['a', 'req-a'],
        ['b', 'req-b'],
        ['a2', 'req-a'],
      ]);
    } finally {
      cap.restore();
    }
  });
});
