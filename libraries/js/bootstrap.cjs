/*
 * Entry point of the Datadog Node.js library package, installed by apm-inject.
 *
 * The launcher puts `--require=<tracer dir>/bootstrap.cjs` into NODE_OPTIONS, where <tracer dir>
 * is the directory of the dd-trace that the package's supported_runtimes.json picked for this
 * Node.js (the package root for dd-trace 6, `dd-trace-5/` for dd-trace 5); each tracer directory
 * holds a copy of this file beside its `node_modules/dd-trace`. ES module applications also get
 * `--import=<tracer dir>/bootstrap.mjs`, which registers dd-trace's ES module hook once this file
 * has loaded the tracer.
 *
 * Only a process the launcher decided to instrument goes on: one that carries the launcher's
 * decision record (the first page of the launcher library's writable mapping, written by the
 * launcher in the process it decided on and dropped by `exec`) saying `outcome=injected`, found
 * in /proc/self/maps and read through /proc/self/mem. A node started without the launcher that
 * inherits NODE_OPTIONS (its LD_PRELOAD removed, or a program embedding Node.js) loads nothing.
 * An application that resolves its own dd-trace keeps it (`dd_trace_already_present`).
 *
 * Otherwise it loads dd-trace's `init` (whose guardrails still decide whether this Node.js is
 * supported) with dd-trace's entry-point telemetry module (`guardrails/telemetry`) replaced in
 * the require cache by a reporter of ours, which
 * 1. writes the outcome (complete, or abort/error with a reason) into the tracer's area of the
 *    launcher's status record, for `apm-inject status`;
 * 2. starts no process when the tracer loaded: `library_entrypoint.complete`, and the points
 *    dd-trace reports later (incompatible integrations), join dd-trace's own telemetry metrics
 *    (namespace `tracers`), sent with its next batch; only an abort or an error, when no tracer
 *    is running to send anything, goes to dd-trace's own sender, which runs
 *    $DD_TELEMETRY_FORWARDER_PATH.
 * In worker threads the tracer loads as in the main thread, but nothing is recorded or
 * reported again: the main thread did it for the process.
 *
 * It never throws into the application and never writes to standard output or error unless
 * DD_APM_INSTRUMENTATION_DEBUG is on (then where the launcher writes its own debug log). It must
 * parse on every Node.js that may inherit NODE_OPTIONS, so it is written in ES5.
 */
'use strict'

var fs = require('fs')
var path = require('path')

// The launcher's decision record (contract/src/status.rs): the first page of a private writable
// mapping of the launcher library in /proc/self/maps, its first line, what it says for a
// process the launcher instrumented, and where the tracer's area starts and how long it is.
var LAUNCHER = '/launcher.preload.so'
var HEADER = 'apm-inject-status 1\n'
var INJECTED = '\noutcome=injected\n'
var TRACER_OFFSET = 3072
var TRACER_AREA = 1024

var TRACER = path.join(__dirname, 'node_modules', 'dd-trace')
var TELEMETRY_MODULE = path.join(TRACER, 'packages', 'dd-trace', 'src', 'guardrails', 'telemetry.js')
var METRICS_MODULE = path.join(TRACER, 'packages', 'dd-trace', 'src', 'telemetry', 'metrics.js')

var isMainThread = true
try {
  isMainThread = require('worker_threads').isMainThread !== false
} catch (e) {}

function isTrue (value) {
  return ['true', '1'].indexOf(String(value).toLowerCase()) !== -1
}

/** A buffer of `size` zero bytes, without the deprecated constructor where possible. */
function zeros (size) {
  return Buffer.alloc ? Buffer.alloc(size) : new Buffer(size) // eslint-disable-line
}

