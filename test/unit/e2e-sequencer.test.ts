/**
 * The e2e order (test/e2e/sequencer.js): the marts-heavy files first (a local query's cost grows with the mart
 * files the other files leave), the documentation examples next to last, the audit-trail check last.
 */
import fs from 'node:fs';
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const Sequencer = require('../e2e/sequencer.js');

test('marts and linkage run first, docs-examples next to last, zz-audit-trail last, the rest by name', () => {
  const dir = path.resolve(__dirname, '../e2e');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.test.ts'));
  const tests = files.reverse().map((f) => ({ path: path.join(dir, f), context: {} }));
  const order = new Sequencer().sort(tests).map((t: { path: string }) => path.basename(t.path));
  expect(order.slice(0, 2)).toEqual(['marts.test.ts', 'linkage.test.ts']);
  expect(order.slice(-2)).toEqual(['docs-examples.test.ts', 'zz-audit-trail.test.ts']);
  const middle = order.slice(2, -2);
  expect(middle).toEqual([...middle].sort());
  expect(order).toHaveLength(files.length);
});
