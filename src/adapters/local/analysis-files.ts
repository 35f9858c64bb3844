/**
 * Files of the safe-analysis path: the analysis registry (`analyses/<id>.sql` + `analyses/<id>.yaml`, the study
 * registry `analyses/studies.yaml`) and a folder of released files.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { AnalysisRefused } from '../../core/analysis/errors';
import type { AnalysisRegistry, RegisteredAnalysis, ReleaseFile, ReleaseSink } from '../../core/analysis/ports';
import { parseAnalysisSpec, parseStudies, type StudySpec } from '../../core/analysis/spec';

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes a file atomically (a temporary file renamed over it). */
async function writeAtomic(file: string, body: string, mode = 0o644): Promise<void> {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await fs.writeFile(tmp, body, { mode });
  await fs.rename(tmp, file);
}

/**
 * The registry as files in one folder (default `analyses/` of the project): `<id>.sql` is the analysis,
 * `<id>.yaml` (or `<id>.json`) its metadata, `studies.yaml` the studies.
 */
export class FileAnalysisRegistry implements AnalysisRegistry {
  constructor(readonly dir: string) {}

  private async metadataFile(id: string): Promise<{ file: string; text: string } | undefined> {
    for (const ext of ['yaml', 'yml', 'json']) {
      const file = path.join(this.dir, `${id}.${ext}`);
      const text = await readIfExists(file);
      if (text !== undefined) return { file, text };
    }
    return undefined;
  }

  /** The analysis; an SQL file without metadata is refused as unapproved (`approval-missing`). */
  async get(id: string): Promise<RegisteredAnalysis | undefined> {
    if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id)) return undefined;
    const sql = await readIfExists(path.join(this.dir, `${id}.sql`));
    if (sql === undefined) return undefined;
    const meta = await this.metadataFile(id);
    if (!meta) throw new AnalysisRefused('approval-missing', `analysis ${id} has no metadata (${id}.yaml) and so no approval`);
    let raw: unknown;
    try {
      raw = YAML.parse(meta.text);
    } catch (err) {
      throw new AnalysisRefused('spec-invalid', `analysis ${id}: ${path.basename(meta.file)} does not parse`, { cause: err });
    }
    const spec = parseAnalysisSpec(raw, id);
    return { sql, spec, raw: raw as Record<string, unknown> };
  }

  async studies(): Promise<Map<string, StudySpec>> {
    const text = await readIfExists(path.join(this.dir, 'studies.yaml'));
    if (text === undefined) return new Map();
    return parseStudies(YAML.parse(text));
  }

  /** Sets the approval fields in the metadata file, keeping its comments and the order of everything else. */
  async recordApproval(id: string, fields: Record<string, string>): Promise<void> {
    const meta = await this.metadataFile(id);
    if (!meta) throw new AnalysisRefused('approval-missing', `analysis ${id} has no metadata file to record the approval in`);
    if (meta.file.endsWith('.json')) {
      const obj = { ...(JSON.parse(meta.text) as Record<string, unknown>), ...fields };
      await writeAtomic(meta.file, JSON.stringify(obj, null, 2) + '\n');
      return;
    }
    const doc = YAML.parseDocument(meta.text);
    for (const [k, v] of Object.entries(fields)) doc.set(k, v);
    await writeAtomic(meta.file, doc.toString({ lineWidth: 0 }));
  }
}

/**
 * Released files in a local folder (created 0700, files 0600: a row-level extract is still personal data).
 * Refuses to overwrite an existing file, so one release never silently replaces another.
 */
export class FolderReleaseSink implements ReleaseSink {
  constructor(readonly dir: string) {}

  async write(files: ReleaseFile[]): Promise<string[]> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const out: string[] = [];
    for (const f of files) {
      const file = path.join(this.dir, path.basename(f.name));
      await fs.writeFile(file, f.body, { mode: 0o600, flag: 'wx' });
      out.push(file);
    }
    return out;
  }
}
