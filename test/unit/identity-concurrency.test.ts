/**
 * Issue 14 must-show: concurrent writers for one person never lose or corrupt identity data. 20 concurrent creates
 * of one person (one NHS number, so one pseudonym) from 2 sources, each with its own name and local id, through the
 * real write path and the real local adapters (file version index, envelope identity vault with the local keyring,
 * pseudonymiser with the shipped policy), repeated: the person's identity records hold all 20 names and ids, and
 * every record decrypts, every time.
 */
import type { Patient } from 'fhir/r4';
import { faultRig } from './commit-faults';

const ROUNDS = 5;
const WRITERS = 20;

/** A valid NHS number (mod 11 check digit) from 9 digits. */
function nhsNumber(nine: string): string {
  const sum = [...nine].reduce((s, d, i) => s + Number(d) * (10 - i), 0);
  const check = 11 - (sum % 11);
  return check === 10 ? nhsNumber(String(Number(nine) + 1).padStart(9, '0')) : `${nine}${check === 11 ? 0 : check}`;
}

jest.setTimeout(120_000);

test(`${WRITERS} concurrent creates of one person from 2 sources, ${ROUNDS} rounds: every name and id kept, every record decrypts`, async () => {
  for (let round = 0; round < ROUNDS; round++) {
    const rig = await faultRig();
    const nhs = nhsNumber(`94347659${round}`);
    const writes = Array.from({ length: WRITERS }, (_, i) => {
      const source = i % 2 === 0 ? 'gp-a' : 'hospital-b';
      const body: Patient = {
        resourceType: 'Patient',
        identifier: [
          { system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhs },
          { system: `https://${source}.example/mrn`, value: `MRN-${round}-${i}` },
        ],
        name: [{ family: `Family${round}x${i}`, given: ['Oluwaseun'] }],
        birthDate: '1970-01-01',
      };
      return rig.send({ requestId: `r${round}-w${i}`, principal: { source, clientId: source }, method: 'POST', type: 'Patient', body });
    });
    const results = await Promise.all(writes);
    expect(results.map((r) => r.status)).toEqual(Array(WRITERS).fill(201));
    // one person: every identity record sits under one pseudonym
    const idKeys = [...rig.identityStore.objects.keys()].filter((k) => k.endsWith('.enc'));
    const people = new Set(idKeys.map((k) => k.split('/')[1]));
    expect(people.size).toBe(1);
    const [pseudonym] = [...people];
    const records = await rig.vault.get(pseudonym!); // throws if any record does not decrypt
    expect(records).toHaveLength(WRITERS);
    expect(new Set(records.map((r) => r.source))).toEqual(new Set(['gp-a', 'hospital-b']));
    const text = JSON.stringify(records.map((r) => r.record));
    for (let i = 0; i < WRITERS; i++) {
      expect(text).toContain(`Family${round}x${i}`);
      expect(text).toContain(`MRN-${round}-${i}`);
    }
    expect(text).toContain(nhs);
    // every record's request is one of the 20 and each appears once: nothing replaced, nothing lost
    expect(new Set(records.map((r) => r.requestId)).size).toBe(WRITERS);
  }
});
