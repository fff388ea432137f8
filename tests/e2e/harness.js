// Process orchestration for the end-to-end tests: free loopback ports, child
// processes that die with the test (even when it fails or is interrupted),
// waits on conditions with deadlines, the fake Dynatrace sink, the gateway,
// a private RabbitMQ broker and a redis-server for the fate store.
//
//   const h = require('./harness');
//   const sink = await h.startFakeDynatrace();          // {port, url, received()}
//   const gw = await h.startGateway({ dtPort: sink.port });  // {grpcPort, httpPort}
//   ... run the instrumented app against gw ...
//   await h.waitFor(async () => (await sink.received()).spans.length >= 3, 30000, 'spans');
//   h.stopAll();
//
// Every child is started in its own process group and killed with its group
// on process exit; every wait is bounded by a deadline.
'use strict';

const childProcess = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const kApiToken = 'dt0c01.E2E.TOKEN';

const children = [];

function outDir() {
  const dir = process.env.TEST_UNDECLARED_OUTPUTS_DIR || process.env.TEST_TMPDIR || os.tmpdir();
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function tmpDir(prefix) {
  const base = process.env.TEST_TMPDIR || os.tmpdir();
  return fs.mkdtempSync(path.join(base, prefix));
}

function log(...args) {
  process.stdout.write(`[e2e] ${args.join(' ')}\n`);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Polls `cond` (sync or async, truthy = done) every `intervalMs` until it
// holds or `timeoutMs` passes; then throws naming `what`. Returns the truthy
// value.
async function waitFor(cond, timeoutMs, what, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let lastError = null;
  for (let i = 0; Date.now() < deadline && i < 100000; i++) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
                  (lastError ? ` (last error: ${lastError.message})` : ''));
}

// A port free on 127.0.0.1 right now (bound, read, released).
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Distinct free ports (a released port is not handed out twice here).
async function freePorts(n) {
  const ports = new Set();
  for (let i = 0; ports.size < n && i < 100; i++) ports.add(await freePort());
  if (ports.size < n) throw new Error('could not find free ports');
  return [...ports];
}

function tcpConnects(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(500, () => done(false));
    sock.on('connect', () => done(true));
    sock.on('error', () => done(false));
  });
}

// Starts `cmd args` in its own process group, stdout/stderr to files in the
// test's output directory. Returns {proc, name, logFile, stdoutText()}.
function spawnChild(name, cmd, args, { env, cwd } = {}) {
  const logFile = path.join(outDir(), `${name}.log`);
  const errFile = path.join(outDir(), `${name}.stderr.log`);
  const out = fs.openSync(logFile, 'w');
  const err = fs.openSync(errFile, 'w');
  const proc = childProcess.spawn(cmd, args, {
    env: env || process.env,
    cwd,
    detached: true,  // own process group: kill(-pid) reaches its children
    stdio: ['ignore', out, err],
  });
  fs.closeSync(out);
  fs.closeSync(err);
  const child = {
    name, proc, logFile, errFile, exited: false, exitCode: null,
    stdoutText: () => fs.readFileSync(logFile, 'utf8'),
    stderrText: () => fs.readFileSync(errFile, 'utf8'),
  };
  proc.on('exit', (code, signal) => {
    child.exited = true;
    child.exitCode = code === null ? signal : code;
  });
  proc.on('error', (e) => {
    child.exited = true;
    child.exitCode = `spawn error: ${e.message}`;
  });
  children.push(child);
  return child;
}

function killGroup(child, signal) {
  if (!child.proc.pid) return;
  try {
    process.kill(-child.proc.pid, signal);
  } catch (e) {
    // Already gone.
  }
}

