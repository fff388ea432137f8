// Issue #19 with the JS SDK: a chain of two SQS queues through three
// gateways (one per service, sidecar mode) that share a fate store on a real
// redis-server.
//
//   A (send)  --q1-->  B (relay)  --q2-->  C (relay)
//   gateway A, HTTP    gateway B, gRPC     gateway C, HTTP
//
// Each service is a process of sqs_chain_app.js (@aws-sdk/client-sqs with
// @opentelemetry/instrumentation-aws-sdk, fauxqs), exporting to its own
// gateway; the three gateways export to one fake Dynatrace. A sends
// kMessages messages from kTraces traces. B receives them (a "<q1> receive"
// CONSUMER span per ReceiveMessage, one link per message) and sends each on
// inside its "process message" span: B's gateway moves each message's
// processing, B's producer with it, into A's trace of that message. C's
// receive spans link B's producers by their ORIGINAL trace id (B's receive
// trace); only the store tells C's gateway where they went.
//
// The expectation comes from the spans the apps recorded (§3 and §6 of
// docs/reparenting.md applied to them here), not from hand-written ids.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');
const c = require('./otlp_checks');

const kConsumer = 4;  // JS API SpanKind
const kOtlpConsumer = 5;  // OTLP Span.SpanKind
const kTraces = 2;
const kPerTrace = 2;
const kMessages = kTraces * kPerTrace;
// Per service: the OTLP protocol it exports to its gateway with.
const kServices = { a: 'http/protobuf', b: 'grpc', c: 'http/protobuf' };
const kMessageId = 'messaging.message.id';

function fateStoreConfig(redisAddress) {
  const file = path.join(h.tmpDir('gateway-config-'), 'gateway.yaml');
  fs.writeFileSync(file, 'reparent:\n' +
                         '  fate_store:\n' +
                         '    type: redis\n' +
                         `    redis: {address: "${redisAddress}"}\n`);
  return file;
}

// A receive span: a CONSUMER root with links (the instrumentation's
// "<queue> receive", one link per message of its batch).
const isReceive = (s) => s.kind === kConsumer && s.parent_span_id === '' && s.links.length > 0;

// Where each recorded span must arrive, by the rules applied to the recorded
// spans: {span_id -> {trace, parent}} where parent is a span id or
// {fanoutOf, messageId} (a per-message span the gateway makes), and the
// per-message spans the gateways must add: [{fanoutOf, messageId, trace,
// parent}].
function expectPlacement(spans) {
  const byId = new Map(spans.map((s) => [s.span_id, s]));
  const receiveOfTrace = new Map(spans.filter(isReceive).map((s) => [s.trace_id, s]));
  const memo = new Map();
  const perMessage = [];

  const linkTrace = (link, depth) => {
    const producer = byId.get(link.span_id);
    assert.ok(producer, `link target ${link.span_id} is a span an app recorded`);
    return place(producer, depth + 1).trace;  // eslint-disable-line no-use-before-define
  };
  // The child of `receive` that `s` descends from.
  const batchChild = (s, receive) => {
    let cur = s;
    for (let i = 0; i < 100 && cur && cur.parent_span_id !== receive.span_id; i++) cur = byId.get(cur.parent_span_id);
    return cur;
  };

  function place(s, depth = 0) {
    assert.ok(depth < 50, 'chain of links deeper than 50');
    if (memo.has(s.span_id)) return memo.get(s.span_id);
    const receive = receiveOfTrace.get(s.trace_id);
    let p;
    if (!receive) {
      p = { trace: s.trace_id, parent: s.parent_span_id };
    } else if (s === receive) {
      p = { trace: linkTrace(receive.links[0], depth), parent: receive.links[0].span_id };
    } else {
      const child = batchChild(s, receive);
      const link = receive.links.length >= 2 && child &&
                   receive.links.find((l) => l.attributes[kMessageId] === child.attributes[kMessageId]);
      if (link) {
        p = { trace: linkTrace(link, depth),
              parent: s === child ? { fanoutOf: receive.span_id, messageId: link.attributes[kMessageId] }
                                  : s.parent_span_id };
      } else {
        p = { trace: linkTrace(receive.links[0], depth), parent: s.parent_span_id };
      }
    }
    memo.set(s.span_id, p);
    return p;
  }

  for (const s of spans) place(s);
  for (const receive of spans.filter(isReceive)) {
    if (receive.links.length < 2) continue;  // a batch of one gets no per-message span
    for (const link of receive.links) {
      perMessage.push({ fanoutOf: receive.span_id, messageId: link.attributes[kMessageId],
                        trace: linkTrace(link, 0), parent: link.span_id });
    }
  }
  return { place: memo, perMessage };
}

