"""Where each span should arrive at Dynatrace, computed from the spans the
apps really emitted (their record files, see telemetry.py), and a comparison
with what the fake Dynatrace received.

The rules are issue #17's (docs/reparenting.md states the gateway's own):

* A **target** is a CONSUMER span with at least one eligible link: ids not
  all zero, another trace than the span's own, and not marked as unable to
  be a parent (see `eligible_links`).
* The chosen link (first or last eligible one) becomes the parent of the
  target's **anchor**: the target itself, or, for an AWS Lambda invocation
  (a root SERVER span with `faas.trigger = pubsub`, the aws-lambda
  instrumentation's shape) that is the target's parent, that invocation, so
  that the invocation lands under one message's producer. The anchor's
  descendants follow it into the producer's trace with their parents
  unchanged.
* A target with several eligible links is a batch. Each of its messages
  gets a per-message CONSUMER span under that message's producer (the link's
  span): attribute `messaging.message.id` from the link, a link back to the
  batch span, not the batch's `messaging.batch.message_count`. A descendant
  of the batch span whose `messaging.message.id` is one of the links'
  moves, with its subtree, under that message's per-message span in that
  message's trace.
* Chains (docs/reparenting.md §3): a link names its span by that span's
  **original** trace. When the linked span is one of the recorded spans and
  was itself moved (B's producer, below B's consumer, went into A's trace),
  the target goes to the linked span's **new** trace, under it; so every hop
  of A -> B -> C ends up in A's trace. `follow` says for which targets the
  gateway knows the linked span's fate: all (True, one gateway or gateways
  sharing a fate store), none (False) or those a predicate accepts (a store
  that was down for some of them).
* Every other span arrives unchanged; every span arrives exactly once.

    exp = oracle.expect(spans, link_choice="first")
    problems = oracle.compare(exp, received["spans"])   # [] when all is right
"""

import collections

CONSUMER = 5
SERVER = 2
MESSAGE_ID = "messaging.message.id"
BATCH_COUNT = "messaging.batch.message_count"
ORIGINAL_TRACE = "gateway.reparent.original_trace_id"
ZERO_TRACE = "0" * 32
ZERO_SPAN = "0" * 16


def eligible_links(span):
    """Links that can become a parent: valid, into another trace. A link
    the SDK recorded as unsampled is skipped only where the wire says so:
    the Python SDK's OTLP encoder sends no W3C trace flags (only the
    is-remote bits), so from Python every valid cross-trace link is
    eligible."""
    return [l for l in span["links"]
            if l["trace_id"] not in ("", ZERO_TRACE) and l["span_id"] not in ("", ZERO_SPAN)
            and l["trace_id"] != span["trace_id"]]


def is_target(span):
    return span["kind"] == CONSUMER and bool(eligible_links(span))


def is_lambda_invocation(span):
    return (span is not None and span["kind"] == SERVER and not span["parent_span_id"]
            and span["attributes"].get("faas.trigger") == "pubsub")


class Expectation:
    """placement: span_id -> {"trace", "parent"}, where "parent" is a span id
    ("" for a root) or ("per_message", batch_span_id, message_id).
    per_message: [{"batch_span_id", "message_id", "trace", "parent"}]."""

    def __init__(self, spans):
        self.spans = {s["span_id"]: s for s in spans}
        self.placement = {s["span_id"]: {"trace": s["trace_id"], "parent": s["parent_span_id"]}
                          for s in spans}
        self.per_message = []
        self.targets = []


def _children_index(spans):
    children = collections.defaultdict(list)
    for s in spans:
        if s["parent_span_id"]:
            children[(s["trace_id"], s["parent_span_id"])].append(s)
    return children


def _depth(span, by_id):
    d = 0
    for _ in range(10_000):
        p = by_id.get(span["parent_span_id"])
        if p is None or p["trace_id"] != span["trace_id"]:
            return d
        span, d = p, d + 1
    return d


def expect(spans, link_choice="first", per_message=True, lambda_invocation=True, follow=True):
    """The expectation for `spans`. Chains are resolved by passes: each pass
    places the targets with the linked spans' traces from the pass before,
    until nothing changes (a chain of k hops settles in k + 1 passes)."""
    follows = follow if callable(follow) else (lambda target: follow)
    known = {}  # (original trace, span id) -> trace it arrives in, last pass
    for _ in range(1000):
        def where(target, link):
            if not follows(target):
                return link["trace_id"]
            return known.get((link["trace_id"], link["span_id"]), link["trace_id"])
        exp = _expect_pass(spans, link_choice, per_message, lambda_invocation, where)
        placed = {(s["trace_id"], s["span_id"]): exp.placement[s["span_id"]]["trace"] for s in spans}
        if placed == known:
            return exp
        known = placed
    raise AssertionError("the links form a cycle: no placement settles")