// Sends SIGTERM, waits up to `graceMs` for exit, then SIGKILL.
async function stopChild(child, graceMs = 5000) {
  if (child.exited) {
    killGroup(child, 'SIGKILL');
    return;
  }
  killGroup(child, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  for (let i = 0; !child.exited && Date.now() < deadline && i < 1000; i++) await sleep(50);
  killGroup(child, 'SIGKILL');
}

const cleanups = [];

// Registers a synchronous cleanup run on exit (after children are killed).
function onCleanup(fn) {
  cleanups.push(fn);
}

// Kills every child group now (synchronous; safe in 'exit' handlers).
function stopAll() {
  for (const c of children) killGroup(c, 'SIGKILL');
  while (cleanups.length) {
    const fn = cleanups.pop();
    try { fn(); } catch (e) { /* best effort */ }
  }
}

process.on('exit', stopAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    stopAll();
    process.exit(128 + (os.constants.signals[sig] || 1));
  });
}

// Dumps the tail of each child's logs (for failures).
function dumpLogs(maxBytes = 4000) {
  for (const c of children) {
    for (const f of [c.logFile, c.errFile]) {
      let text = '';
      try { text = fs.readFileSync(f, 'utf8'); } catch (e) { continue; }
      if (!text) continue;
      process.stdout.write(`----- ${path.basename(f)} (exit ${c.exitCode}) -----\n`);
      process.stdout.write(text.slice(-maxBytes) + '\n');
    }
  }
}

function httpRequest(method, url, { body, headers, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
                                     body: Buffer.concat(chunks) }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout ${method} ${url}`)));
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

// Location of a binary built by Bazel: argument from the BUILD file (runfiles
// relative) or an absolute path.
function binary(envName, fallback) {
  const p = process.env[envName] || fallback;
  if (!p) throw new Error(`${envName} not set`);
  return path.resolve(p);
}

// Starts //tests/e2e:fake_dynatrace_server; resolves when it printed its port.
async function startFakeDynatrace({ token = kApiToken } = {}) {
  const bin = binary('E2E_FAKE_DYNATRACE', 'tests/e2e/fake_dynatrace_server');
  const child = spawnChild('fake_dynatrace', bin, [`--api-token=${token}`]);
  const { port, controlPort } = await waitFor(() => {
    if (child.exited) throw new Error(`fake_dynatrace exited: ${child.exitCode}`);
    const m = /\{"port":(\d+),"control_port":(\d+)\}/.exec(child.stdoutText());
    return m ? { port: Number(m[1]), controlPort: Number(m[2]) } : null;
  }, 20000, 'fake Dynatrace to print its port');
  log(`fake Dynatrace listening on 127.0.0.1:${port}`);
  return {
    port,
    child,
    token,
    url: `http://127.0.0.1:${port}/api/v2/otlp`,
    async received() {
      const res = await httpRequest('GET', `http://127.0.0.1:${controlPort}/received`);
      if (res.status !== 200) throw new Error(`/received: HTTP ${res.status}`);
      return JSON.parse(res.body.toString('utf8'));
    },
    // The data points of an ExportMetricsServiceRequest body, flattened
    // (fake_dynatrace_main.cc).
    async decodeMetrics(body) {
      const res = await httpRequest('POST', `http://127.0.0.1:${controlPort}/decode/metrics`,
                                    { body, headers: { 'content-type': 'application/x-protobuf' } });
      if (res.status !== 200) throw new Error(`/decode/metrics: HTTP ${res.status}`);
      return JSON.parse(res.body.toString('utf8')).metric_points;
    },
    // libprotobuf's deterministic re-serialization of an export request.
    async canonicalize(signal, body) {
      const res = await httpRequest('POST', `http://127.0.0.1:${controlPort}/canonicalize/${signal}`,
                                    { body, headers: { 'content-type': 'application/x-protobuf' } });
      if (res.status !== 200) throw new Error(`/canonicalize/${signal}: HTTP ${res.status}`);
      return res.body;
    },
  };
}

