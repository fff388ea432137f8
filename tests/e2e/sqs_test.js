// SQS end to end: fauxqs (an SQS emulator from npm) on loopback,
// @aws-sdk/client-sqs instrumented by @opentelemetry/instrumentation-aws-sdk,
// the gateway binary and the fake Dynatrace. Three messages are sent from
// three traces and received in one batch: the receive span (a root with one
// link per message) must arrive parented to the first link's send span, its
// processing spans moved along, and each other message's trace must get a
// synthetic consumer span (fan-out) under its send span.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');
const c = require('./otlp_checks');

const kProducer = 3;  // JS API SpanKind
const kOtlpConsumer = 5;  // OTLP Span.SpanKind

describe('sqs', () => {
  let sink;
  let gateway;
  let sqs;
  let app;

  before(async () => {
    sink = await h.startFakeDynatrace();
    sqs = await h.startSqsServer();
    gateway = await h.startGateway({ dtUrl: sink.url, holdWindow: '2s' });
  });

  after(() => {
    h.stopAll();
  });

  it('three sends from three traces, one batch receive with a link per message', async () => {
    const out = path.join(h.tmpDir('app-'), 'out.json');
    try {
      await h.runNode('sqs_app', path.join(__dirname, 'sqs_app.js'),
                      [sqs.url, `http://127.0.0.1:${gateway.httpPort}`, out]);
    } catch (e) {
      h.dumpLogs();
      throw e;
    }
    app = JSON.parse(fs.readFileSync(out, 'utf8'));
    const sends = app.spans.filter((s) => s.kind === kProducer);
    assert.equal(sends.length, 3, 'three send (PRODUCER) spans');
    assert.equal(new Set(sends.map((s) => s.trace_id)).size, 3, '... in three traces');
    const receive = app.spans.find((s) => s.span_id === app.receive.span_id);
    assert.ok(receive, 'the receive span was exported');
    assert.equal(receive.parent_span_id, '', 'the receive span is a root');
    assert.deepEqual(new Set(receive.links.map((l) => l.span_id)), new Set(sends.map((s) => s.span_id)),
                     'the receive span links every send span');
    h.log(`SDK: ${receive.name} [${receive.trace_id}/${receive.span_id}] links ` +
          receive.links.map((l) => `${l.trace_id}/${l.span_id}`).join(', '));
  });

  it('the receive span arrives under the first message\'s send span, each message\'s processing under its own', async () => {
    assert.ok(app, 'the app ran');
    const receive = app.spans.find((s) => s.span_id === app.receive.span_id);
    const [first] = receive.links;
    const want = app.spans.map((s) => s.span_id);
    const isMessageSpan = (s) => s.attributes[c.kFanoutOf] === receive.span_id;
    let received;
    try {
      received = await h.waitFor(async () => {
        const r = await sink.received();
        const ids = new Set(r.spans.map((s) => s.span_id));
        const perMessage = r.spans.filter(isMessageSpan);
        return want.every((id) => ids.has(id)) && perMessage.length >= receive.links.length ? r : null;
      }, 20000, `all ${want.length} spans and ${receive.links.length} per-message spans at the sink`);
    } catch (e) {
      h.dumpLogs();
      throw e;
    }
    const byId = c.spansById(received);
    const got = (s) => c.theSpan(byId, s.span_id, s.name);

    const gotReceive = got(receive);
    assert.equal(gotReceive.trace_id, first.trace_id, "receive span's trace = first message's send trace");
    assert.equal(gotReceive.parent_span_id, first.span_id, "receive span's parent = first send span");
    assert.equal(gotReceive.attributes[c.kOriginalTraceId], receive.trace_id,
                 `${c.kOriginalTraceId} names the receive span's own trace`);
    h.log(`sink: ${c.describeSpan(gotReceive)} under send ${first.span_id} ` +
          `(message ${first.attributes['messaging.message.id']})`);

    // One per-message span per message, the first's included, under its send span.
    const perMessage = received.spans.filter(isMessageSpan);
    assert.equal(perMessage.length, receive.links.length, 'one per-message span per message');
    const messageSpanOf = new Map();
    for (const link of receive.links) {
      const id = link.attributes['messaging.message.id'];
      const m = perMessage.find((s) => s.attributes['messaging.message.id'] === id);
      assert.ok(m, `a per-message span for message ${id}`);
      assert.equal(m.trace_id, link.trace_id, "per-message span's trace = that message's send trace");
      assert.equal(m.parent_span_id, link.span_id, "per-message span's parent = that message's send span");
      assert.equal(m.kind, kOtlpConsumer, 'per-message span is a CONSUMER span');
      assert.ok(m.links.some((l) => l.span_id === receive.span_id), 'per-message span links back to the receive span');
      assert.ok(!('messaging.batch.message_count' in m.attributes), 'no batch count on a per-message span');
      assert.equal(byId.get(m.span_id).length, 1, 'per-message span sent once');
      messageSpanOf.set(id, m);
      h.log(`sink: per-message ${c.describeSpan(m)} under send ${link.span_id}`);
    }

    // Each message's "process message" span under its per-message span, its
    // subtree (parents unchanged) with it; the rest of the receiving trace
    // follows the receive span.
    const byApp = new Map(app.spans.map((s) => [s.span_id, s]));
    const messageOf = (s) => {
      for (let cur = s; cur && cur.trace_id === receive.trace_id; cur = byApp.get(cur.parent_span_id)) {
        if (cur.parent_span_id === receive.span_id) return cur.attributes['messaging.message.id'];
      }
      return undefined;
    };
    let moved = 0;
    for (const s of app.spans) {
      if (s.span_id === receive.span_id) continue;
      const g = got(s);
      if (s.trace_id !== receive.trace_id) {
        assert.equal(g.trace_id, s.trace_id, `${s.name} stays in its trace`);
        assert.equal(g.parent_span_id, s.parent_span_id, `${s.name}: parent unchanged`);
        continue;
      }
      const id = messageOf(s);
      const m = messageSpanOf.get(id);
      if (m) {
        assert.equal(g.trace_id, m.trace_id, `${s.name} in its message's trace`);
        assert.equal(g.parent_span_id, s.parent_span_id === receive.span_id ? m.span_id : s.parent_span_id,
                     `${s.name}: under its message's span (or its parent unchanged)`);
      } else {
        assert.equal(g.trace_id, first.trace_id, `${s.name} moved with the receive span`);
        assert.equal(g.parent_span_id, s.parent_span_id, `${s.name}: parent unchanged`);
      }
      moved++;
    }
    assert.equal(moved, 9, 'three process message, db insert and DeleteMessage spans moved');
    h.log(`sink: ${moved} processing spans moved, each under its own message`);
    h.log(c.expectAcceptedBySink(received));
  });
});
