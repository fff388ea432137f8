"""Flow 4 of issue #17: code already written Dynatrace's manual way (users
of DT_OPEN_TELEMETRY_ALLOW_EXPLICIT_PARENT migrating): each message handled
inside a hand-written CONSUMER span whose parent is the sender's context
extracted from the message ("manual-receive-process" in the receive-API
consumer, "manual-trigger-process" in the SQS-triggered Lambda), with the
instrumentations still on (boto3sqs, botocore, aws-lambda), so that their
link-carrying CONSUMER spans exist too.

The hand-written spans already have the producer as parent and no link:
they and their subtrees must arrive exactly where they were emitted, with no
gateway.reparent.* attribute (nothing reparented twice); every span once.
"""

import pytest

import flows
import oracle
from conftest import PROTOCOLS


def check_manual_untouched(env, spans, manual_name, label, placement=True):
    verdict = env.deliver_and_check(spans, label, placement=placement)
    assert not verdict.problems, verdict.text()
    received = {s["span_id"]: s for s in env.sink.received()["spans"]}
    manual = [s for s in spans if s["name"] == manual_name]
    assert manual and all(s["parent_is_remote"] and not s["links"] for s in manual), \
        "hand-written spans: explicit remote parent, no link"
    by_parent = {}
    for s in spans:
        by_parent.setdefault((s["trace_id"], s["parent_span_id"]), []).append(s)
    todo, untouched = list(manual), []
    for _ in range(100_000):
        if not todo:
            break
        s = todo.pop()
        untouched.append(s)
        todo += by_parent.get((s["trace_id"], s["span_id"]), [])
    for s in untouched:
        got = received[s["span_id"]]
        assert (got["trace_id"], got["parent_span_id"]) == (s["trace_id"], s["parent_span_id"]), \
            f"{s['name']} [{s['span_id']}] moved"
        assert oracle.ORIGINAL_TRACE not in got["attributes"], f"{s['name']} rewritten"
    return verdict


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_receive_api_hand_written_parents_are_kept_and_process_spans_reparented_once(env, h, protocol):
    tag = protocol.split("/")[0]
    queue = env.create_queue(f"manual-{tag}-{flows.run_id()}")
    endpoint = env.gateway.endpoint(protocol)
    h.run_app(f"sqs_sender_manual_{tag}", "sqs_sender.py",
              [queue, "2", "5", protocol, endpoint, env.path(f"sender-manual-{tag}.jsonl")])
    h.run_app(f"sqs_receiver_manual_{tag}", "sqs_receiver.py",
              [queue, "manual", protocol, endpoint, env.path(f"receiver-manual-{tag}.jsonl")])
    spans = env.records([f"sender-manual-{tag}.jsonl", f"receiver-manual-{tag}.jsonl"])
    verdict = check_manual_untouched(env, spans, "manual-receive-process", f"flow4-manual-receive-{tag}")
    assert len(verdict.exp.targets) == 10, "the ten boto3sqs process spans are the only targets"


def test_lambda_hand_written_parents_are_kept(env, h):
    protocol, tag = "http/protobuf", "http"
    queue = env.create_queue(f"manual-lambda-{flows.run_id()}")
    endpoint = env.gateway.endpoint(protocol)
    h.run_app("sqs_sender_manual_lambda", "sqs_sender.py",
              [queue, "3", "1", protocol, endpoint, env.path("sender-manual-lambda.jsonl")])
    messages = env.take_messages(queue, 3)
    fn = h.start_lambda("sqs-triggered-manual", "lambda_function.manual", {
        "E2E_OTLP_PROTOCOL": protocol, "E2E_OTLP_ENDPOINT": endpoint,
        "E2E_RECORD": env.path("lambda-manual.jsonl")})
    fn.invoke(flows.Env.sqs_event(messages, env.queue_arn(queue)))
    spans = env.records(["sender-manual-lambda.jsonl", "lambda-manual.jsonl"])
    # Placement of the instrumentation's batch span is flow 2's subject
    # (test_lambda_sqs.py); here: delivery, and the hand-written spans kept.
    check_manual_untouched(env, spans, "manual-trigger-process", f"flow4-manual-lambda-{tag}",
                           placement=False)
