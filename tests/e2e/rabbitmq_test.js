// RabbitMQ end to end: a private broker, amqplib instrumented by
// @opentelemetry/instrumentation-amqplib (useLinksForConsume: true), the
// gateway binary and the fake Dynatrace. Checks that the consumer span,
// which the instrumentation makes a root linked to the publish span, arrives
// as the publish span's child in the publisher's trace, and that its children
// (sent before it) moved along with their parents unchanged.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');
const c = require('./otlp_checks');

// JS API SpanKind values.
const kProducer = 3;
const kConsumer = 4;

describe('rabbitmq', () => {
  let sink;
  let gateway;
  let broker;
  let app;

  before(async () => {
    // The broker takes ~10 s to boot; start the others meanwhile.
    const brokerStarted = h.startRabbitMq();
    sink = await h.startFakeDynatrace();
    gateway = await h.startGateway({ dtUrl: sink.url, holdWindow: '2s' });
    broker = await brokerStarted;
  });

  after(async () => {
    if (broker) await broker.stop();
    h.stopAll();
  });

  it('amqplib publishes and consumes through a real broker', async () => {
    const out = path.join(h.tmpDir('app-'), 'out.json');
    try {
      await h.runNode('rabbitmq_app', path.join(__dirname, 'rabbitmq_app.js'),
                      [broker.url, `http://127.0.0.1:${gateway.httpPort}`, out]);
    } catch (e) {
      h.dumpLogs();
      throw e;
    }
    app = JSON.parse(fs.readFileSync(out, 'utf8'));
    const publish = app.spans.find((s) => s.kind === kProducer);
    const consumer = app.spans.find((s) => s.kind === kConsumer);
    assert.ok(publish, 'the instrumentation made a publish (PRODUCER) span');
    assert.ok(consumer, 'the instrumentation made a process (CONSUMER) span');
    assert.equal(consumer.parent_span_id, '', 'with useLinksForConsume the consumer span is a root');
    assert.notEqual(consumer.trace_id, publish.trace_id, '... in a trace of its own');
    assert.deepEqual(consumer.links.map((l) => l.span_id), [publish.span_id],
                     '... linked to the publish span');
    h.log(`SDK: ${publish.name} [${publish.trace_id}/${publish.span_id}]; ` +
          `${consumer.name} [${consumer.trace_id}/${consumer.span_id}] root, link -> publish`);
  });

  it('the consumer span arrives as the publish span\'s child, its children moved along', async () => {
    assert.ok(app, 'the app ran');
    const publish = app.spans.find((s) => s.kind === kProducer);
    const consumer = app.spans.find((s) => s.kind === kConsumer);
    const want = app.spans.map((s) => s.span_id);
    let received;
    try {
      received = await h.waitFor(async () => {
        const r = await sink.received();
        const ids = new Set(r.spans.map((s) => s.span_id));
        return want.every((id) => ids.has(id)) ? r : null;
      }, 20000, `all ${want.length} spans at the sink`);
    } catch (e) {
      h.dumpLogs();
      throw e;
    }
    const byId = c.spansById(received);
    const got = (s) => c.theSpan(byId, s.span_id, s.name);

    const gotConsumer = got(consumer);
    assert.equal(gotConsumer.trace_id, publish.trace_id, "consumer's trace id = publish span's");
    assert.equal(gotConsumer.parent_span_id, publish.span_id, "consumer's parent = publish span");
    assert.equal(gotConsumer.attributes[c.kOriginalTraceId], consumer.trace_id,
                 `${c.kOriginalTraceId} names the consumer's own trace`);
    h.log(`sink: ${c.describeSpan(got(publish))} <- ${c.describeSpan(gotConsumer)}`);

    // Everything else keeps its parent; what was in the consumer's trace is
    // now in the publisher's.
    let moved = 0;
    for (const s of app.spans) {
      if (s.span_id === consumer.span_id) continue;
      const g = got(s);
      assert.equal(g.parent_span_id, s.parent_span_id, `${s.name}: parent unchanged`);
      if (s.trace_id === consumer.trace_id) {
        assert.equal(g.trace_id, publish.trace_id, `${s.name} moved with the consumer`);
        moved++;
        h.log(`sink: moved along: ${c.describeSpan(g)}`);
      } else {
        assert.equal(g.trace_id, s.trace_id, `${s.name} stays in its trace`);
      }
    }
    assert.equal(moved, 2, 'handle order and db insert moved');
    h.log(c.expectAcceptedBySink(received));
  });
});
