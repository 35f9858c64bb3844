'use strict';
/**
 * Serverless Framework v3 plugin: keeps request paths out of serverless-offline's own log lines.
 *
 * serverless-offline (v13) prints one line per request with the concrete path, e.g.
 * `PUT /fhir/Patient/MRN-88812 (λ: ingest)`: the client's resource id (an MRN) would land in the API log
 * (`npm start` writes it to DATA_DIR/logs/api.log). serverless-offline has no option to turn that line off, and
 * raising the framework's log level would hide every other notice too. This plugin rewrites just those lines to
 * the method and the function, `PUT (λ: ingest)`, and replaces the objects serverless-offline dumps at debug level
 * (`--debug`, `SLS_LOG_LEVEL=debug`: the whole event, payload and request template) with `[REDACTED]`.
 *
 * How: Serverless v3 gives each external plugin the logger `getPluginWriters(pluginName).log` of
 * @serverless/utils/log, memoised per plugin name; this plugin takes the same logger (the one serverless-offline
 * received) and puts a filter in front of its level methods. serverless-offline looks them up on every call, so
 * the filter applies whatever the plugin order. Nothing else in the framework's output changes.
 */
const { getPluginWriters } = require('@serverless/utils/log');

/** The plugins whose request lines are rewritten. */
const PLUGINS = ['serverless-offline'];

/** `PUT /fhir/Patient/x (λ: ingest)`, `Running Authorization function for PUT /fhir/x (λ: authorizer)`. */
const REQUEST_LINE = /^(Running Authorization function for )?([A-Z]+) \S+ (\(λ: [^)]*\))$/u;

/** The message of a log call with every request path removed: request lines lose their path. */
function redactRequestLine(message) {
  return typeof message === 'string' ? message.replace(REQUEST_LINE, '$1$2 $3') : message;
}

/** The arguments of a log call at `level`, safe to print. */
function sanitize(level, args) {
  return args.map((a) => (typeof a === 'string' ? redactRequestLine(a) : level === 'debug' ? '[REDACTED]' : a));
}

const LEVELS = ['error', 'warning', 'notice', 'info', 'verbose', 'debug'];

/** Puts the filter in front of each level method of `logger` (a `log` package logger). Idempotent. */
function filterLogger(logger) {
  if (logger.__tributaryFiltered) return logger;
  for (const level of LEVELS) {
    const target = logger[level];
    if (typeof target !== 'function') continue;
    Object.defineProperty(logger, level, {
      configurable: true,
      writable: true,
      value: (...args) => target(...sanitize(level, args)),
    });
  }
  Object.defineProperty(logger, '__tributaryFiltered', { value: true });
  return logger;
}

class OfflineRequestLog {
  constructor() {
    for (const name of PLUGINS) filterLogger(getPluginWriters(name).log);
  }
}

OfflineRequestLog.redactRequestLine = redactRequestLine;
OfflineRequestLog.sanitize = sanitize;
OfflineRequestLog.filterLogger = filterLogger;
module.exports = OfflineRequestLog;
