// Starts the real local stack (s3rver + serverless-offline + local SNS endpoint) once for the e2e project.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

module.exports = async function globalSetup() {
  const dist = path.resolve(__dirname, '../../dist/scripts/start.js');
  if (!fs.existsSync(dist)) throw new Error('dist/ is missing: run `npm test` (it builds first) or `npm run build`');
  const { startStack } = require(dist);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-e2e-'));
  const port = Number(process.env.E2E_PORT || 3400);
  const stack = await startStack({
    port,
    s3Port: port + 67,
    snsPort: port + 57,
    issuerPort: port + 77,
    consolePort: port + 87,
    dataDir,
    quiet: true,
    env: { SOURCE_SYSTEM: 'e2e-source', POWERTOOLS_LOG_LEVEL: 'INFO', TRIAGE_SOURCES: 'triage-src' },
  });
  globalThis.__TRIBUTARY_STACK__ = stack;
  const info = { baseUrl: stack.baseUrl, s3Endpoint: stack.s3Endpoint, snsEndpoint: stack.snsEndpoint, issuer: stack.issuer, consoleUrl: stack.consoleUrl, dataDir, logFile: stack.logFile };
  fs.writeFileSync(path.join(os.tmpdir(), `tributary-e2e-${port}.json`), JSON.stringify(info));
  process.env.TRIBUTARY_E2E = JSON.stringify(info);
};
