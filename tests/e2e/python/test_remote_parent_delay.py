"""How long spans whose parent is in another process wait in the gateway
(issue #17, "delivery delay").

A gateway in front of one service (`cross_process` off, the default) sends a
span on at once when its flags say the parent is remote (the OTLP
is-remote bits); any other span whose parent it has not seen waits for
that parent up to the hold window. The Python SDK's OTLP encoder sets the
bits from opentelemetry-exporter-otlp-proto-common 1.25.0 on; 1.24.0 sends
no flags at all.

The scenario: Dynatrace's manual receive-API consumer (flow 4: each
message handled in a "manual-receive-process" span whose parent is the
sender's span, extracted from the message) exports to its own gateway,
while the sender exports to another one (a sidecar per service), so the
consumer's gateway never sees the parents. Run with the pinned SDK (1.45.1)
and with 1.24.0 (.deps/venv-otel-1.24); issue #17 requires that in neither
case each such span is held for the whole hold window.
"""

import os

import pytest

import flows

HOLD_WINDOW_S = 4


@pytest.fixture(scope="module")
def consumer_gateway(env, h):
    return h.start_gateway(env.sink.url, hold_window=f"{HOLD_WINDOW_S}s")


SDKS = {
    "otel-1.45.1": lambda: os.environ["E2E_PYTHON"],
    "otel-1.24.0": lambda: os.environ["E2E_PYTHON_OTEL_1_24"],
}


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_spans_with_remote_parents_are_not_held_for_the_hold_window(env, h, consumer_gateway, sdk):
    protocol = "http/protobuf"
    queue = env.create_queue(f"remote-{sdk.replace('.', '-')}-{flows.run_id()}")
    h.run_app(f"sqs_sender_{sdk}", "sqs_sender.py",
              [queue, "2", "3", protocol, env.gateway.endpoint(protocol),
               env.path(f"sender-{sdk}.jsonl")])
    h.run_app(f"sqs_receiver_{sdk}", "sqs_receiver.py",
              [queue, "manual", protocol, consumer_gateway.endpoint(protocol),
               env.path(f"receiver-{sdk}.jsonl")], python=SDKS[sdk]())
    sender = env.records([f"sender-{sdk}.jsonl"])
    receiver = env.records([f"receiver-{sdk}.jsonl"])
    manual = [s for s in receiver if s["name"] == "manual-receive-process"]
    assert len(manual) == 6 and all(s["parent_is_remote"] for s in manual)

    before = held_releases(consumer_gateway)
    verdict = env.deliver_and_check(sender + receiver, f"remote-parent-delay-{sdk}",
                                    timeout_s=3 * HOLD_WINDOW_S, placement=False,
                                    gateway=consumer_gateway)
    assert not verdict.problems, verdict.text()
    worst = max(verdict.delays[s["span_id"]] for s in manual)
    released = held_releases(consumer_gateway) - before
    assert released == 0 and worst < HOLD_WINDOW_S / 2, (
        f"{sdk}: {released:g} spans released only after the {HOLD_WINDOW_S} s hold window; "
        f"manual-receive-process spans (remote parent) waited up to {worst:.2f} s")


def held_releases(gateway):
    return sum(v for k, v in gateway.metrics().items()
               if k.startswith("gateway_spans_released_unchanged_total") and "hold_window" in k)
