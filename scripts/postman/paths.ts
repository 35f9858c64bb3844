/**
 * Where the Postman collection's inputs and outputs are: the repository root, openapi.yaml, the committed
 * collection and environment (postman/), and the name of the folder of planned operations.
 */
import fs from 'node:fs';
import path from 'node:path';

/** The repository root (works from scripts/postman/ under ts-jest and from dist/scripts/postman/). */
function repoRoot(): string {
  let d = __dirname;
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(d, 'openapi.yaml')) && fs.existsSync(path.join(d, 'package.json'))) return d;
    d = path.dirname(d);
  }
  throw new Error('cannot find the repository root (openapi.yaml)');
}

export const ROOT = repoRoot();
export const OPENAPI_FILE = path.join(ROOT, 'openapi.yaml');
export const COLLECTION_FILE = path.join(ROOT, 'postman', 'tributary.postman_collection.json');
export const ENVIRONMENT_FILE = path.join(ROOT, 'postman', 'local.postman_environment.json');
export const PLANNED_FOLDER = 'Planned (documented, not deployed yet)';
