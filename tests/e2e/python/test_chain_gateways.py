"""Issue #19 with real clients: a chain of queues through separate gateways
(one per service, sidecar mode: `cross_process` off) that share a fate
store on a real redis-server.

    A (sqs_sender.py)  --q1-->  B (sqs_relay.py)  --q2-->  C (sqs_relay.py)  --q3-->  D (sqs_relay.py)
      gateway A, HTTP           gateway B, gRPC            gateway C, HTTP           gateway D, gRPC

Each service is its own process with the OpenTelemetry Python SDK and the
boto3sqs and botocore instrumentations, exporting to its own gateway; all
four gateways export to one fake Dynatrace and share one redis-server
(`reparent.fate_store`). B, C and D `receive_message` and, inside
boto3sqs's per-message "process" span, send the message on: B's producer
is a child of B's consumer, which B's gateway moves into A's trace. C's
consumer links to B's producer by its ORIGINAL trace id; only the store
tells C's gateway where B's gateway moved it.

Expectations come from the spans the apps recorded (oracle.py, chain rule
of docs/reparenting.md §3 and §10): every span of B's, C's and D's
processing in A's trace (the first producer's), each process span under the
producer it links to, every span exactly once. Then Redis is stopped before
C's consumer arrives: C's processing goes to B's ORIGINAL trace, as without
a store, nothing is lost, and C's gateway counts the degraded decisions.
With Redis started again (empty, same port), the gateways reconnect on
their own and chains end up whole again.
"""

import collections
import os

import pytest

import flows
import harness
import oracle

PRODUCER = 4
# Per service: the OTLP protocol it exports to its gateway with.
SERVICES = {"a": "http/protobuf", "b": "grpc", "c": "http/protobuf", "d": "grpc"}
INVOCATIONS, PER_INVOCATION = 3, 2  # A: 3 traces of 2 messages each
MESSAGES = INVOCATIONS * PER_INVOCATION


def fate_store_config(redis_address):
    path = os.path.join(harness.tmp_dir("gateway-config-"), "gateway.yaml")
    with open(path, "w") as f:
        f.write("reparent:\n"
                "  fate_store:\n"
                "    type: redis\n"
                f"    redis: {{address: \"{redis_address}\"}}\n")
    return path


class Chain:
    def __init__(self, h, sink, moto, redis, gateways):
        self.h = h
        self.sink = sink
        self.redis = redis
        self.gateways = gateways
        self.env = flows.Env(h, sink, gateways["a"], moto)

    def endpoint(self, service):
        return self.gateways[service].endpoint(SERVICES[service])

    def start(self, tag, services):
        """A queue in front of each of `services` (B, C, ...); runs A, which
        sends MESSAGES messages to the first. Returns A's record file."""
        self.queues_for(tag, services)
        return [self.send()]

    def queues_for(self, tag, services):
        self.tag = tag
        self.services = services
        self.queues = {s: self.env.create_queue(f"chain-{tag}-{s}-{flows.run_id()}") for s in services}

    def send(self):
        record = f"{self.tag}-a.jsonl"
        self.h.run_app(f"{self.tag}_a", "sqs_sender.py",
                       [self.queues[self.services[0]], str(INVOCATIONS), str(PER_INVOCATION),
                        SERVICES["a"], self.endpoint("a"), self.env.path(record)])
        return record

    def relay(self, service):
        """Runs `service` to completion: it takes the messages from its
        queue and sends each on to the next service's (none after the
        last). Returns its record file's name."""
        child, record = self.start_relay(service)
        self.h.finish_app(child)
        return record

    def start_relay(self, service):
        """Starts `service` (see relay) and returns (its Child, its record
        file's name) at once."""
        i = self.services.index(service)
        out = self.queues[self.services[i + 1]] if i + 1 < len(self.services) else "-"
        record = f"{self.tag}-{service}.jsonl"
        child = self.h.start_app(f"{self.tag}_{service}", "sqs_relay.py",
                                 [service, self.queues[service], out, str(MESSAGES), SERVICES[service],
                                  self.endpoint(service), self.env.path(record)])
        return child, record

    def metric(self, service, series):
        return self.gateways[service].metrics().get(series, 0)

    def store_waits(self):
        """Per gateway: (consumers that waited for the store, microseconds
        they waited in all) so far."""
        return {s: (self.metric(s, "gateway_fate_store_waits_total"),
                    self.metric(s, "gateway_fate_store_wait_microseconds_total")) for s in SERVICES}

    def log_store_waits(self, before, label):
        after = self.store_waits()
        parts = []
        for s in SERVICES:
            n, us = after[s][0] - before[s][0], after[s][1] - before[s][1]
            parts.append(f"{s}: {n:g} waited" + (f", {us / n / 1000:.1f} ms on average" if n else ""))
        harness.log(f"{label}: consumers waiting for the store: " + "; ".join(parts))


