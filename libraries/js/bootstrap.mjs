/*
 * ES module entry point of the Datadog Node.js library package, installed by apm-inject.
 *
 * ES module applications get `--import=<tracer dir>/bootstrap.mjs` after
 * `--require=<tracer dir>/bootstrap.cjs` in NODE_OPTIONS (node runs `--require` first). When
 * `bootstrap.cjs` loaded the tracer (a process the launcher decided on, whose dd-trace
 * guardrails started the tracer), this imports dd-trace's `initialize.mjs`, which registers its
 * ES module loader hook; otherwise it does nothing. Like `bootstrap.cjs`, it never throws into
 * the application and writes nothing.
 */
import { createRequire } from 'module'

const require = createRequire(import.meta.url)

let loaded = false
try {
  loaded = require('./bootstrap.cjs').loaded === true
} catch (e) {}

if (loaded) {
  try {
    await import('./node_modules/dd-trace/initialize.mjs')
  } catch (e) {}
}