def _expect_pass(spans, link_choice, per_message, lambda_invocation, where):
    exp = Expectation(spans)
    by_id = exp.spans
    children = _children_index(spans)

    def subtree(root):
        """root's descendants in its own trace, parents before children."""
        out, todo = [], [root]
        for _ in range(1_000_000):
            if not todo:
                break
            s = todo.pop()
            for c in children.get((s["trace_id"], s["span_id"]), ()):
                out.append(c)
                todo.append(c)
        return out

    # Outer targets first so that a nested target's own move wins.
    for t in sorted((s for s in spans if is_target(s)), key=lambda s: _depth(s, by_id)):
        links = eligible_links(t)
        chosen = links[0] if link_choice == "first" else links[-1]
        exp.targets.append(t["span_id"])
        anchor = t
        parent = by_id.get(t["parent_span_id"])
        if lambda_invocation and parent is not None and parent["trace_id"] == t["trace_id"] \
                and is_lambda_invocation(parent):
            anchor = parent
        new_trace = where(t, chosen)
        exp.placement[anchor["span_id"]] = {"trace": new_trace, "parent": chosen["span_id"]}
        for d in subtree(anchor):
            exp.placement[d["span_id"]]["trace"] = new_trace
        if not per_message or len(links) < 2:
            continue
        by_message = {}
        for l in links:
            mid = l["attributes"].get(MESSAGE_ID)
            exp.per_message.append({"batch_span_id": t["span_id"], "message_id": mid,
                                    "trace": where(t, l), "parent": l["span_id"]})
            if mid:
                by_message[mid] = l
        # Route each subtree whose root carries a message id of the batch.
        todo = list(children.get((t["trace_id"], t["span_id"]), ()))
        for _ in range(1_000_000):
            if not todo:
                break
            d = todo.pop()
            link = by_message.get(d["attributes"].get(MESSAGE_ID))
            if link is None:
                todo.extend(children.get((d["trace_id"], d["span_id"]), ()))
                continue
            exp.placement[d["span_id"]] = {
                "trace": where(t, link),
                "parent": ("per_message", t["span_id"], d["attributes"][MESSAGE_ID])}
            for dd in subtree(d):
                exp.placement[dd["span_id"]]["trace"] = where(t, link)
    return exp


def _describe(span):
    return f"{span['name']!r} [{span['span_id']}]"


def compare(exp, received_spans):
    """Problems (strings) between the expectation and the spans the sink
    received; [] when every span is where it should be, exactly once, and
    the per-message spans are there exactly once each."""
    problems = []
    got = collections.defaultdict(list)
    for s in received_spans:
        got[s["span_id"]].append(s)

    # Per-message spans: synthetic (not emitted by an app), found by batch
    # span and message id.
    synthetic = [s for sid, lst in got.items() if sid not in exp.spans for s in lst]
    per_message_ids = {}
    for pm in exp.per_message:
        batch = exp.spans[pm["batch_span_id"]]
        what = f"per-message span of {_describe(batch)} for message {pm['message_id']}"
        found = [s for s in synthetic
                 if s["attributes"].get(MESSAGE_ID) == pm["message_id"]
                 and any(l["span_id"] == pm["batch_span_id"] for l in s["links"])]
        if len(found) != 1:
            problems.append(f"{what}: arrived {len(found)} times, want once "
                            f"(in trace {pm['trace']} under {pm['parent']})")
            continue
        s = found[0]
        per_message_ids[(pm["batch_span_id"], pm["message_id"])] = s["span_id"]
        if s["trace_id"] != pm["trace"] or s["parent_span_id"] != pm["parent"]:
            problems.append(f"{what}: at trace {s['trace_id']} parent {s['parent_span_id']}, "
                            f"want trace {pm['trace']} parent {pm['parent']}")
        if s["kind"] != CONSUMER:
            problems.append(f"{what}: kind {s['kind']}, want CONSUMER")
        if BATCH_COUNT in s["attributes"]:
            problems.append(f"{what}: carries the batch's {BATCH_COUNT}")
    expected_synthetic = set(per_message_ids.values())
    for s in synthetic:
        if s["span_id"] not in expected_synthetic:
            problems.append(
                f"unexpected span {_describe(s)} (created by the gateway) in trace {s['trace_id']} "
                f"under {s['parent_span_id']}, attributes {sorted(s['attributes'])}")

    for sid, want in exp.placement.items():
        span = exp.spans[sid]
        lst = got.get(sid, [])
        if len(lst) != 1:
            problems.append(f"{_describe(span)} arrived {len(lst)} times, want once")
            continue
        s = lst[0]
        parent = want["parent"]
        if isinstance(parent, tuple):
            parent = per_message_ids.get((parent[1], parent[2]), f"<per-message span for {parent[2]}>")
        if s["trace_id"] != want["trace"] or s["parent_span_id"] != parent:
            problems.append(
                f"{_describe(span)}: at trace {s['trace_id']} parent {s['parent_span_id'] or '-'}, "
                f"want trace {want['trace']} parent {parent or '-'} "
                f"(emitted in trace {span['trace_id']} parent {span['parent_span_id'] or '-'})")
    return problems


def delays(spans, arrival):
    """Seconds from each span's export by the app to its first sighting at
    the sink (None for spans never seen)."""
    return {s["span_id"]: (arrival(s["span_id"]) - s["exported_at"]) if arrival(s["span_id"]) else None
            for s in spans}


def delay_summary(values):
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return "no spans"
    pick = lambda q: vals[min(len(vals) - 1, int(q * (len(vals) - 1) + 0.5))]
    return (f"n={len(vals)} min={vals[0]:.3f}s median={pick(0.5):.3f}s p90={pick(0.9):.3f}s "
            f"max={vals[-1]:.3f}s")


def compare_delivery(exp, received_spans):
    """Problems with delivery alone: each span the apps emitted arrives
    exactly once (wherever it is placed)."""
    count = collections.Counter(s["span_id"] for s in received_spans)
    return [f"{_describe(span)} arrived {count[sid]} times, want once"
            for sid, span in exp.spans.items() if count[sid] != 1]