@pytest.fixture(scope="module")
def chain(h):
    sink = h.start_fake_dynatrace()
    moto = h.start_moto()
    redis = h.start_redis()
    config = fate_store_config(redis.address)
    gateways = {s: h.start_gateway(sink.url, hold_window="10s", extra_args=[f"--config={config}"],
                                   name=f"gateway_{s}")
                for s in SERVICES}
    yield Chain(h, sink, moto, redis, gateways)
    sink.stop_watching()


def process_spans(spans):
    return [s for s in spans if s["name"].endswith(" process")]


def first_producer_trace(spans):
    """For each process span, the trace of the first producer of its chain,
    found by walking the recorded spans (link -> linked span -> the process
    span above it -> its link ...), independently of the oracle."""
    by_key = {(s["trace_id"], s["span_id"]): s for s in spans}
    out = {}
    for p in process_spans(spans):
        span = p
        for _ in range(100):
            link = span["links"][0]
            producer = by_key[(link["trace_id"], link["span_id"])]
            above = producer
            for _ in range(100):  # the process span the producer was sent in, if any
                if above["name"].endswith(" process") or not above["parent_span_id"]:
                    break
                above = by_key[(above["trace_id"], above["parent_span_id"])]
            if not above["name"].endswith(" process"):
                out[p["span_id"]] = producer["trace_id"]
                break
            span = above
    return out


def subtree(spans, root):
    children = collections.defaultdict(list)
    for s in spans:
        children[(s["trace_id"], s["parent_span_id"])].append(s)
    out, todo = [root], [root]
    for _ in range(100_000):
        if not todo:
            break
        s = todo.pop()
        for c in children[(s["trace_id"], s["span_id"])]:
            out.append(c)
            todo.append(c)
    return out


def check_shapes(spans, services):
    by_service = collections.Counter(s["service"] for s in process_spans(spans))
    for s in services:
        assert by_service[f"e2e-chain-{s}"] == MESSAGES, f"{s}: one process span per message"
    by_key = {(s["trace_id"], s["span_id"]): s for s in spans}
    for p in process_spans(spans):
        assert len(p["links"]) == 1, "boto3sqs links each process span to its sender"
        assert (p["links"][0]["trace_id"], p["links"][0]["span_id"]) in by_key, \
            "every link names a span an app recorded"
    for s in spans:
        if s["kind"] == PRODUCER and s["service"] != "e2e-sqs-sender":
            above = [a for a in ancestors(by_key, s) if a["name"].endswith(" process")]
            assert above, f"{s['name']} of {s['service']} was sent inside a process span"


def ancestors(by_key, span):
    out = []
    for _ in range(100):
        parent = by_key.get((span["trace_id"], span["parent_span_id"]))
        if parent is None:
            return out
        out.append(parent)
        span = parent
    return out


