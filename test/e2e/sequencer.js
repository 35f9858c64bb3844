// Runs the e2e files in a fixed order, with the audit-trail check last: it counts every request the suite made.
// The documentation examples run just before it: they load sample data that would change what other files measure.
const Sequencer = require('@jest/test-sequencer').default;

class E2eSequencer extends Sequencer {
  sort(tests) {
    const last = (p) => (/zz-[^/]*\.test\.ts$/.test(p) ? 2 : /docs-examples\.test\.ts$/.test(p) ? 1 : 0);
    return [...tests].sort((a, b) => last(a.path) - last(b.path) || a.path.localeCompare(b.path));
  }
}
module.exports = E2eSequencer;
