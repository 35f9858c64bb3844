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
