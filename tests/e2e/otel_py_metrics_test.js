// The OpenTelemetry Python SDK's OTLP metric exporters (grpc, http/protobuf)
// at their default, cumulative, temporality send through the gateway binary
// (Dynatrace exporter: cumulative -> delta on by default) to the fake
// Dynatrace, which refuses cumulative monotonic sums and cumulative
// histograms as Dynatrace does. Checks, per protocol, that the fake refused
// nothing and that what arrived is exactly what the rules of docs/metrics.md
// make of the points the SDK exported (metrics_checks.js).
//
// Python: $GATEWAY_PYTHON, else .deps/venv/bin/python in the source tree
// (tests/python/requirements.txt, installed by scripts/install_deps.sh --test).
'use strict';

const { describe, it, before, after } = require('node:test');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');
const { checkMetricsRun } = require('./metrics_checks');

function python() {
  if (process.env.GATEWAY_PYTHON) return process.env.GATEWAY_PYTHON;
  // Runfiles are symlinks into the source tree; .deps sits at its root.
  const p = path.resolve(path.dirname(fs.realpathSync(__filename)), '../../.deps/venv/bin/python');
  if (!fs.existsSync(p)) throw new Error(`${p} missing: run scripts/install_deps.sh --test`);
  return p;
}

async function runPython(name, args, timeoutMs = 60000) {
  const child = h.spawnChild(name, python(), [path.join(__dirname, 'otel_py_metrics_app.py'), ...args],
                             { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  await h.waitFor(() => child.exited, timeoutMs, `${name} to finish`, 50);
  if (child.exitCode !== 0) {
    throw new Error(`${name} exited ${child.exitCode}\n${child.stdoutText().slice(-3000)}\n` +
                    `${child.stderrText().slice(-3000)}`);
  }
}

describe('otel_py_metrics', () => {
  let sink;
  let gateway;
  let gatewayStartNs;

  before(async () => {
    sink = await h.startFakeDynatrace();
    gatewayStartNs = BigInt(Date.now()) * 1000000n;
    gateway = await h.startGateway({ dtUrl: sink.url });
  });

  after(() => {
    h.stopAll();
  });

  for (const protocol of ['grpc', 'http/protobuf']) {
    it(`${protocol}: cumulative SDK metrics arrive as the deltas Dynatrace accepts`, async () => {
      const out = path.join(h.tmpDir('app-'), 'out.json');
      try {
        await runPython(`py-metrics-app-${protocol.replace('/', '_')}`,
                        [protocol, `127.0.0.1:${gateway.grpcPort}`, `http://127.0.0.1:${gateway.httpPort}`, out]);
        await checkMetricsRun(sink, JSON.parse(fs.readFileSync(out, 'utf8')), gatewayStartNs, protocol);
      } catch (e) {
        h.dumpLogs();
        throw e;
      }
    });
  }
});
