"""Flow 1 of issue #17: Dynatrace's Python SQS sender (send_message x5 per
invocation, boto3sqs) and receive-API consumer (receive_message(
MaxNumberOfMessages=10) in a loop; boto3sqs "receive" span plus one
"process" CONSUMER span per message, linked to its sender), exporting over
OTLP/HTTP protobuf and gRPC through the gateway to the fake Dynatrace.

Every "process" span and its children must arrive under their own
message's "send" span (in the sender's trace), each span exactly once; the
"receive" span and the rest of the receiver's trace stay where they were.
Expectations come from the spans the apps recorded (oracle.py).
"""

import pytest

import flows
from conftest import PROTOCOLS


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_each_process_span_and_its_children_arrive_under_their_own_send_span(env, h, protocol):
    tag = protocol.split("/")[0]
    queue = env.create_queue(f"orders-{tag}-{flows.run_id()}")
    endpoint = env.gateway.endpoint(protocol)
    # Two sender invocations (two traces) of five messages each.
    h.run_app(f"sqs_sender_{tag}", "sqs_sender.py",
              [queue, "2", "5", protocol, endpoint, env.path(f"sender-{tag}.jsonl")])
    h.run_app(f"sqs_receiver_{tag}", "sqs_receiver.py",
              [queue, "plain", protocol, endpoint, env.path(f"receiver-{tag}.jsonl")])
    spans = env.records([f"sender-{tag}.jsonl", f"receiver-{tag}.jsonl"])

    process = [s for s in spans if s["name"].endswith(" process")]
    assert len(process) == 10, "boto3sqs made one process span per message"
    assert all(len(s["links"]) == 1 and s["parent_span_id"] for s in process), \
        "each process span is a child of its receive span with one link to its sender"

    verdict = env.deliver_and_check(spans, f"flow1-sqs-receive-{tag}")
    assert not verdict.problems, verdict.text()
    assert verdict.held_releases == 0, "no span waited for the hold window"