def test_chain_through_gateways_sharing_the_store_ends_up_in_the_first_producers_trace(chain):
    services = ["b", "c", "d"]
    waits = chain.store_waits()
    records = chain.start("whole", services) + [chain.relay(s) for s in services]
    spans = chain.env.records(records)
    check_shapes(spans, services)

    verdict = chain.env.deliver_and_check(spans, "chain-gateways-whole",
                                          gateways=list(chain.gateways.values()))
    chain.log_store_waits(waits, "one service after the other")
    # Independently of the oracle: each service's processing (its process
    # span and everything below it) in the first producer's trace.
    received = {s["span_id"]: s for s in chain.sink.received()["spans"]}
    first = first_producer_trace(spans)
    misplaced = [f"{s['service']}:{s['name']} [{s['span_id']}] in {received[s['span_id']]['trace_id']}, "
                 f"want {first[p['span_id']]}"
                 for p in process_spans(spans) for s in subtree(spans, p)
                 if s["span_id"] in received and received[s["span_id"]]["trace_id"] != first[p["span_id"]]]
    assert not verdict.problems, verdict.text()
    assert not misplaced, "\n".join(misplaced)
    assert len(set(first.values())) == INVOCATIONS
    # The flow needs the store: without it (each gateway knowing only its
    # own spans) C's and D's processing would be elsewhere.
    ours = [s for s in chain.sink.received()["spans"] if s["span_id"] in verdict.exp.spans]
    without = oracle.compare(oracle.expect(spans, follow=False), ours)
    harness.log(f"{len(spans)} spans in {INVOCATIONS} traces, {MESSAGES} chains of 3 hops; "
                f"{len(without)} of them would be misplaced without the store")
    assert without, "C's and D's consumers link to producers that moved"
    assert verdict.held_releases == 0, "no span waited for the hold window"

    followed = {s: chain.metric(s, "gateway_fate_store_links_followed_total") for s in "bcd"}
    harness.log(f"links followed through the store: {followed}; "
                f"lookups on C's gateway: " + str({k: v for k, v in chain.gateways["c"].metrics().items()
                                                  if k.startswith("gateway_fate_store_lookups_total")}))
    assert followed["b"] == 0, "A's producers did not move: B's consumers follow nothing"
    assert followed["c"] == MESSAGES and followed["d"] == MESSAGES, followed


def test_services_running_at_once_end_up_whole(chain):
    """B, C and D wait for messages while A sends: each service exports when
    it has handled its messages, moments after the one before it, so a
    consumer's lookup may come before its producer's gateway has published
    (asked again every 250 ms, within max_wait)."""
    services = ["b", "c", "d"]
    waits = chain.store_waits()
    chain.queues_for("concurrent", services)
    started = [chain.start_relay(s) for s in services]
    records = [chain.send()]
    for child, record in started:
        chain.h.finish_app(child)
        records.append(record)
    spans = chain.env.records(records)
    check_shapes(spans, services)
    lookups = lambda: {k: v for k, v in chain.gateways["c"].metrics().items()
                       if k.startswith("gateway_fate_store_lookups_total")}
    verdict = chain.env.deliver_and_check(spans, "chain-gateways-concurrent",
                                          gateways=list(chain.gateways.values()))
    harness.log(f"services at once: lookups on C's gateway so far {lookups()}")
    chain.log_store_waits(waits, "services at once")
    assert not verdict.problems, verdict.text()


def test_redis_stopped_before_cs_consumer_arrives_degrades_to_bs_original_trace(chain):
    services = ["b", "c"]
    ab = chain.env.records(chain.start("degraded", services) + [chain.relay("b")])
    # B's hop is decided with the store (B's processing in A's trace) before
    # the store goes.
    chain.env.wait_delivered(ab, gateways=list(chain.gateways.values()))
    degraded_before = chain.metric("c", 'gateway_fate_store_degraded_total{reason="unavailable"}')
    followed_before = chain.metric("c", "gateway_fate_store_links_followed_total")
    chain.redis.stop()

    # C's hop, through the queue B filled, with the store down.
    spans = ab + chain.env.records([chain.relay("c")])
    check_shapes(spans, services)

    c_targets = {p["span_id"] for p in process_spans(spans) if p["service"] == "e2e-chain-c"}
    verdict = chain.env.deliver_and_check(spans, "chain-gateways-redis-down",
                                          gateways=list(chain.gateways.values()),
                                          follow=lambda target: target["span_id"] not in c_targets)
    assert not verdict.problems, verdict.text()
    received = {s["span_id"]: s for s in chain.sink.received()["spans"]}
    for p in process_spans(spans):
        if p["span_id"] in c_targets:
            assert received[p["span_id"]]["trace_id"] == p["links"][0]["trace_id"], \
                "C's consumer under B's producer in B's original trace"
    degraded = chain.metric("c", 'gateway_fate_store_degraded_total{reason="unavailable"}') - degraded_before
    followed = chain.metric("c", "gateway_fate_store_links_followed_total") - followed_before
    harness.log(f"store down: C's gateway degraded {degraded:g} consumers, followed {followed:g}; "
                f"up: {chain.metric('c', 'gateway_fate_store_up'):g}")
    assert degraded == MESSAGES, f"C's gateway counted {degraded:g} degraded decisions, want {MESSAGES}"
    assert followed == 0


