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
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');
const oracle = require('./delta_oracle');

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
        const app = JSON.parse(fs.readFileSync(out, 'utf8'));
        const sentPoints = [];
        for (const b64 of app.sent) sentPoints.push(...await sink.decodeMetrics(Buffer.from(b64, 'base64')));
        assert.ok(sentPoints.some((p) => p.type === 'sum' && p.monotonic && p.temporality === 2),
                  'the SDK exported cumulative counters');
        assert.ok(sentPoints.some((p) => p.type === 'exponential_histogram'), 'and an exponential histogram');
        const expected = oracle.expectedDeltas(sentPoints, gatewayStartNs);
        const mine = (r) => r.metric_points.filter((p) => p.service === app.service);
        const received = await h.waitFor(async () => {
          const r = await sink.received();
          return mine(r).length >= expected.length ? r : null;
        }, 20000, `${expected.length} points of ${app.service} at the sink`);
        const refused = received.requests.filter((r) => r.signal === 'metrics' && r.rejected > 0);
        assert.deepEqual(refused, [], 'the fake Dynatrace refused nothing');
        const got = oracle.canonical(mine(received));
        assert.deepEqual(got, expected);
        assert.ok(mine(received).every((p) => !oracle.converted(p)), 'nothing cumulative-monotonic arrived');
        h.log(`${protocol}: ${sentPoints.length} points exported by the SDK, ${got.length} arrived as expected`);
      } catch (e) {
        h.dumpLogs();
        throw e;
      }
    });
  }
});
