// The OpenTelemetry JS SDK's OTLP metric exporters (grpc, http/protobuf,
// http/json) at their default, cumulative, temporality send through the
// gateway binary (Dynatrace exporter: cumulative -> delta on by default) to
// the fake Dynatrace, which refuses cumulative monotonic sums and cumulative
// histograms as Dynatrace does. Checks, per protocol:
//  - the fake refused nothing of what it received;
//  - what arrived is exactly what the rules of docs/metrics.md make of the
//    points the SDK exported (its serializer's bytes, decoded): counters,
//    observable counters and histograms (explicit and exponential) as deltas
//    (each series started after the gateway, so its first point counts
//    whole), the up-down counter and the gauge unchanged.
'use strict';

const { describe, it, before, after } = require('node:test');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');
const { checkMetricsRun } = require('./metrics_checks');

describe('otel_js_metrics', () => {
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

  for (const protocol of ['grpc', 'http/protobuf', 'http/json']) {
    it(`${protocol}: cumulative SDK metrics arrive as the deltas Dynatrace accepts`, async () => {
      const out = path.join(h.tmpDir('app-'), 'out.json');
      try {
        await h.runNode(`metrics-app-${protocol.replace('/', '_')}`, path.join(__dirname, 'otel_js_metrics_app.js'),
                        [protocol, `http://127.0.0.1:${gateway.grpcPort}`, `http://127.0.0.1:${gateway.httpPort}`, out]);
        await checkMetricsRun(sink, JSON.parse(fs.readFileSync(out, 'utf8')), gatewayStartNs, protocol);
      } catch (e) {
        h.dumpLogs();
        throw e;
      }
    });
  }
});