// Starts //gateway:otlp_gateway on free loopback ports exporting to `dtUrl`.
// Resolves once /readyz answers 200. `name` names its log files (several
// gateways in one test need distinct names).
async function startGateway({ dtUrl, token = kApiToken, holdWindow = '2s', extraArgs = [], name = 'gateway' }) {
  const bin = binary('E2E_GATEWAY', 'gateway/otlp_gateway');
  const [grpcPort, httpPort, adminPort] = await freePorts(3);
  const dir = tmpDir('gateway-');
  const args = [
    `--grpc-endpoint=127.0.0.1:${grpcPort}`,
    `--http-endpoint=127.0.0.1:${httpPort}`,
    `--admin-endpoint=127.0.0.1:${adminPort}`,
    `--dt-endpoint=${dtUrl}`,
    `--dt-api-token=${token}`,
    `--hold-window=${holdWindow}`,
    ...extraArgs,
    // For debugging by hand, e.g. E2E_GATEWAY_EXTRA_ARGS="--log-level=debug".
    ...(process.env.E2E_GATEWAY_EXTRA_ARGS || '').split(' ').filter(Boolean),
  ];
  const child = spawnChild(name, bin, args, { cwd: dir });
  await waitFor(async () => {
    if (child.exited) throw new Error(`${name} exited: ${child.exitCode}\n${child.stderrText()}`);
    const res = await httpRequest('GET', `http://127.0.0.1:${adminPort}/readyz`, { timeoutMs: 1000 });
    return res.status === 200;
  }, 30000, `${name} /readyz`);
  log(`${name} ready: grpc 127.0.0.1:${grpcPort}, http 127.0.0.1:${httpPort}, admin 127.0.0.1:${adminPort}`);
  return {
    child, grpcPort, httpPort, adminPort,
    // The admin /metrics page as {series: value}, series with its labels
    // as printed (`gateway_fate_store_lookups_total{result="found"}`).
    async metrics() {
      const res = await httpRequest('GET', `http://127.0.0.1:${adminPort}/metrics`);
      if (res.status !== 200) throw new Error(`${name} /metrics: HTTP ${res.status}`);
      const values = {};
      for (const line of res.body.toString('utf8').split('\n')) {
        if (!line || line.startsWith('#')) continue;
        const i = line.lastIndexOf(' ');
        values[line.slice(0, i)] = Number(line.slice(i + 1));
      }
      return values;
    },
  };
}

// Sends one inline PING to 127.0.0.1:`port`; resolves true on +PONG.
function redisPing(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(1000, () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      data += d.toString('latin1');
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
    sock.on('error', () => done(false));
  });
}

// Starts redis-server (E2E_REDIS_SERVER, else Debian's /usr/bin/redis-server)
// on 127.0.0.1 and a free port, no RDB or AOF, for the gateways' fate store;
// killed with the other children. Another port if it exits while starting
// (the port was taken meanwhile). Resolves with {child, port, address} once
// it answers PING.
async function startRedis() {
  const bin = process.env.E2E_REDIS_SERVER || '/usr/bin/redis-server';
  if (!fs.existsSync(bin)) throw new Error(`no redis-server (${bin}): run scripts/install_deps.sh --test`);
  for (let attempt = 0; attempt < 5; attempt++) {
    const [port] = await freePorts(1);
    const child = spawnChild('redis', bin, ['--bind', '127.0.0.1', '--port', String(port), '--save', '',
                                            '--appendonly', 'no', '--daemonize', 'no',
                                            '--dir', tmpDir('redis-')]);
    const ready = await waitFor(async () => (child.exited ? 'exited' : redisPing(port)),
                                20000, 'redis-server to answer PING');
    if (ready === 'exited') continue;
    log(`redis-server on 127.0.0.1:${port}`);
    return { child, port, address: `127.0.0.1:${port}` };
  }
  throw new Error('redis-server did not start');
}

