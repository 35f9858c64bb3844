/**
 * The triage area through the API: a triage-enabled source's invalid resource is still refused with the
 * OperationOutcome, and kept (encrypted) in the triage bucket; a source without triage leaves nothing there.
 */
import { bucket, send, token } from './helpers';

const invalid = { resourceType: 'Observation', status: 'finished', code: { text: 'pulse' } };

test('refused AND held for a triage-enabled source; only refused for the others', async () => {
  const before = await bucket('tributary-triage').list('items/');
  const other = await send('POST', '/Observation', invalid);
  expect(other.status).toBe(400);
  expect(await bucket('tributary-triage').list('items/')).toEqual(before);

  const t = await token('triage-src', 'system/*.write');
  const r = await send('POST', '/Observation', invalid, { Authorization: `Bearer ${t}` });
  expect(r.status).toBe(400);
  expect(r.json.issue[0].expression).toEqual(['Observation.status']);
  const id = r.headers.get('x-request-id')!;
  const items = await bucket('tributary-triage').list(`items/${id}/`);
  expect(items.sort()).toEqual([`items/${id}/payload.enc`, `items/${id}/summary.json`]);
  const summary = JSON.parse(Buffer.from((await bucket('tributary-triage').get(`items/${id}/summary.json`))!).toString());
  expect(summary).toMatchObject({ id, source: 'triage-src', state: 'held', resourceTypes: { Observation: 1 } });

  // a batch: only the failing entry is held
  const batch = await send(
    'POST',
    '',
    {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        { resource: invalid, request: { method: 'POST', url: 'Observation' } },
      ],
    },
    { Authorization: `Bearer ${t}` },
  );
  expect(batch.status).toBe(200);
  const bid = batch.headers.get('x-request-id')!;
  expect(await bucket('tributary-triage').list(`items/${bid}-1/`)).toHaveLength(2);
  expect(await bucket('tributary-triage').list(`items/${bid}-0/`)).toHaveLength(0);
});
