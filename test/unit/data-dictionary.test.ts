/**
 * The data dictionary in docs/marts.md is the generator's output (scripts/data-dictionary.ts), so it cannot drift
 * from the ViewDefinitions and the catalogue code; and the generator documents every mart, column and join.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BEGIN, END, committedSection, projectDataDictionary, renderDataDictionary, spliceSection } from '../../scripts/data-dictionary';
import { LINEAGE_COLUMNS, PARTITION_KEYS, VERSIONS_COLUMNS } from '../../src/core/catalog';
import { loadViews } from '../../src/fhir/views';
import { readViewFiles } from '../../src/paths';

const ROOT = path.resolve(__dirname, '../..');
const views = loadViews(readViewFiles(path.join(ROOT, 'views')));

test('docs/marts.md holds exactly what `npm run docs:marts` generates', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/marts.md'), 'utf8');
  const committed = committedSection(doc);
  expect(committed.startsWith(BEGIN)).toBe(true);
  // on failure: run `npm run build && npm run docs:marts` and commit docs/marts.md
  expect(committed).toBe(projectDataDictionary());
});

test('every mart has a section with its grain, join keys and every column with its types', () => {
  const md = renderDataDictionary(views);
  expect(views.length).toBeGreaterThanOrEqual(10);
  for (const v of views) {
    const section = md.split(`\n### ${v.name}\n`)[1]?.split('\n### ')[0];
    expect(section).toBeDefined();
    expect(section).toContain('**Grain**: one row per ');
    expect(section).toContain('**Join keys**: ');
    for (const c of v.compiled.columns) {
      expect(section).toContain(`| \`${c.name}\` | \`${c.duckdbType}\` | \`${c.glueType}\` |`);
    }
  }
  for (const c of [...LINEAGE_COLUMNS, ...PARTITION_KEYS, ...VERSIONS_COLUMNS]) expect(md).toContain(`| \`${c.name}\` |`);
  expect(md).toContain('### resource_versions');
  expect(md).toContain('### raw_{type}');
});

test('grain and join keys are derived from the view: forEach rows, %rowIndex keys, references to marts or raw tables', () => {
  const md = renderDataDictionary(views);
  expect(md).toContain('| [`observation_component`](#observation_component) | Observation | Observation.component | `_source`, `observation_id`, `component_index` |');
  expect(md).toContain('`observation_id` → `observation.id`');
  expect(md).toContain('`encounter_id` → `encounter.id`');
  expect(md).toContain('`service_provider_id` → `organization.id`');
  expect(md).toContain('`medication_id` → `raw_medication`');
  expect(md).toMatch(/`addresses_condition_ids` → `condition.id` \(a list/);
});

test('a column added to a view shows up in the dictionary (the comparison above would then fail until regenerated)', () => {
  const file = path.join(ROOT, 'views/observation.json');
  const def = JSON.parse(fs.readFileSync(file, 'utf8'));
  def.select[0].column.push({ name: 'note_text', path: 'note.text.first()', type: 'markdown', description: 'First note' });
  const edited = loadViews(readViewFiles(path.join(ROOT, 'views')).map((f) => (f.file === file ? { file, text: JSON.stringify(def) } : f)));
  const md = renderDataDictionary(edited);
  expect(md).toContain('| `note_text` | `VARCHAR` | `string` | markdown | `note.text.first()` | First note |');
  expect(md).not.toBe(renderDataDictionary(views));
});

test('spliceSection replaces only the generated section and refuses a document without markers', () => {
  const doc = `# Title\n\nprose\n\n${BEGIN}\nold\n${END}\n\nafter\n`;
  expect(spliceSection(doc, `${BEGIN}\nnew\n${END}\n`)).toBe(`# Title\n\nprose\n\n${BEGIN}\nnew\n${END}\n\nafter\n`);
  expect(() => spliceSection('# no markers\n', 'x')).toThrow(/markers/);
});