def test_redis_back_whole_chains_again(chain):
    chain.h.restart_redis(chain.redis)
    # Each gateway reconnects on its own (backoff from 250 ms up to 5 s).
    harness.wait_for(lambda: all(chain.metric(s, "gateway_fate_store_up") == 1 for s in SERVICES),
                     15, "every gateway to find the store again")
    followed_before = chain.metric("c", "gateway_fate_store_links_followed_total")
    services = ["b", "c"]
    records = chain.start("back", services) + [chain.relay(s) for s in services]
    spans = chain.env.records(records)
    check_shapes(spans, services)
    verdict = chain.env.deliver_and_check(spans, "chain-gateways-redis-back",
                                          gateways=list(chain.gateways.values()))
    assert not verdict.problems, verdict.text()
    followed = chain.metric("c", "gateway_fate_store_links_followed_total") - followed_before
    assert followed == MESSAGES, f"C's gateway followed {followed:g} links through the store"


def test_sqs_triggered_lambda_after_the_chain_places_each_message_in_its_first_producers_trace(chain):
    """A -> B -> C where C is an SQS-triggered Lambda (aws-lambda
    instrumentation under the Runtime Interface Emulator) handed all of B's
    messages in one batch: its CONSUMER span has one link per record, to B's
    producers, which B's gateway moved into A's 3 traces. C's gateway asks
    the store about every link: the invocation goes under the first
    record's producer in that producer's new trace, and each record gets a
    per-message span under its own producer in ITS new trace, with its
    "handle record" subtree below it."""
    services = ["b", "c"]
    records = chain.start("lambda", services) + [chain.relay("b")]
    messages = chain.env.take_messages(chain.queues["c"], MESSAGES)
    followed_before = chain.metric("c", "gateway_fate_store_links_followed_total")
    fn = chain.h.start_lambda("chain-c", "lambda_function.plain", {
        "E2E_OTLP_PROTOCOL": SERVICES["c"], "E2E_OTLP_ENDPOINT": chain.endpoint("c"),
        "E2E_RECORD": chain.env.path("lambda-c.jsonl")})
    out = fn.invoke(flows.Env.sqs_event(messages, chain.env.queue_arn(chain.queues["c"])))
    assert out == {"processed": [m["MessageId"] for m in messages]}
    spans = chain.env.records(records + ["lambda-c.jsonl"])
    batch = [s for s in spans if s["scope"].endswith("aws_lambda") and s["kind"] == 5]
    assert len(batch) == 1 and len(batch[0]["links"]) == MESSAGES, "one link per record"

    verdict = chain.env.deliver_and_check(spans, "chain-gateways-lambda",
                                          gateways=list(chain.gateways.values()))
    assert not verdict.problems, verdict.text()
    assert len(verdict.exp.per_message) == MESSAGES
    assert len({pm["trace"] for pm in verdict.exp.per_message}) == INVOCATIONS, \
        "the per-message spans go to A's 3 traces"
    followed = chain.metric("c", "gateway_fate_store_links_followed_total") - followed_before
    harness.log(f"Lambda after the chain: C's gateway followed the links of {followed:g} consumer span")
    assert followed == 1, "the batch's CONSUMER span waited for the store and its links had moved"