/** Writes a debug message where the launcher writes its own, if debug logging is on. */
function debug (message) {
  if (!isTrue(process.env.DD_APM_INSTRUMENTATION_DEBUG)) return
  var line = 'datadog bootstrap[' + process.pid + ']: ' + message + '\n'
  var targets = (process.env.DD_APM_INSTRUMENTATION_OUTPUT_PATHS || 'stderr').split(',')
  for (var i = 0; i < targets.length; i++) {
    var target = targets[i].trim().replace(/^file:\/\//, '')
    try {
      if (target === 'stderr') {
        fs.writeSync(2, line)
      } else if (target.charAt(0) === '/') {
        fs.appendFileSync(target, line, { mode: 384 }) // 0600, as the launcher creates it
      }
    } catch (e) {}
  }
}

/** This process's decision record: {address, text} of its launcher part, or null if the
 * launcher decided nothing here. */
function launcherRecord () {
  var lines = fs.readFileSync('/proc/self/maps', 'binary').split('\n')
  var fd = -1
  try {
    for (var i = 0; i < lines.length; i++) {
      // "start-end perms offset dev inode path", the path perhaps " (deleted)"
      var fields = lines[i].split(/ +/)
      if (fields.length < 6 || fields[1] !== 'rw-p') continue
      var file = fields.slice(5).join(' ').replace(/ \(deleted\)$/, '')
      if (file.slice(-LAUNCHER.length) !== LAUNCHER) continue
      var address = parseInt(fields[0].slice(0, fields[0].indexOf('-')), 16)
      if (fd < 0) fd = fs.openSync('/proc/self/mem', 'r')
      var page = zeros(TRACER_OFFSET)
      fs.readSync(fd, page, 0, page.length, address)
      var text = page.toString('binary')
      if (text.slice(0, HEADER.length) === HEADER) return { address: address, text: text }
    }
  } finally {
    if (fd >= 0) fs.closeSync(fd)
  }
  return null
}

/** Whether the launcher decided to instrument this very process. */
function decidedHere () {
  try {
    var found = launcherRecord()
    return found !== null && found.text.indexOf(INJECTED) !== -1
  } catch (e) {
    return false
  }
}

/** The version of the dd-trace beside this file, e.g. "6.21.0". */
function tracerVersion () {
  try {
    return String(require(path.join(TRACER, 'package.json')).version)
  } catch (e) {
    return 'unknown'
  }
}

/** The entry-point outcome among `points` ({name, tags}), e.g. {outcome: 'abort', reason:
 * 'incompatible_runtime'}, or null. */
function outcomeOf (points) {
  for (var i = 0; i < points.length; i++) {
    var name = points[i].name
    if (name === 'complete' || name === 'abort' || name === 'error') {
      var reason = ''
      var tags = points[i].tags || []
      for (var j = 0; j < tags.length && !reason; j++) {
        var at = tags[j].indexOf(':')
        var key = tags[j].slice(0, at)
        if (key === 'reason' || key === 'error_type') reason = tags[j].slice(at + 1)
      }
      return { outcome: name, reason: reason }
    }
  }
  return null
}

/** Writes `result` ({outcome, reason}) into the tracer's area of the launcher's status record. */
function record (result) {
  var found = launcherRecord()
  if (found === null) return
  var text = 'apm-inject-tracer 1\noutcome=' + result.outcome + '\nreason=' +
    result.reason.replace(/\n/g, ' ') + '\ntracer_version=' + tracerVersion() + '\n'
  // The whole area, zero-padded: a later outcome (complete after a forced abort) replaces an
  // earlier, longer one entirely.
  var data = zeros(TRACER_AREA - 1)
  data.write(text, 0, data.length, 'binary')
  // The page is this process's own; /proc/self/mem reaches it (O_WRONLY).
  var fd = fs.openSync('/proc/self/mem', (fs.constants && fs.constants.O_WRONLY) || 1)
  try {
    fs.writeSync(fd, data, 0, data.length, found.address + TRACER_OFFSET)
  } finally {
    fs.closeSync(fd)
  }
}

/** Adds `points` to dd-trace's own telemetry metrics, sent with its next batch. */
function countInTracer (points) {
  if (!process.env.DD_INJECTION_ENABLED) return
  var tracers = require(METRICS_MODULE).manager.namespace('tracers')
  for (var i = 0; i < points.length; i++) {
    tracers.count('library_entrypoint.' + points[i].name, points[i].tags || []).inc()
  }
}

/** dd-trace's own entry-point telemetry sender, which runs the forwarder (a no-op when
 * DD_INJECTION_ENABLED or DD_TELEMETRY_FORWARDER_PATH is missing). */
function forwarderSender () {
  return require(TELEMETRY_MODULE)
}

/**
 * Replaces dd-trace's entry-point telemetry module in the require cache by a reporter that
 * records the outcome and sends points without a process once the tracer runs. `state.running`
 * becomes true when dd-trace reports `complete`.
 */
function installReporter (state) {
  var send = forwarderSender()
  require.cache[require.resolve(TELEMETRY_MODULE)].exports = function report (name, tags, resultMetadata, synchronous) {
    try {
      var points = typeof name === 'string' ? [{ name: name, tags: tags || [] }] : name
      var result = outcomeOf(points)
      var wasRunning = state.running
      if (result && !wasRunning) {
        state.running = result.outcome === 'complete'
        if (isMainThread) record(result)
      }
      if (!isMainThread) return
      if (state.running) {
        // Under DD_INJECT_FORCE dd-trace's sender keeps only complete and error points.
        if (isTrue(process.env.DD_INJECT_FORCE) && !wasRunning) {
          points = points.filter(function (p) { return p.name === 'complete' || p.name === 'error' })
        }
        countInTracer(points)
      } else {
        send(name, tags, resultMetadata, synchronous)
      }
    } catch (e) {
      debug('telemetry not reported: ' + e)
    }
  }
}

/** Whether the application's own dependencies resolve a dd-trace other than ours (dd-trace's
 * guardrails would then stand down silently). */
function appHasOwnTracer () {
  var Module = require('module')
  var script = process.argv[1]
  if (!script || !Module.createRequire) return false
  var found
  try {
    found = Module.createRequire(path.resolve(script)).resolve('dd-trace')
  } catch (e) {
    return false
  }
  return found !== require.resolve(TRACER)
}

/** Records and reports an outcome of ours (the tracer is not running): `name` is abort or
 * error, `tag` its reason, e.g. "reason:dd_trace_already_present". */
function standDown (name, tag) {
  debug('not instrumented: ' + tag)
  if (!isMainThread) return
  try {
    record(outcomeOf([{ name: name, tags: [tag] }]))
  } catch (e) {}
  try {
    forwarderSender()(name, [tag], undefined, true)
  } catch (e) {}
}

/** Loads the tracer if this process is one the launcher decided on; returns whether its
 * guardrails started it (dd-trace's `init` then exports the tracer). */
function start () {
  if (!decidedHere()) return false
  if (appHasOwnTracer()) {
    standDown('abort', 'reason:dd_trace_already_present')
    return false
  }
  try {
    installReporter({ running: false })
  } catch (e) {
    debug('entry-point telemetry not intercepted: ' + e)
  }
  var tracer
  try {
    tracer = require(path.join(TRACER, 'init'))
  } catch (error) {
    var kind = (error && error.constructor && error.constructor.name) || 'unknown'
    standDown('error', 'error_type:require_dd_trace_' + kind.toLowerCase())
    return false
  }
  debug(tracer ? 'tracer loaded' : 'tracer not started by its guardrails')
  return Boolean(tracer)
}

var loaded = false
try {
  loaded = start()
} catch (e) {
  debug('not instrumented: ' + e)
}

/** Whether this file loaded the tracer (`bootstrap.mjs` then registers its ES module hook). */
exports.loaded = loaded