describe('sqs chain through gateways sharing the fate store', () => {
  let sink;
  let sqs;
  let redis;
  const gateways = {};

  before(async () => {
    sink = await h.startFakeDynatrace();
    sqs = await h.startSqsServer();
    redis = await h.startRedis();
    const config = fateStoreConfig(redis.address);
    for (const s of Object.keys(kServices)) {
      gateways[s] = await h.startGateway({ dtUrl: sink.url, holdWindow: '10s', name: `gateway_${s}`,
                                           extraArgs: [`--config=${config}`] });
    }
  });

  after(() => {
    h.stopAll();
  });

  const endpoint = (s) => `http://127.0.0.1:${kServices[s] === 'grpc' ? gateways[s].grpcPort : gateways[s].httpPort}`;

  async function runService(s, args) {
    const out = path.join(h.tmpDir(`app-${s}-`), 'out.json');
    const stdout = await h.runNode(`app_${s}`, path.join(__dirname, 'sqs_chain_app.js'),
                                   [args[0], s, sqs.url, kServices[s], endpoint(s), ...args.slice(1), out]);
    h.log(stdout.trim());
    const record = JSON.parse(fs.readFileSync(out, 'utf8'));
    return record.spans.map((span) => ({ ...span, service: s }));
  }

  it('A -> q1 -> B -> q2 -> C: every span of B\'s and C\'s processing in A\'s trace, each once', async () => {
    const q1 = `e2e-chain-q1-${process.pid}`;
    const q2 = `e2e-chain-q2-${process.pid}`;
    let spans;
    try {
      spans = [
        ...await runService('a', ['send', q1, String(kTraces), String(kPerTrace)]),
        ...await runService('b', ['relay', q1, q2, String(kMessages)]),
        ...await runService('c', ['relay', q2, '-', String(kMessages)]),
      ];
    } catch (e) {
      h.dumpLogs();
      throw e;
    }

    // The shape the apps recorded.
    const of = (s) => spans.filter((x) => x.service === s);
    const checkouts = of('a').filter((s) => s.name.startsWith('checkout '));
    assert.equal(checkouts.length, kTraces, 'A: one checkout span per trace');
    const aTraces = new Set(checkouts.map((s) => s.trace_id));
    const byId = new Map(spans.map((s) => [s.span_id, s]));
    for (const s of ['b', 'c']) {
      const receives = of(s).filter(isReceive);
      assert.equal(receives.reduce((n, r) => n + r.links.length, 0), kMessages, `${s}: one link per message`);
      for (const r of receives) {
        for (const l of r.links) {
          const producer = byId.get(l.span_id);
          assert.ok(producer, `${s}: link ${l.span_id} names a span an app recorded`);
          assert.equal(producer.service, s === 'b' ? 'a' : 'b', `${s}: links the previous service's producer`);
        }
      }
      h.log(`${s}: ${receives.length} receive batch(es) of ${receives.map((r) => r.links.length).join(', ')} ` +
            'message(s)');
    }
    // C's consumers link B's producers by B's trace, not A's: the hop the store is needed for.
    const cLinks = of('c').filter(isReceive).flatMap((r) => r.links);
    assert.ok(cLinks.every((l) => !aTraces.has(l.trace_id)), "C links B's producers by their original trace");

    const exp = expectPlacement(spans);
    const isPerMessage = (r) => (x) => x.attributes[c.kFanoutOf] === r.fanoutOf &&
                                       x.attributes[kMessageId] === r.messageId;
    let received;
    try {
      received = await h.waitFor(async () => {
        const got = await sink.received();
        const ids = new Set(got.spans.map((s) => s.span_id));
        return spans.every((s) => ids.has(s.span_id)) &&
               exp.perMessage.every((pm) => got.spans.some(isPerMessage(pm))) ? got : null;
      }, 40000, `all ${spans.length} spans and ${exp.perMessage.length} per-message spans at the sink`);
      await h.sleep(1000);  // anything sent twice would be on its way
      received = await sink.received();
    } catch (e) {
      h.dumpLogs();
      throw e;
    }

    const got = c.spansById(received);
    const problems = [];
    const perMessageId = new Map();
    for (const pm of exp.perMessage) {
      const list = received.spans.filter(isPerMessage(pm));
      if (list.length !== 1) {
        problems.push(`per-message span of batch ${pm.fanoutOf} message ${pm.messageId}: ${list.length} times`);
        continue;
      }
      const [m] = list;
      perMessageId.set(`${pm.fanoutOf}/${pm.messageId}`, m.span_id);
      if (m.trace_id !== pm.trace || m.parent_span_id !== pm.parent || m.kind !== kOtlpConsumer) {
        problems.push(`per-message span ${c.describeSpan(m)}: want trace ${pm.trace}, parent ${pm.parent}, CONSUMER`);
      }
    }
    for (const s of spans) {
      const list = got.get(s.span_id) || [];
      if (list.length !== 1) {
        problems.push(`${s.service}: ${s.name} [${s.span_id}] arrived ${list.length} times, want once`);
        continue;
      }
      const [g] = list;
      const want = exp.place.get(s.span_id);
      const parent = typeof want.parent === 'string' ? want.parent
        : perMessageId.get(`${want.parent.fanoutOf}/${want.parent.messageId}`);
      if (g.trace_id !== want.trace || g.parent_span_id !== parent) {
        problems.push(`${s.service}: ${s.name} [${s.span_id}] at ${g.trace_id}/${g.parent_span_id}, ` +
                      `want ${want.trace}/${parent}`);
      }
      // Independently of expectPlacement: B's and C's processing in A's traces.
      if (s.service !== 'a' && spans.some((r) => isReceive(r) && r.trace_id === s.trace_id) &&
          !aTraces.has(g.trace_id)) {
        problems.push(`${s.service}: ${s.name} [${s.span_id}] in ${g.trace_id}, not one of A's traces`);
      }
    }
    assert.deepEqual(problems, [], problems.join('\n'));

    const moved = spans.filter((s) => s.service !== 'a' && exp.place.get(s.span_id).trace !== s.trace_id);
    h.log(`sink: ${spans.length} recorded spans each once (A ${of('a').length}, B ${of('b').length}, ` +
          `C ${of('c').length}), ${exp.perMessage.length} per-message spans; ${moved.length} of B's and C's ` +
          `spans moved into A's ${kTraces} traces`);

    const metric = async (s, series) => (await gateways[s].metrics())[series] || 0;
    const followed = {};
    for (const s of Object.keys(kServices)) followed[s] = await metric(s, 'gateway_fate_store_links_followed_total');
    h.log(`links followed through the store: ${JSON.stringify(followed)}`);
    // Counted per consumer span whose links had moved: one per receive batch.
    assert.ok(followed.c > 0, "C's gateway followed B's producers' links through the store");
    assert.equal(followed.b, 0, "A's producers did not move: B's consumers follow nothing");
    h.log(c.expectAcceptedBySink(received));
  });
});
