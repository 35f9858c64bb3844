// Value sets for required bindings: each bound value set enumerated (from its expansion in the R4 packages, or
// from a compose of whole enumerable code systems and concept lists), or the reason it cannot be.
import fs from 'node:fs';
import path from 'node:path';
import { examplesDir, expansionsDir, readJson } from './sources.mjs';

/** Every code of a CodeSystem, nested concepts included. */
function csCodes(cs) {
  const acc = [];
  const walk = (cs2) => {
    for (const c of cs2 ?? []) {
      acc.push(c.code);
      walk(c.concept);
    }
  };
  walk(cs.concept);
  return acc;
}
/** The ValueSet resource of a canonical url, from the expansions package first, else the examples package. */
function readValueSetResource(url) {
  const id = url.split('/').pop();
  for (const dir of [expansionsDir, examplesDir]) {
    const f = path.join(dir, `ValueSet-${id}.json`);
    if (fs.existsSync(f)) {
      const vs = readJson(f);
      if (vs.url === url) return vs;
    }
  }
  return undefined;
}

/**
 * The value sets of the model, built as bindings are met (in that order).
 * @param files the file names of the hl7.fhir.r4.examples package (for its CodeSystems)
 * @returns `valueSets` ({ url, systems: [[system, codes[]]] }), `skippedValueSets` (url -> reason) and
 *   `valueSetRef(canonical)`, the index of a value set in `valueSets` (or -1 when it is not enumerable)
 */
export function createValueSets(files) {
  const valueSets = []; // { url, systems: [[system, codes[]]] }
  const vsIndex = new Map(); // url -> index | -1 (not enumerable)
  const skippedValueSets = new Map(); // url -> reason
  let codeSystemsByUrl;
  function loadCodeSystems() {
    if (codeSystemsByUrl) return codeSystemsByUrl;
    codeSystemsByUrl = new Map();
    for (const f of files) {
      if (!f.startsWith('CodeSystem-')) continue;
      const cs = readJson(path.join(examplesDir, f));
      codeSystemsByUrl.set(cs.url, cs);
    }
    return codeSystemsByUrl;
  }
  /** Returns [[system, codes]] or a string reason why the value set is not enumerable here. */
  function enumerate(url, depth = 0) {
    const vs = readValueSetResource(url);
    if (!vs) return 'value set not found in the R4 packages';
    const bySystem = new Map();
    const add = (system, code) => {
      if (!bySystem.has(system)) bySystem.set(system, new Set());
      bySystem.get(system).add(code);
    };
    if (vs.expansion && !(vs.expansion.parameter ?? []).some((p) => p.name === 'limitedExpansion')) {
      let n = 0;
      const walk = (cs) => {
        for (const c of cs ?? []) {
          if (c.code !== undefined) {
            add(c.system ?? '', c.code);
            n++;
          }
          walk(c.contains);
        }
      };
      walk(vs.expansion.contains);
      if (n > 0 && (vs.expansion.total === undefined || vs.expansion.total <= n)) return [...bySystem].map(([s, c]) => [s, [...c]]);
    }
    // No (usable) expansion: enumerate the compose when it only includes whole enumerable code systems or concept lists.
    if (!vs.compose) return 'no expansion and no compose';
    if (depth > 3) return 'value set nesting too deep';
    for (const inc of vs.compose.include ?? []) {
      if (inc.filter?.length) return `include of ${inc.system} uses a filter`;
      for (const nested of inc.valueSet ?? []) {
        const r = enumerate(nested.split('|')[0], depth + 1);
        if (typeof r === 'string') return `imports ${nested}: ${r}`;
        for (const [s, cs] of r) for (const c of cs) add(s, c);
      }
      if (!inc.system) continue;
      if (inc.concept?.length) {
        for (const c of inc.concept) add(inc.system, c.code);
        continue;
      }
      const cs = loadCodeSystems().get(inc.system);
      if (!cs) return `code system ${inc.system} is not in the R4 packages`;
      if (cs.content !== 'complete') return `code system ${inc.system} is not complete in the package (${cs.content})`;
      for (const c of csCodes(cs)) add(inc.system, c);
    }
    if ((vs.compose.exclude ?? []).length) return 'compose has excludes';
    if (!bySystem.size) return 'value set is empty';
    return [...bySystem].map(([s, c]) => [s, [...c]]);
  }
  function valueSetRef(canonical) {
    const url = canonical.split('|')[0];
    if (vsIndex.has(url)) return vsIndex.get(url);
    const r = enumerate(url);
    if (typeof r === 'string') {
      skippedValueSets.set(url, r);
      vsIndex.set(url, -1);
      return -1;
    }
    valueSets.push({ url, systems: r });
    vsIndex.set(url, valueSets.length - 1);
    return valueSets.length - 1;
  }
  return { valueSets, skippedValueSets, valueSetRef };
}
