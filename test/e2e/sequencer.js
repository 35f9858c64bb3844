// Runs the e2e files in a fixed order:
// - first the files that query the marts most (marts, then linkage): a local query binds every Parquet file of the
//   views it reads (docs/known-gaps.md), so its cost grows with the files the other files' loads leave; run after
//   them (15,000 files), these two took 12 minutes instead of 5;
// - then the rest by name;
// - the documentation examples next to last: they load sample data that would change what other files measure;
// - the audit-trail check (zz-*) last: it counts every request the suite made.
const Sequencer = require('@jest/test-sequencer').default;

const FIRST = [/\/marts\.test\.ts$/, /\/linkage\.test\.ts$/];

/** Sort key of an e2e file (lower runs earlier). */
function rank(p) {
  const first = FIRST.findIndex((re) => re.test(p));
  if (first >= 0) return first - FIRST.length;
  return /zz-[^/]*\.test\.ts$/.test(p) ? 2 : /docs-examples\.test\.ts$/.test(p) ? 1 : 0;
}

class E2eSequencer extends Sequencer {
  sort(tests) {
    return [...tests].sort((a, b) => rank(a.path) - rank(b.path) || a.path.localeCompare(b.path));
  }
}
module.exports = E2eSequencer;
module.exports.rank = rank;
