// The core extension definitions (context and value types) and the core SearchParameters (url -> type and base)
// of the profile validator model, for a few reference-validator business rules.
import path from 'node:path';
import { examplesDir, isCore, readJson } from './sources.mjs';

/**
 * The core extensions: where each may be used (element paths, `ext:` + an extension url, or `*`) and the types
 * its value may have.
 * @param sds every StructureDefinition of the examples package
 * @param typeCode the type code of an ElementDefinition type (./structures.mjs `typeCodeFor`)
 * @returns extension url -> { c: contexts, v: value types }
 */
export function coreExtensions(sds, typeCode) {
  const extensions = {};
  for (const sd of sds) {
    if (sd.type !== 'Extension' || sd.derivation !== 'constraint' || !isCore(sd) || !sd.snapshot) continue;
    const v = sd.snapshot.element.find((e) => e.path === 'Extension.value[x]' && !e.sliceName && !(e.id ?? '').includes(':'));
    const ctx = (sd.context ?? []).map((c) => (c.type === 'element' ? c.expression : c.type === 'extension' ? `ext:${c.expression}` : '*'));
    extensions[sd.url] = {
      c: ctx.includes('*') || ctx.length === 0 ? ['*'] : ctx,
      v: !v || v.max === '0' ? [] : (v.type ?? []).map(typeCode),
    };
  }
  return extensions;
}

/**
 * The core SearchParameters of the examples package.
 * @param files the file names of the hl7.fhir.r4.examples package
 * @returns search parameter url -> { t: type, b: base resource types }
 */
export function coreSearchParams(files) {
  const searchParams = {};
  for (const f of files) {
    if (!f.startsWith('SearchParameter-')) continue;
    const sp = readJson(path.join(examplesDir, f));
    if (sp.resourceType !== 'SearchParameter' || !sp.url?.startsWith('http://hl7.org/fhir/SearchParameter/')) continue;
    searchParams[sp.url] = { t: sp.type, b: sp.base ?? [] };
  }
  return searchParams;
}
