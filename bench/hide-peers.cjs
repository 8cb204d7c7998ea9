// Preloaded by bench/observe-server.js's "absent" mode: makes the optional peers of metrics
// and traces unresolvable, to measure the library as it runs where they are not installed.
const Module = require('node:module');
const hidden = new Set(['prom-client', '@opentelemetry/api']);
const resolve = Module._resolveFilename;
Module._resolveFilename = function resolveFilename(request, ...rest) {
  if (hidden.has(request)) throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
  return resolve.call(this, request, ...rest);
};
