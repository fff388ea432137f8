"""Flow 3 of issue #17: SNS -> SQS. The Dynatrace guide's SNS sender
(botocore instrumentation: "<topic> send" PRODUCER span, `traceparent` in
the SNS message attributes) publishes to a topic with an SQS subscription,
raw message delivery on or off (moto delivers it); consumers are the
receive-API app (boto3sqs) and the SQS-triggered Lambda (aws-lambda).

Raw delivery on: SNS message attributes become SQS message attributes, the
consumers link to the publish span, and the oracle expects what it expects
for SQS (flows 1 and 2).

Raw delivery off: the SQS body is the SNS JSON envelope and the context is
inside it (`MessageAttributes.traceparent.Value`); neither boto3sqs nor the
aws-lambda instrumentation reads it, so the consumer spans carry no link.
Nothing can be reparented then; every span must still arrive exactly once,
unchanged.
"""

import json

import pytest

import flows
from conftest import PROTOCOLS


def setup_topic(env, tag, raw):
    queue = env.create_queue(f"notify-{tag}-{flows.run_id()}")
    topic = env.sns.create_topic(Name=f"events-{tag}-{flows.run_id()}")["TopicArn"]
    attrs = {"RawMessageDelivery": "true"} if raw else {}
    env.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=env.queue_arn(queue),
                      Attributes=attrs)
    return topic, queue


def publish(env, h, tag, topic, protocol, invocations, per_invocation):
    h.run_app(f"sns_sender_{tag}", "sns_sender.py",
              [topic, env.moto.url, str(invocations), str(per_invocation), protocol,
               env.gateway.endpoint(protocol), env.path(f"sns-sender-{tag}.jsonl")])


def receive_api_flow(env, h, protocol, raw):
    tag = f"{protocol.split('/')[0]}-{'raw' if raw else 'envelope'}"
    topic, queue = setup_topic(env, tag, raw)
    publish(env, h, tag, topic, protocol, 2, 3)
    h.run_app(f"sqs_receiver_{tag}", "sqs_receiver.py",
              [queue, "plain", protocol, env.gateway.endpoint(protocol),
               env.path(f"receiver-{tag}.jsonl")])
    spans = env.records([f"sns-sender-{tag}.jsonl", f"receiver-{tag}.jsonl"])
    process = [s for s in spans if s["name"].endswith(" process")]
    assert len(process) == 6, "one boto3sqs process span per delivered message"
    return tag, spans, process


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_raw_delivery_receive_api_process_spans_arrive_under_the_publish_span(env, h, protocol):
    tag, spans, process = receive_api_flow(env, h, protocol, raw=True)
    publishes = {s["span_id"] for s in spans if s["kind"] == 4 and s["service"] == "e2e-sns-sender"}
    assert {s["links"][0]["span_id"] for s in process} <= publishes, \
        "with raw delivery each process span links to its SNS publish span"
    verdict = env.deliver_and_check(spans, f"flow3-sns-raw-receive-{tag}")
    assert not verdict.problems, verdict.text()
    assert verdict.held_releases == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_envelope_receive_api_nothing_to_reparent_nothing_lost(env, h, protocol):
    tag, spans, process = receive_api_flow(env, h, protocol, raw=False)
    assert all(not s["links"] for s in process), \
        "boto3sqs does not read the context inside the SNS envelope: no link"
    verdict = env.deliver_and_check(spans, f"flow3-sns-envelope-receive-{tag}")
    assert not verdict.exp.targets
    assert not verdict.problems, verdict.text()
    assert verdict.held_releases == 0


def lambda_flow(env, h, protocol, raw):
    tag = f"{protocol.split('/')[0]}-{'raw' if raw else 'envelope'}-lambda"
    topic, queue = setup_topic(env, tag, raw)
    publish(env, h, tag, topic, protocol, 3, 1)
    messages = env.take_messages(queue, 3)
    if not raw:
        envelope = json.loads(messages[0]["Body"])
        assert "traceparent" in envelope.get("MessageAttributes", {}), \
            "the context travels inside the SNS envelope"
    endpoint = env.gateway.endpoint(protocol)
    fn = h.start_lambda(f"sns-sqs-{tag}", "lambda_function.plain", {
        "E2E_OTLP_PROTOCOL": protocol, "E2E_OTLP_ENDPOINT": endpoint,
        "E2E_RECORD": env.path(f"lambda-{tag}.jsonl")})
    fn.invoke(flows.Env.sqs_event(messages, env.queue_arn(queue)))
    return tag, env.records([f"sns-sender-{tag}.jsonl", f"lambda-{tag}.jsonl"])


def test_envelope_lambda_nothing_to_reparent_nothing_lost(env, h):
    tag, spans = lambda_flow(env, h, "http/protobuf", raw=False)
    consumer = [s for s in spans if s["scope"].endswith("aws_lambda") and s["kind"] == 5]
    assert len(consumer) == 1 and not consumer[0]["links"], \
        "aws-lambda does not read the context inside the SNS envelope: no link"
    verdict = env.deliver_and_check(spans, f"flow3-sns-envelope-{tag}")
    assert not verdict.problems, verdict.text()
    assert verdict.held_releases == 0


def test_lambda_raw_placement(env, h):
    """Raw delivery into an SQS-triggered Lambda: the flow-2 shape with SNS
    producers; same required placement (oracle.py)."""
    tag, spans = lambda_flow(env, h, "http/protobuf", raw=True)
    consumer = [s for s in spans if s["scope"].endswith("aws_lambda") and s["kind"] == 5]
    assert len(consumer) == 1 and len(consumer[0]["links"]) == 3
    verdict = env.deliver_and_check(spans, f"flow3-sns-raw-{tag}")
    assert not verdict.problems, verdict.text()
    assert verdict.held_releases == 0
