/**
 * The committed Postman collection (postman/tributary.postman_collection.json), run with newman against the
 * stack started by global-setup.js: every assertion must pass. A second run with a bad token shows that the
 * collection's assertions do fail when the API misbehaves for the client.
 *
 * Every response newman receives, in both runs, is also checked against openapi.yaml (status, headers, body
 * schema) with ./openapi-validator, through newman's `request` event (see {@link recordingResponses}).
 */
import type { EventEmitter } from 'node:events';
import { run } from '../../scripts/postman';
import { newmanProblems, stack, type NewmanExchange } from './helpers';
import { authHeaders } from './openapi-validator';

async function bearer(): Promise<string> {
  const h = await authHeaders();
  return (h.Authorization ?? '').replace(/^Bearer\s+/i, '');
}

/**
 * Runs `fn` with newman's `run` wrapped so every run it starts reports each request/response (the `request`
 * event) to openapi.yaml's validator; resolves with what `fn` returned, the number of responses seen and the
 * contract problems found.
 */
async function recordingResponses<T>(fn: () => Promise<T>): Promise<{ result: T; responses: number; problems: string[] }> {
  // newman ships no typings; scripts/postman/run.ts requires the same module instance (one registry per test file)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const newman = require('newman') as { run: (...args: unknown[]) => EventEmitter };
  const original = newman.run;
  const problems: string[] = [];
  let responses = 0;
  newman.run = (...args: unknown[]) => {
    const emitter = original.apply(newman, args);
    emitter.on('request', (err: unknown, exchange: NewmanExchange) => {
      responses++;
      problems.push(...newmanProblems(stack().baseUrl, err, exchange));
    });
    return emitter;
  };
  try {
    const result = await fn();
    return { result, responses, problems };
  } finally {
    newman.run = original;
  }
}

describe('Postman collection with newman', () => {
  test('every request and assertion passes against the local stack, and every response matches openapi.yaml', async () => {
    const token = await bearer();
    const { result: summary, responses, problems } = await recordingResponses(() => run({ baseUrl: stack().baseUrl, token }));
    expect(summary.failures).toEqual([]);
    expect(summary.assertions.failed).toBe(0);
    expect(summary.assertions.total).toBeGreaterThan(20);
    expect(summary.requests.total).toBeGreaterThan(30);
    // each request's response went through the validator
    expect(responses).toBe(summary.requests.total);
    expect(problems).toEqual([]);
  });

  test('the assertions bite: with an invalid token the writes fail their status checks (responses still match openapi.yaml)', async () => {
    const { result: summary, responses, problems } = await recordingResponses(() =>
      run({ baseUrl: stack().baseUrl, token: 'not-a-jwt', folders: ['Write'] }),
    );
    expect(summary.assertions.failed).toBeGreaterThan(10);
    expect(summary.failures).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ item: 'Create a Patient (201)', test: 'status is 201', message: expect.stringContaining('got 401') }),
      ]),
    );
    expect(responses).toBe(summary.requests.total);
    expect(problems).toEqual([]);
  });
});
