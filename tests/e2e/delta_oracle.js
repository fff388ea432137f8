// What the gateway must send to Dynatrace for the metric points a client
// really exported (decoded by the fake's /decode/metrics), by the rules of
// docs/metrics.md: monotonic cumulative sums, cumulative histograms and
// exponential histograms become deltas (a series that started after the
// gateway keeps its first point whole; later points subtract the previous
// one and start at its time; a decrease drops the point); everything else
// passes unchanged. Points compare as canonical strings; exponential
// histogram buckets as the set of non-zero buckets.
//
//   const expected = expectedDeltas(sentPoints, gatewayStartNs);
//   assert.deepStrictEqual(canonical(receivedPoints), expected);
'use strict';

function sortedAttrs(attrs) {
  return JSON.stringify(Object.keys(attrs).sort().map((k) => [k, attrs[k]]));
}

function seriesKey(p) {
  return [p.service, p.scope, p.metric, p.type, sortedAttrs(p.attributes), p.start].join('|');
}

function nonZero(side, bitsLost = 0) {
  const out = new Map();
  side.counts.forEach((c, i) => {
    if (c === 0) return;
    const index = (side.offset + i) >> bitsLost;
    out.set(index, (out.get(index) || 0) + c);
  });
  return out;
}

function canonicalPoint(p) {
  const base = [p.service, p.scope, p.metric, p.unit, p.type, `t${p.temporality}`, p.monotonic ? 'mono' : '',
                sortedAttrs(p.attributes), `${p.start}..${p.time}`, `f${p.flags}`];
  if (p.histogram) {
    const h = p.histogram;
    base.push(`h:${h.count} sum:${h.sum} bounds:${h.bounds} counts:${h.counts} min:${h.min} max:${h.max}`);
  } else if (p.exponential) {
    const e = p.exponential;
    const side = (s) => JSON.stringify([...nonZero(s)].sort((a, b) => a[0] - b[0]));
    base.push(`e:${e.count} sum:${e.sum} scale:${e.scale} zero:${e.zero_count} +${side(e.positive)} -${side(e.negative)}`);
  } else {
    base.push(`v:${p.value}`);
  }
  return base.join(' ');
}

function canonical(points) {
  return points.map(canonicalPoint).sort();
}

// The delta of `p` over `prev` (same series), or null for a reset.
function subtract(p, prev) {
  const d = JSON.parse(JSON.stringify(p));
  d.start = prev.time;
  d.temporality = 1;
  if (p.type === 'sum') {
    if (p.value < prev.value) return null;
    d.value = p.value - prev.value;
  } else if (p.type === 'histogram') {
    const h = p.histogram;
    const b = prev.histogram;
    if (h.counts.length !== b.counts.length || JSON.stringify(h.bounds) !== JSON.stringify(b.bounds)) return null;
    if (h.count < b.count || h.counts.some((c, i) => c < b.counts[i])) return null;
    d.histogram.count = h.count - b.count;
    d.histogram.counts = h.counts.map((c, i) => c - b.counts[i]);
    if (h.sum !== null) d.histogram.sum = h.sum - (b.sum === null ? 0 : b.sum);
  } else {
    const e = p.exponential;
    const b = prev.exponential;
    if (e.count < b.count || e.scale > b.scale || e.zero_count < b.zero_count) return null;
    const bits = b.scale - e.scale;
    for (const side of ['positive', 'negative']) {
      const before = nonZero(b[side], bits);
      const diff = new Map();
      for (const [i, c] of nonZero(e[side])) {
        const o = before.get(i) || 0;
        if (c < o) return null;
        if (c > o) diff.set(i, c - o);
      }
      const indices = [...diff.keys()].sort((x, y) => x - y);
      const offset = indices.length ? indices[0] : 0;
      const counts = indices.length ? new Array(indices[indices.length - 1] - offset + 1).fill(0) : [];
      for (const [i, c] of diff) counts[i - offset] = c;
      d.exponential[side] = { offset, counts };
    }
    d.exponential.count = e.count - b.count;
    d.exponential.zero_count = e.zero_count - b.zero_count;
    if (e.sum !== null) d.exponential.sum = e.sum - (b.sum === null ? 0 : b.sum);
  }
  return d;
}

function converted(p) {
  return p.temporality === 2 && ((p.type === 'sum' && p.monotonic) || p.type === 'histogram' ||
                                 p.type === 'exponential_histogram');
}

// Canonical strings of the points the gateway must send for `points` (in
// the order the client sent them).
function expectedDeltas(points, gatewayStartNs) {
  const last = new Map();
  const out = [];
  for (const p of points) {
    if (!converted(p)) {
      out.push(p);
      continue;
    }
    const key = seriesKey(p);
    const prev = last.get(key);
    let d = null;
    if (!prev) {
      if (BigInt(p.start) >= gatewayStartNs && p.start !== p.time) {
        d = JSON.parse(JSON.stringify(p));
        d.temporality = 1;
      }
    } else if (BigInt(p.time) > BigInt(prev.time)) {
      d = subtract(p, prev);
    } else {
      continue;  // not newer: dropped, state kept
    }
    if (d) {
      if (d.histogram) { d.histogram.min = null; d.histogram.max = null; }
      out.push(d);
    }
    last.set(key, p);
  }
  return canonical(out);
}

module.exports = { expectedDeltas, canonical, converted };
