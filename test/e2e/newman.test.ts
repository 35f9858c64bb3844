/**
 * The committed Postman collection (postman/tributary.postman_collection.json), run with newman against the
 * stack started by global-setup.js: every assertion must pass. A second run with a bad token shows that the
 * collection's assertions do fail when the API misbehaves for the client.
 */
import { run } from '../../scripts/postman';
import { stack } from './helpers';
import { authHeaders } from './openapi-validator';

async function bearer(): Promise<string> {
  const h = await authHeaders();
  return (h.Authorization ?? '').replace(/^Bearer\s+/i, '');
}

describe('Postman collection with newman', () => {
  test('every request and assertion passes against the local stack', async () => {
    const summary = await run({ baseUrl: stack().baseUrl, token: await bearer() });
    expect(summary.failures).toEqual([]);
    expect(summary.assertions.failed).toBe(0);
    expect(summary.assertions.total).toBeGreaterThan(20);
    expect(summary.requests.total).toBeGreaterThan(30);
  });

  test('the assertions bite: with an invalid token the writes fail their status checks', async () => {
    const summary = await run({ baseUrl: stack().baseUrl, token: 'not-a-jwt', folders: ['Write'] });
    expect(summary.assertions.failed).toBeGreaterThan(10);
    expect(summary.failures).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ item: 'Create a Patient (201)', test: 'status is 201', message: expect.stringContaining('got 401') }),
      ]),
    );
  });
});
