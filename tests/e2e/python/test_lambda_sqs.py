"""Flow 2 of issue #17: an SQS-triggered Python Lambda function instrumented
by opentelemetry-instrumentation-aws-lambda, run by awslambdaric under AWS's
Lambda Runtime Interface Emulator, invoked with real SQS events: batches of
1, 3 and 10 records built from messages that the Dynatrace guide's sender
(boto3sqs) really sent through moto, with the message attributes that carry
`traceparent`. The instrumentation emits a root SERVER span for the
invocation (`faas.trigger = pubsub`) and below it one "process <queue>"
CONSUMER span with one link per record (link attribute
`messaging.message.id`); the handler makes a "handle record" span per
record (with its `messaging.message.id`) and one "summarize batch" span.

test_placement (issue #17's required result, oracle.py): the invocation
lands under one message's producer (first link by default, last with
`reparent.link_choice: last`); each message gets a per-message CONSUMER
span under its own sender; each record's "handle record" subtree moves
under its message's per-message span.

test_delivery: what must hold whatever the placement rules: each span
arrives exactly once, none waits for the hold window.
"""

import os

import pytest

import flows
import harness

# 14 messages from 7 sender invocations (7 traces, 2 messages each), split
# into batches of 1, 3 and 10 in send order: the batch of 3 has two links
# into one trace, the batch of 10 five traces with two links each.
SENDER_INVOCATIONS, PER_INVOCATION = 7, 2
BATCHES = (1, 3, 10)

CASES = [("http/protobuf", "first"), ("grpc", "first"), ("http/protobuf", "last")]


@pytest.fixture(scope="module")
def gateways(env, h):
    """The module's gateway (link_choice first) and one with link_choice last."""
    config = os.path.join(harness.tmp_dir("config-"), "gateway.yaml")
    with open(config, "w") as f:
        f.write("reparent:\n  link_choice: last\n")
    last = h.start_gateway(env.sink.url, hold_window="10s", extra_args=[f"--config={config}"])
    return {"first": env.gateway, "last": last}


def run_flow(env, h, gateway, protocol, link_choice):
    tag = f"{protocol.split('/')[0]}-{link_choice}"
    queue = env.create_queue(f"jobs-{tag}-{flows.run_id()}")
    endpoint = gateway.endpoint(protocol)
    h.run_app(f"sqs_sender_{tag}", "sqs_sender.py",
              [queue, str(SENDER_INVOCATIONS), str(PER_INVOCATION), protocol, endpoint,
               env.path(f"sender-{tag}.jsonl")])
    messages = env.take_messages(queue, sum(BATCHES))
    fn = h.start_lambda(f"sqs-triggered-{tag}", "lambda_function.plain", {
        "E2E_OTLP_PROTOCOL": protocol, "E2E_OTLP_ENDPOINT": endpoint,
        "E2E_RECORD": env.path(f"lambda-{tag}.jsonl")})
    arn = env.queue_arn(queue)
    start = 0
    for n in BATCHES:
        out = fn.invoke(flows.Env.sqs_event(messages[start:start + n], arn))
        assert out == {"processed": [m["MessageId"] for m in messages[start:start + n]]}
        start += n
    spans = env.records([f"sender-{tag}.jsonl", f"lambda-{tag}.jsonl"])
    consumers = [s for s in spans if s["scope"].endswith("aws_lambda") and s["kind"] == 5]
    assert sorted(len(s["links"]) for s in consumers) == sorted(BATCHES), \
        "one CONSUMER span per invocation, one link per record"
    return tag, spans


@pytest.mark.parametrize("protocol,link_choice", CASES)
def test_placement(env, h, gateways, protocol, link_choice):
    tag, spans = run_flow(env, h, gateways[link_choice], protocol, link_choice)
    verdict = env.deliver_and_check(spans, f"flow2-lambda-sqs-{tag}", link_choice=link_choice)
    assert not verdict.problems, verdict.text()
    assert verdict.held_releases == 0, "no span waited for the hold window"


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_delivery(env, h, gateways, protocol):
    tag, spans = run_flow(env, h, gateways["first"], protocol, "first")
    verdict = env.deliver_and_check(spans, f"flow2-lambda-sqs-delivery-{tag}", placement=False)
    assert not verdict.problems, verdict.text()
    assert verdict.held_releases == 0, "no span waited for the hold window"
