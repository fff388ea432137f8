// The OpenTelemetry JS SDK's own OTLP exporters (grpc, http/protobuf,
// http/json; each plain and gzip) send through the gateway binary to the fake
// Dynatrace. Checks, per variant:
//  - the consumer span (root of its own trace, linked to the producer) arrives
//    in the producer's trace as the producer's child, with
//    gateway.reparent.original_trace_id naming its old trace;
//  - its child and grandchild, exported a batch before it, moved along: new
//    trace id, parents unchanged;
//  - every span arrives exactly once;
//  - metrics and logs pass through: for grpc and http/protobuf each
//    ResourceMetrics / ResourceLogs the SDK serialized arrives byte for byte;
//    for http/json (nothing to compare bytes with: the wire was JSON) the
//    content must equal what the SDK's protobuf serializer made of the same
//    batch, both sides re-serialized by libprotobuf (deterministic).
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');
const c = require('./otlp_checks');

const kVariants = [];
for (const protocol of ['grpc', 'http/protobuf', 'http/json']) {
  for (const compression of ['none', 'gzip']) kVariants.push({ protocol, compression });
}

describe('otel_js_exporters', () => {
  let sink;
  let gateway;
  const runs = new Map();  // variant name -> app output

  before(async () => {
    sink = await h.startFakeDynatrace();
    gateway = await h.startGateway({ dtUrl: sink.url, holdWindow: '2s' });
  });

  after(async (t) => {
    h.stopAll();
  });

  for (const v of kVariants) {
    const name = `${v.protocol}+${v.compression}`;

    it(`${name}: consumer becomes the producer's child, its subtree moves along`, async () => {
      const out = path.join(h.tmpDir('app-'), 'out.json');
      try {
        await h.runNode(`app-${name.replace(/[/+]/g, '_')}`, path.join(__dirname, 'otel_js_app.js'),
                        [v.protocol, v.compression, `http://127.0.0.1:${gateway.grpcPort}`,
                         `http://127.0.0.1:${gateway.httpPort}`, out]);
        const app = JSON.parse(fs.readFileSync(out, 'utf8'));
        runs.set(name, app);
        const want = [app.producer, app.consumer, app.child, app.grandchild].map((s) => s.span_id);
        // Held spans are released within the hold window (2 s) at the latest.
        const received = await h.waitFor(async () => {
          const r = await sink.received();
          const ids = new Set(r.spans.map((s) => s.span_id));
          return want.every((id) => ids.has(id)) ? r : null;
        }, 20000, `the 4 spans of ${name} at the sink`);
        const byId = c.spansById(received);
        const producer = c.theSpan(byId, app.producer.span_id, 'producer');
        const consumer = c.theSpan(byId, app.consumer.span_id, 'consumer');
        const child = c.theSpan(byId, app.child.span_id, 'child');
        const grandchild = c.theSpan(byId, app.grandchild.span_id, 'grandchild');

        assert.equal(producer.trace_id, app.producer.trace_id, 'producer keeps its trace');
        assert.equal(producer.parent_span_id, '', 'producer stays a root');
        assert.equal(consumer.trace_id, app.producer.trace_id, "consumer's trace id = producer's");
        assert.equal(consumer.parent_span_id, app.producer.span_id, "consumer's parent = producer span");
        assert.equal(consumer.attributes[c.kOriginalTraceId], app.consumer.trace_id,
                     `${c.kOriginalTraceId} names the consumer's original trace`);
        assert.equal(child.trace_id, app.producer.trace_id, 'child moved to the producer trace');
        assert.equal(child.parent_span_id, app.consumer.span_id, "child's parent unchanged");
        assert.equal(grandchild.trace_id, app.producer.trace_id, 'grandchild moved too');
        assert.equal(grandchild.parent_span_id, app.child.span_id, "grandchild's parent unchanged");
        h.log(`${name}: ${c.describeSpan(producer)} <- ${c.describeSpan(consumer)} <- ` +
              `${c.describeSpan(child)} <- ${c.describeSpan(grandchild)}; original trace ` +
              `${app.consumer.trace_id} recorded`);
      } catch (e) {
        h.dumpLogs();
        throw e;
      }
    });

    it(`${name}: metrics and logs arrive unchanged`, async () => {
      const app = runs.get(name);
      assert.ok(app, 'the trace case ran the app');
      for (const signal of ['metrics', 'logs']) {
        const sent = app.sent[signal].map((b) => Buffer.from(b, 'base64'));
        assert.ok(sent.length > 0, `the app exported ${signal}`);
        const sentCanonical = [];
        for (const b of sent) sentCanonical.push(await sink.canonicalize(signal, b));
        let received;
        try {
          received = await h.waitFor(async () => {
            const r = await sink.received();
            const canon = r[signal].map((x) => Buffer.from(x.canonical || '', 'base64'));
            return sentCanonical.every((b) => c.missingEntries(b, canon).length === 0) ? r : null;
          }, 15000, `${signal} of ${name} at the sink`);
        } catch (e) {
          h.dumpLogs();
          throw e;
        }
        let how = 'same content (libprotobuf re-serialization equal)';
        if (v.protocol !== 'http/json') {
          const bodies = received[signal].map((x) => Buffer.from(x.body, 'base64'));
          for (const b of sent) {
            assert.deepEqual(c.missingEntries(b, bodies).map((e) => e.length), [],
                             `each Resource${signal === 'logs' ? 'Logs' : 'Metrics'} the SDK sent ` +
                             'arrives byte for byte');
          }
          how = 'byte-identical';
        }
        const entries = sent.reduce((n, b) => n + c.topLevelEntries(b).length, 0);
        const bytes = sent.reduce((n, b) => n + b.length, 0);
        h.log(`${name}: ${signal}: ${sent.length} request(s), ${entries} resource entries, ` +
              `${bytes} bytes: ${how}`);
      }
    });
  }

  it('every export to the fake Dynatrace was accepted', async () => {
    h.log(c.expectAcceptedBySink(await sink.received()));
  });
});
