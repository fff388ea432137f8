// Assertions shared by the end-to-end tests, over what the fake Dynatrace
// reports at GET /received (see fake_dynatrace_main.cc).
//
//   const c = require('./otlp_checks');
//   const spans = c.spansById(received);          // span_id -> [span, ...]
//   c.expectChildOf(spans, consumerId, producer);  // same trace, parent = producer
//   c.missingEntries(sentBody, receivedBodies);    // [] when each ResourceX arrived verbatim
'use strict';

const assert = require('node:assert/strict');

const kOriginalTraceId = 'gateway.reparent.original_trace_id';
const kOriginalParent = 'gateway.reparent.original_parent_span_id';
const kFanoutOf = 'gateway.reparent.fanout_of_span_id';

// span_id (hex) -> array of received spans with that id (all of them, so a
// duplicate delivery is visible).
function spansById(received) {
  const m = new Map();
  for (const s of received.spans) {
    if (!m.has(s.span_id)) m.set(s.span_id, []);
    m.get(s.span_id).push(s);
  }
  return m;
}

// The one span with `spanId`; fails if it is missing or arrived twice.
function theSpan(byId, spanId, what) {
  const list = byId.get(spanId) || [];
  assert.equal(list.length, 1, `${what} (span ${spanId}) arrived ${list.length} times, want once`);
  return list[0];
}

function readVarint(buf, pos) {
  let value = 0;
  let shift = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, pos];
    shift += 7;
  }
  throw new Error('varint too long');
}

// The top-level fields of an OTLP Export*ServiceRequest (each a whole
// ResourceSpans / ResourceMetrics / ResourceLogs: tag, length and payload),
// as Buffers.
function topLevelEntries(body) {
  const buf = Buffer.from(body);
  const entries = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    let tag;
    [tag, pos] = readVarint(buf, pos);
    if ((tag & 7) !== 2) throw new Error(`unexpected wire type ${tag & 7} at ${start}`);
    let len;
    [len, pos] = readVarint(buf, pos);
    pos += len;
    if (pos > buf.length) throw new Error('truncated field');
    entries.push(buf.subarray(start, pos));
  }
  return entries;
}

// The entries of `sentBody` that appear in none of `receivedBodies` byte for
// byte (the gateway may merge or split requests, but at resource granularity
// a pass-through keeps each entry's bytes).
function missingEntries(sentBody, receivedBodies) {
  const have = new Set();
  for (const b of receivedBodies) {
    for (const e of topLevelEntries(b)) have.add(e.toString('base64'));
  }
  return topLevelEntries(sentBody).filter((e) => !have.has(e.toString('base64')));
}

// Every request the gateway made to the fake Dynatrace was accepted (right
// token, protobuf, parseable). Returns a one-line summary.
function expectAcceptedBySink(received) {
  assert.ok(received.requests.length > 0, 'the gateway exported something');
  const rejected = received.requests.filter((r) => r.status < 200 || r.status >= 300);
  assert.deepEqual(rejected, [], 'the fake Dynatrace accepted every export (token, content type, body)');
  for (const r of received.requests) {
    assert.equal(r.content_type, 'application/x-protobuf', `${r.path}: protobuf body`);
  }
  const by = {};
  for (const r of received.requests) {
    const k = `${r.signal}${r.content_encoding ? `/${r.content_encoding}` : ''}`;
    by[k] = (by[k] || 0) + 1;
  }
  return `${received.requests.length} exports, all 2xx: ${JSON.stringify(by)}`;
}

function short(id) {
  return id ? id.slice(0, 8) : '-';
}

function describeSpan(s) {
  return `${s.name} [${short(s.trace_id)}/${short(s.span_id)} parent ${short(s.parent_span_id)}]`;
}

module.exports = {
  kOriginalTraceId, kOriginalParent, kFanoutOf, spansById, theSpan, topLevelEntries,
  missingEntries, describeSpan, expectAcceptedBySink,
};
