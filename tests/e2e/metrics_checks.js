// The check shared by the SDK metrics end-to-end tests: given what an app's
// SDK exported (its encoder's bytes, base64, in `app.sent`) and the fake
// Dynatrace, wait until the points the gateway must send for them
// (delta_oracle.js) have arrived, and assert that exactly those arrived and
// that the fake refused nothing.
//
//   await checkMetricsRun(sink, JSON.parse(fs.readFileSync(out)), gatewayStartNs, 'grpc');
'use strict';

const assert = require('node:assert/strict');
const h = require('./harness');
const oracle = require('./delta_oracle');

async function checkMetricsRun(sink, app, gatewayStartNs, name) {
  const sentPoints = [];
  for (const b64 of app.sent) sentPoints.push(...await sink.decodeMetrics(Buffer.from(b64, 'base64')));
  assert.ok(sentPoints.some((p) => p.type === 'sum' && p.monotonic && p.temporality === 2),
            'the SDK exported cumulative counters');
  assert.ok(sentPoints.some((p) => p.type === 'histogram' && p.temporality === 2),
            'and cumulative histograms');
  assert.ok(sentPoints.some((p) => p.type === 'exponential_histogram'), 'and an exponential histogram');
  const expected = oracle.expectedDeltas(sentPoints, gatewayStartNs);
  const mine = (r) => r.metric_points.filter((p) => p.service === app.service);
  const received = await h.waitFor(async () => {
    const r = await sink.received();
    return mine(r).length >= expected.length ? r : null;
  }, 20000, `${expected.length} points of ${app.service} at the sink`);
  const refused = received.requests.filter((r) => r.signal === 'metrics' && r.rejected > 0);
  assert.deepEqual(refused, [], 'the fake Dynatrace refused nothing');
  assert.deepEqual(oracle.canonical(mine(received)), expected);
  assert.ok(mine(received).every((p) => !oracle.converted(p)), 'nothing cumulative-monotonic arrived');
  h.log(`${name}: ${sentPoints.length} points exported by the SDK, ${expected.length} arrived as expected`);
}

module.exports = { checkMetricsRun };