// Starts a private RabbitMQ node on 127.0.0.1 (random AMQP, distribution and
// epmd ports; data, logs and Erlang cookie in a temp dir; no plugins). The
// node and its epmd are stopped on exit. Resolves with {port, url}.
async function startRabbitMq() {
  const libBin = '/usr/lib/rabbitmq/bin';
  if (!fs.existsSync(path.join(libBin, 'rabbitmq-server'))) {
    throw new Error('rabbitmq-server is not installed (scripts/install_deps.sh --test installs it)');
  }
  const [amqpPort, distPort, epmdPort] = await freePorts(3);
  const dir = tmpDir('rabbitmq-');
  const home = path.join(dir, 'home');
  fs.mkdirSync(home);
  fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
  const nodeName = `rabbit-e2e-${process.pid}@localhost`;
  const env = {
    PATH: process.env.PATH || '/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_PID_FILE: path.join(dir, 'rabbit.pid'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_PLUGINS_EXPAND_DIR: path.join(dir, 'plugins-expand'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
    RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_FEATURE_FLAGS_FILE: path.join(dir, 'feature_flags'),
    // Erlang distribution and epmd on loopback only, on private ports, so a
    // broker on the machine or another test run is never touched.
    ERL_EPMD_ADDRESS: '127.0.0.1',
    ERL_EPMD_PORT: String(epmdPort),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:
        `-kernel inet_dist_use_interface {127,0,0,1} ` +
        `-kernel inet_dist_listen_min ${distPort} -kernel inet_dist_listen_max ${distPort}`,
  };
  const child = spawnChild('rabbitmq', path.join(libBin, 'rabbitmq-server'), [], { env, cwd: dir });
  onCleanup(() => {
    // epmd daemonizes out of the broker's process group; stop it by its port.
    childProcess.spawnSync('epmd', ['-port', String(epmdPort), '-kill'],
                           { env, stdio: 'ignore', timeout: 5000 });
  });
  const started = Date.now();
  await waitFor(async () => {
    if (child.exited) {
      throw new Error(`rabbitmq-server exited: ${child.exitCode}\n${child.stdoutText().slice(-3000)}`);
    }
    return tcpConnects(amqpPort);
  }, 90000, 'RabbitMQ to accept AMQP connections', 250);
  log(`RabbitMQ ${nodeName} accepting AMQP on 127.0.0.1:${amqpPort} after ${Date.now() - started} ms`);
  return {
    child,
    port: amqpPort,
    url: `amqp://guest:guest@127.0.0.1:${amqpPort}`,
    async stop() {
      childProcess.spawnSync(path.join(libBin, 'rabbitmqctl'), ['-n', nodeName, 'stop'],
                             { env, stdio: 'ignore', timeout: 30000 });
      await stopChild(child, 10000);
      childProcess.spawnSync('epmd', ['-port', String(epmdPort), '-kill'],
                             { env, stdio: 'ignore', timeout: 5000 });
    },
  };
}

// Starts fauxqs (npm SQS emulator) on 127.0.0.1 via sqs_server.mjs.
// Resolves with {port, url}.
async function startSqsServer() {
  const nodeModules = process.env.GATEWAY_NODE_MODULES;
  if (!nodeModules) throw new Error('GATEWAY_NODE_MODULES not set');
  const child = spawnChild('fauxqs', process.execPath,
                           [path.join(__dirname, 'sqs_server.mjs'), nodeModules]);
  const port = await waitFor(() => {
    if (child.exited) throw new Error(`fauxqs exited: ${child.exitCode}\n${child.stderrText()}`);
    const m = /\{"port":(\d+)\}/.exec(child.stdoutText());
    return m ? Number(m[1]) : 0;
  }, 20000, 'fauxqs to print its port');
  log(`fauxqs (SQS) listening on 127.0.0.1:${port}`);
  return { child, port, url: `http://127.0.0.1:${port}` };
}

// Runs a Node script to completion (bounded); resolves with its stdout.
async function runNode(name, script, args, { env, timeoutMs = 60000 } = {}) {
  const child = spawnChild(name, process.execPath, [script, ...args],
                           { env: { ...process.env, ...env } });
  await waitFor(() => child.exited, timeoutMs, `${name} to finish`, 50);
  if (child.exitCode !== 0) {
    throw new Error(`${name} exited ${child.exitCode}\n${child.stdoutText().slice(-3000)}\n` +
                    `${child.stderrText().slice(-3000)}`);
  }
  return child.stdoutText();
}

module.exports = {
  kApiToken, log, sleep, waitFor, freePort, freePorts, tcpConnects, spawnChild, stopChild,
  stopAll, onCleanup, dumpLogs, httpRequest, startFakeDynatrace, startGateway, startRabbitMq, startSqsServer, startRedis,
  runNode, tmpDir, outDir,
};
