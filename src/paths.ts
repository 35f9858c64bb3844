/**
 * Finds files shipped beside the code (generated/, policy/, views/, rules/) from `src/` (ts-jest), `dist/src/`
 * (node) or the Lambda package root, by walking up from this file.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Absolute path of `rel` in the project (or package) root; throws a clear error when missing. */
export function projectFile(rel: string): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, rel);
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(`${rel} not found beside the code (did \`npm run build\` run?)`);
}

/**
 * Reads the pseudonymisation policy file (e.g. `policy/pseudonymisation.yaml`) as text, for `parsePolicy` in
 * `src/fhir/pseudo` (which takes text and reads no files).
 * @throws the fs error when the file cannot be read.
 */
export function readPolicyText(file: string): Promise<string> {
  return fs.promises.readFile(file, 'utf8');
}
