'use strict';
/**
 * A local Serverless plugin for `serverless offline` (listed in serverless.yml; it does nothing in AWS): makes the
 * local server deliver request bodies and refuse bad transfers the way API Gateway with `binaryMediaTypes: ['*\/*']`
 * does, so the API handler sees the same thing in both places (docs/bad-input.md):
 * - every request body reaches the handler as its exact bytes (base64, `isBase64Encoded: true`), so bytes that are
 *   not UTF-8 are refused by the handler instead of being turned into U+FFFD by the server (serverless-offline
 *   decodes every body but octet-stream and multipart as UTF-8 text);
 * - a body that does not arrive in full within BODY_TIMEOUT_MS (default 10 s) is answered 408 and the connection
 *   closed (hapi's own payload timeout cannot answer: on a payload error hapi first drains the request, which waits
 *   for the rest of a body that never comes; Node's own `requestTimeout` answers only after 5 minutes, not in FHIR);
 * - hapi's own refusals (a body over its 10 MB limit: 413; a malformed transfer: 400) answer a FHIR
 *   OperationOutcome (application/fhir+json, with an `X-Request-Id` as every API response) instead of hapi's
 *   `{"statusCode":413,...}`. These never reach a handler, so they have no audit record (as API Gateway's own).
 * serverless-offline builds its hapi server from `@hapi/hapi` and has no setting for these, so the plugin wraps the
 * server's `route` to add one `onRequest`, one `onPreHandler` and one `onPreResponse` extension per server. It is
 * loaded before the server exists (plugin constructors run when the CLI starts).
 */

const { randomUUID } = require('node:crypto');

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
  const res = h.response(JSON.stringify(outcome(status))).code(status).type('application/fhir+json; charset=utf-8').header('X-Request-Id', randomUUID());
  if (status === 408 || status === 413 || status === 400) res.header('Connection', 'close');
  return res.takeover();
}

/** The 408 answer, written on the raw response (hapi may be stuck draining the request). */
function answerTimeout(req, res) {
  if (req.complete) return;
  if (!res.headersSent && !res.writableEnded) {
    const body = JSON.stringify(outcome(408));
    res.writeHead(408, {
      'Content-Type': 'application/fhir+json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'X-Request-Id': randomUUID(),
      Connection: 'close',
    });
    res.end(body, () => req.socket.destroy());
  } else req.socket.destroy();
}

/** onRequest: a timer on the arrival of the whole body. */
function bodyTimer(request, h) {
  const req = request.raw.req;
  const res = request.raw.res;
  const length = req.headers['content-length'];
  if (req.complete || (!req.headers['transfer-encoding'] && (length === undefined || length === '0'))) return h.continue;
  const timer = setTimeout(answerTimeout, BODY_TIMEOUT_MS, req, res);
  const clear = () => clearTimeout(timer);
  req.once('end', clear);
  req.once('close', clear);
  res.once('finish', clear);
  res.once('close', clear);
  return h.continue;
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
      this.ext('onRequest', bodyTimer);
      this.ext('onPreHandler', rawBodies);
      this.ext('onPreResponse', fhirErrors);
    }
    for (const o of [].concat(options)) {
      const payload = o && o.options && o.options.payload;
      if (payload && typeof payload === 'object') payload.timeout = false; // the onRequest timer answers instead
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
