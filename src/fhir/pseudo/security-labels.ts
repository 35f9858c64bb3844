/**
 * The labels every pseudonymised resource carries in `Resource.meta` (https://hl7.org/fhir/R4/resource.html#Meta):
 * the HL7 security label PSEUDED (https://hl7.org/fhir/R4/security-labels.html, from v3 ObservationValue) in
 * `meta.security`, and the policy and key versions in `meta.tag`, so data can be re-keyed after a rotation.
 */

/** meta.security label on every pseudonymised resource (v3 ObservationValue PSEUDED). */
export const PSEUDED = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'PSEUDED',
  display: 'pseudonymized',
} as const;
/** meta.tag system carrying the policy version. */
export const POLICY_TAG_SYSTEM = 'https://tributary.nhs.example/fhir/CodeSystem/pseudonymisation-policy';
/** meta.tag system carrying the key version (so keys can be rotated and old data re-keyed). */
export const KEY_TAG_SYSTEM = 'https://tributary.nhs.example/fhir/CodeSystem/pseudonymisation-key';

type Json = Record<string, any>;

/**
 * Labels `meta` (in place) as pseudonymised under `policyVersion` and `keyVersion`: one PSEUDED security label
 * and one tag of each system, replacing any the source sent. Other labels and tags are kept.
 * @returns `meta`.
 */
export function labelMeta(meta: Json, policyVersion: string, keyVersion: string): Json {
  const sec: Json[] = Array.isArray(meta.security) ? meta.security.filter((s: Json) => !(s.system === PSEUDED.system && s.code === PSEUDED.code)) : [];
  sec.push({ ...PSEUDED });
  meta.security = sec;
  const tags: Json[] = Array.isArray(meta.tag) ? meta.tag.filter((t: Json) => t.system !== POLICY_TAG_SYSTEM && t.system !== KEY_TAG_SYSTEM) : [];
  tags.push({ system: POLICY_TAG_SYSTEM, code: policyVersion }, { system: KEY_TAG_SYSTEM, code: keyVersion });
  meta.tag = tags;
  return meta;
}
