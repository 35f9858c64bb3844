// `npm run build`: code generation (ahead-of-time validators), then the TypeScript compile (type-checks everything).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
run(process.execPath, ['scripts/gen-schema-validator.mjs']);
run(process.execPath, ['scripts/gen-profile-validator.mjs']);
// a clean dist/: a module moved or deleted in src/ must not live on as a stale .js that `require` still finds
fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
