'use strict'
/**
 * Entry point of the OpenTelemetry Node.js library package, installed by apm-inject
 * (`opentelemetry-apm-library-js`). The launcher appends `--require=<package>/bootstrap.cjs` to
 * NODE_OPTIONS of a Node.js it decided to instrument with `sdk: opentelemetry`.
 *
 * It goes on only in the process the launcher decided on, on the main thread: the launcher's
 * decision record (the first page of the launcher library's writable mapping, dropped by `exec`) must say
 * `outcome=injected` and `sdk=opentelemetry`. A program that merely inherits NODE_OPTIONS
 * (an Electron app, a node started without the launcher) loads nothing. An application whose
 * own dependencies resolve `@opentelemetry/sdk-node` keeps its own SDK
 * (`opentelemetry_already_present`). Otherwise it registers
 * `@opentelemetry/auto-instrumentations-node` (its `register` entry: the Node.js SDK with every
 * instrumentation, configured by the OTEL_* variables), and writes the outcome into the
 * record's tracer area for `apm-inject status`.
 *
 * It never throws into the application and writes nothing unless
 * DD_APM_INSTRUMENTATION_DEBUG is on.
 */
var fs = require('fs')
var path = require('path')
var Module = require('module')

// The launcher's decision record (contract/src/status.rs): the first page of a private writable
// mapping of the launcher library, and its first line.
var LAUNCHER = '/launcher.preload.so'
var HEADER = 'apm-inject-status 1'
var TRACER_OFFSET = 3072
var PACKAGE = '@opentelemetry/auto-instrumentations-node'

/** One line to the launcher's log destinations, when debug logging is on. */
function log (message) {
  if (!/^(true|1)$/i.test(process.env.DD_APM_INSTRUMENTATION_DEBUG || '')) return
  var destinations = (process.env.DD_APM_INSTRUMENTATION_OUTPUT_PATHS || 'stderr').split(',')
  destinations.forEach(function (destination) {
    var file = destination.trim().replace(/^file:\/\//, '')
    var line = 'opentelemetry bootstrap[' + process.pid + ']: ' + message + '\n'
    try {
      if (file === 'stderr') fs.writeSync(2, line)
      else if (file.charAt(0) === '/') fs.appendFileSync(file, line, { mode: 384 })
    } catch (e) {}
  })
}

/** The record in this process: {address, lines} of its launcher part, or null when the
 * launcher decided nothing here. */
function launcherRecord () {
  var lines = fs.readFileSync('/proc/self/maps', 'latin1').split('\n')
  var fd = -1
  try {
    for (var i = 0; i < lines.length; i++) {
      // "start-end perms offset dev inode path", the path perhaps " (deleted)"
      var fields = lines[i].split(/ +/)
      if (fields.length < 6 || fields[1] !== 'rw-p') continue
      var file = fields.slice(5).join(' ').replace(/ \(deleted\)$/, '')
      if (!file.endsWith(LAUNCHER)) continue
      var address = parseInt(fields[0].split('-')[0], 16)
      if (fd < 0) fd = fs.openSync('/proc/self/mem', 'r')
      var page = Buffer.alloc(TRACER_OFFSET)
      fs.readSync(fd, page, 0, page.length, address)
      var text = page.toString('latin1').split('\0')[0].split('\n')
      if (text[0] === HEADER) return { address: address, lines: text }
    }
  } finally {
    if (fd >= 0) fs.closeSync(fd)
  }
  return null
}

/** Writes the outcome ("complete", or "abort"/"error" with `reason`) into the tracer's area. */
function writeOutcome (address, outcome, reason) {
  var version = ''
  try {
    // Read, not required: nothing of the package enters the application's module cache.
    var meta = path.join(__dirname, 'node_modules', PACKAGE, 'package.json')
    version = JSON.parse(fs.readFileSync(meta, 'utf8')).version
  } catch (e) {}
  var area = Buffer.alloc(1023)
  area.write('apm-inject-tracer 1\noutcome=' + outcome + '\nreason=' + reason +
    '\ntracer_version=' + version + '\n', 'latin1')
  var fd = fs.openSync('/proc/self/mem', 'w')
  try {
    fs.writeSync(fd, area, 0, area.length, address + TRACER_OFFSET)
  } finally {
    fs.closeSync(fd)
  }
}

/** Whether the application's own dependencies resolve an OpenTelemetry Node.js SDK. */
function applicationHasSdk () {
  var main = process.argv[1]
  if (!main) return false
  try {
    var resolved = Module.createRequire(path.resolve(main)).resolve('@opentelemetry/sdk-node')
    return resolved.indexOf(__dirname + path.sep) !== 0
  } catch (e) {
    return false
  }
}

function start () {
  if (!require('worker_threads').isMainThread) return
  var found = launcherRecord()
  if (found === null) return
  var record = found.lines
  if (record.indexOf('outcome=injected') < 0 || record.indexOf('sdk=opentelemetry') < 0) return
  var outcome = ['complete', '']
  if (applicationHasSdk()) {
    outcome = ['abort', 'opentelemetry_already_present']
  } else {
    try {
      Module.createRequire(path.join(__dirname, 'bootstrap.cjs'))(PACKAGE + '/register')
    } catch (error) {
      outcome = ['error', 'require_' + String((error && error.code) || 'exception').toLowerCase()]
    }
  }
  log('opentelemetry ' + outcome.join(' ').trim())
  writeOutcome(found.address, outcome[0], outcome[1])
}

try {
  start()
} catch (e) {
  log('not instrumented: ' + e)
}
