'use strict';
/**
 * A local Serverless plugin for `serverless offline` (listed in serverless.yml; it does nothing in AWS): makes the
 * local server deliver request bodies and refuse bad transfers the way API Gateway with `binaryMediaTypes: ['*\/*']`
 * does, so the API handler sees the same thing in both places (docs/bad-input.md):
 * - every request body reaches the handler as its exact bytes (base64, `isBase64Encoded: true`), so bytes that are
 *   not UTF-8 are refused by the handler instead of being turned into U+FFFD by the server (serverless-offline
 *   decodes every body but octet-stream and multipart as UTF-8 text);
 * - a body that stops arriving is answered 408 after BODY_TIMEOUT_MS (default 10 s) of waiting for it;
 * - hapi's own refusals (a body over its 10 MB limit: 413; the timeout: 408; a malformed transfer: 400) answer a
 *   FHIR OperationOutcome (application/fhir+json) instead of hapi's `{"statusCode":413,...}`.
 * serverless-offline builds its hapi server from `@hapi/hapi`, which has no setting for these, so the plugin wraps
 * the server's `route` (payload timeout, one `onPreHandler` and one `onPreResponse` extension per server). It is
 * loaded before the server exists (plugin constructors run when the CLI starts).
 */

const BODY_TIMEOUT_MS = Number(process.env.BODY_TIMEOUT_MS || 10000);
const STATUS_SYSTEM = 'https://tributary.nhs.example/fhir/CodeSystem/http-status';

/** The FHIR issue type of a transport refusal. */
const ISSUE = { 400: 'structure', 408: 'timeout', 413: 'too-costly', 415: 'not-supported' };

/** Messages that say what to do, without echoing anything of the request. */
const MESSAGE = {
  400: 'The request could not be read (malformed transfer or headers)',
  408: `The request body did not arrive within ${BODY_TIMEOUT_MS / 1000} s`,
  413: 'Request body is larger than the local server accepts (10 MB, as API Gateway); the API limit is MAX_BODY_BYTES',
  415: 'Unsupported media type; use application/fhir+json',
};

/** An OperationOutcome body for an HTTP status (the shape src/fhir/outcomes.ts builds). */
function outcome(status) {
  const code = ISSUE[status] || (status >= 500 ? 'exception' : 'invalid');
  const diagnostics = MESSAGE[status] || (status >= 500 ? 'Internal server error' : `Request refused by the local server (${status})`);
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, details: { coding: [{ system: STATUS_SYSTEM, code: String(status) }] }, diagnostics }],
  };
}

/** onPreResponse: hapi's own errors (Boom) as FHIR OperationOutcomes. */
function fhirErrors(request, h) {
  const r = request.response;
  if (!r || !r.isBoom) return h.continue;
  const status = r.output.statusCode;
  const res = h.response(JSON.stringify(outcome(status))).code(status).type('application/fhir+json; charset=utf-8');
  if (status === 408 || status === 413 || status === 400) res.header('Connection', 'close');
  return res.takeover();
}

/** onPreHandler: serverless-offline passes the body as bytes (base64) when it thinks the content type is binary. */
function rawBodies(request, h) {
  if (request.payload !== null && request.payload !== undefined) {
    const ct = request.headers['content-type'];
    request.headers['content-type'] = `${typeof ct === 'string' ? ct : ''};application/octet-stream`;
  }
  return h.continue;
}

function patchHapi() {
  let Hapi;
  try {
    Hapi = require('@hapi/hapi');
  } catch {
    return;
  }
  const proto = Object.getPrototypeOf(Hapi.server({ autoListen: false }));
  if (proto.__tributaryBodies) return;
  Object.defineProperty(proto, '__tributaryBodies', { value: true });
  const route = proto.route;
  proto.route = function tributaryRoute(options) {
    if (!this.__tributaryExt) {
      Object.defineProperty(this, '__tributaryExt', { value: true });
      this.ext('onPreHandler', rawBodies);
      this.ext('onPreResponse', fhirErrors);
    }
    for (const o of [].concat(options)) {
      const payload = o && o.options && o.options.payload;
      if (payload && typeof payload === 'object') payload.timeout = BODY_TIMEOUT_MS;
    }
    return route.call(this, options);
  };
}

class OfflineFhirBodies {
  constructor() {
    this.hooks = {};
    patchHapi();
  }
}

module.exports = OfflineFhirBodies;
module.exports.outcome = outcome;
module.exports.patchHapi = patchHapi;
