"""The gateway as a Lambda extension, end to end: AWS's Runtime Interface
Emulator (RIE) runs a Python function (awslambdaric, OpenTelemetry SDK with
the aws-lambda and boto3sqs instrumentations) and starts the extension from
/opt/extensions; the Telemetry API stand-in (telemetry_proxy.py, because RIE
has no Telemetry API) sits in front of RIE; spans go to the Dynatrace
stand-in (fake_dynatrace_server); SQS is moto.

Checked, per invoke: when the extension asks for its next event, the
Dynatrace stand-in holds exactly the spans the offline oracle
(reparent_oracle_main) derives from what the function's SDK exported so
far: every span, reparented, before the next event is requested. Then the
receive-API consumer and the SQS-triggered batch consumer are reparented
onto their producers, and SIGTERM to the emulator (SHUTDOWN) ends the
extension cleanly.

Runs inside the namespace run_lambda_e2e.sh sets up (ports are fixed there).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from telemetry_proxy import TelemetryProxy  # noqa: E402

DT_TOKEN = "dt0c01.LAMBDAE2E"
RIE_API = "127.0.0.1:9001"
RIE_INVOKE_PORT = 8080
PROXY_PORT = 9009
MOTO_PORT = 5000
REGION = "us-east-1"
EXTENSION = "otlp-reparent-gateway"


def log(message):
    print(f"[lambda-e2e {time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_for(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def http(method, url, body=None, timeout_s=60):
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Child:
    def __init__(self, name, argv, env=None, cwd=None):
        self.name = name
        self.log_path = os.path.join(os.environ["E2E_WORK"], f"{name}.log")
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE if name == "dynatrace" else self.log_file,
                                     stderr=self.log_file, start_new_session=True)

    def text(self):
        self.log_file.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, grace_s=5):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Lambda:
    """Everything the tests share, started once."""

    def __init__(self):
        self.work = os.environ["E2E_WORK"]
        self.record = os.path.join(self.work, "exported.jsonl")
        self.children = []
        self.snapshots = {}

        dt = Child("dynatrace", [os.environ["E2E_FAKE_DYNATRACE"], f"--api-token={DT_TOKEN}"])
        self.children.append(dt)
        ports = json.loads(dt.proc.stdout.readline())
        self.dt_port, self.dt_control = ports["port"], ports["control_port"]

        from moto.server import ThreadedMotoServer
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=MOTO_PORT, verbose=False)
        self.moto.start()
        self.moto_url = f"http://127.0.0.1:{MOTO_PORT}"
        self.sqs = boto3.client("sqs", endpoint_url=self.moto_url, region_name=REGION,
                                aws_access_key_id="test", aws_secret_access_key="test")

        self.proxy = TelemetryProxy(PROXY_PORT, RIE_API, on_extension_next=self._snapshot)

        bootstrap = os.path.join(self.work, "bootstrap")
        with open(bootstrap, "w") as f:
            f.write('#!/bin/sh\n'
                    '# The runtime sees the Telemetry API stand-in as its Lambda API too.\n'
                    'export AWS_LAMBDA_RUNTIME_API="$E2E_PROXY_API"\n'
                    'cd "$E2E_FUNCTION_DIR"\n'
                    'exec "$E2E_PYTHON" -m awslambdaric otel_bootstrap.handler\n')
        os.chmod(bootstrap, 0o755)
        env = dict(os.environ)
        env.update({
            "AWS_LAMBDA_FUNCTION_NAME": "orders",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "LAMBDA_TASK_ROOT": os.environ["E2E_FUNCTION_DIR"],
            "PYTHONPATH": os.environ["E2E_FUNCTION_DIR"],
            "ORIG_HANDLER": "app.main",
            "E2E_RECORD": self.record,
            "E2E_PROXY_API": self.proxy.address,
            # The extension's configuration, as a Lambda user sets it.
            "DT_ENDPOINT": f"http://127.0.0.1:{self.dt_port}/api/v2/otlp",
            "DT_API_TOKEN": DT_TOKEN,
            "GATEWAY_LAMBDA_TELEMETRY_PORT": "0",
            # The function's SDK, pointed at the extension.
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_PROPAGATORS": "tracecontext",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_SESSION_TOKEN": "test",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.moto_url,
        })
        self.rie = Child("rie", [os.environ["E2E_RIE"], f"--runtime-api-address={RIE_API}",
                                 f"--runtime-interface-emulator-address=127.0.0.1:{RIE_INVOKE_PORT}", bootstrap],
                         env=env)
        self.children.append(self.rie)

        def listening():
            assert self.rie.proc.poll() is None, f"RIE exited\n{self.rie.text()}"
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", RIE_INVOKE_PORT)) == 0
        wait_for(listening, 30, "the emulator")

    def _snapshot(self, n):
        self.snapshots[n] = self.received()

    def received(self):
        status, body = http("GET", f"http://127.0.0.1:{self.dt_control}/received")
        assert status == 200
        return json.loads(body)["spans"]

    def invoke(self, payload):
        status, body = http("POST", f"http://127.0.0.1:{RIE_INVOKE_PORT}/2015-03-31/functions/function/invocations",
                            json.dumps(payload).encode(), timeout_s=60)
        assert status == 200, f"invoke {payload}: HTTP {status} {body[:300]}\n{self.rie.text()[-4000:]}"
        return json.loads(body)

    def exported(self):
        with open(self.record, "rb") as f:
            return f.read()

    def expected(self):
        """The oracle's spans for everything the SDK exported so far."""
        out = subprocess.run([os.environ["E2E_ORACLE"]], input=self.exported(), capture_output=True, check=True)
        return [json.loads(line) for line in out.stdout.decode().splitlines()]

    def exported_spans(self):
        """The exported spans themselves (no reparenting), for explicit checks."""
        import base64
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
        spans = []
        for line in self.exported().decode().splitlines():
            request = ExportTraceServiceRequest()
            request.ParseFromString(base64.b64decode(json.loads(line)["request"]))
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    spans.extend(ss.spans)
        return spans

    def check_delivered_before_next(self, what):
        """The snapshot taken when the extension last asked for an event holds
        exactly the oracle's spans."""
        n = self.proxy.extension_next_calls
        expected = self.expected()
        got = self.snapshots[n]
        key = lambda s: (s["trace_id"], s["span_id"], s["parent_span_id"])  # noqa: E731
        missing = sorted(set(map(key, expected)) - set(map(key, got)))
        extra = sorted(set(map(key, got)) - set(map(key, expected)))
        assert not missing and not extra, (
            f"{what}: at the extension's event/next #{n} Dynatrace had {len(got)} spans, the oracle says "
            f"{len(expected)}\nmissing: {missing}\nextra: {extra}\n{self.rie.text()[-6000:]}")
        assert len(got) == len(expected), f"{what}: duplicates at Dynatrace"
        log(f"{what}: {len(got)} spans at Dynatrace, reparented, before event/next #{n}")
        return got

    def close(self):
        self.rie.stop()
        self.proxy.close()
        self.moto.stop()
        for c in reversed(self.children):
            c.stop()


@pytest.fixture(scope="module")
def lam():
    env = Lambda()
    yield env
    env.close()


def test_cold_start_registers_subscribes_and_delivers_the_first_invoke(lam):
    assert lam.invoke({"action": "work", "n": 1}) == {"worked": 1}
    assert [name for name, _ in lam.proxy.registers] == [EXTENSION]
    assert json.loads(lam.proxy.registers[0][1]) == {"events": ["INVOKE", "SHUTDOWN"]}
    assert len(lam.proxy.subscriptions) == 1 and lam.proxy.subscriptions[0][0] == 200
    subscription = json.loads(lam.proxy.subscriptions[0][1])
    assert subscription["types"] == ["platform"]
    assert subscription["destination"]["URI"].startswith("http://sandbox.localdomain:")
    assert subscription["buffering"]["timeoutMs"] == 25
    got = lam.check_delivered_before_next("cold start")
    assert any(s["name"] == "load order" for s in got)
    delivered_types = [e["type"] for _, events in lam.proxy.delivered for e in events]
    assert "platform.runtimeDone" in delivered_types


def test_warm_invokes_are_each_delivered_before_the_next_event(lam):
    for n in range(2, 6):
        assert lam.invoke({"action": "work", "n": n}) == {"worked": n}
        lam.check_delivered_before_next(f"warm invoke {n}")
    assert [r.get("eventType") for r in lam.proxy.lifecycle_events] == ["INVOKE"] * 5


def test_receive_api_consumer_spans_are_reparented_onto_their_producers(lam):
    queue = lam.sqs.create_queue(QueueName="receive-q")["QueueUrl"]
    sent = lam.invoke({"action": "produce", "queue_url": queue, "count": 3})["sent"]
    assert len(sent) == 3
    lam.check_delivered_before_next("producer invoke")
    handled = lam.invoke({"action": "receive", "queue_url": queue})["handled"]
    assert sorted(handled) == sorted(sent)
    got = lam.check_delivered_before_next("receive-API consumer invoke")

    producers = {s.span_id.hex(): s.trace_id.hex() for s in lam.exported_spans()
                 if s.name == "receive-q send" and s.kind == 4}
    process = [s for s in got if s["name"] == "receive-q process"]
    assert len(producers) == 3 and len(process) == 3
    for s in process:
        assert s["parent_span_id"] in producers, s
        assert s["trace_id"] == producers[s["parent_span_id"]], "moved into its producer's trace"


def test_sqs_batch_trigger_is_reparented_with_fan_out(lam):
    queue = lam.sqs.create_queue(QueueName="batch-q")["QueueUrl"]
    lam.invoke({"action": "produce", "queue_url": queue, "count": 3})
    lam.check_delivered_before_next("producer invoke (batch)")
    messages = lam.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                       WaitTimeSeconds=1)["Messages"]
    assert len(messages) == 3
    records = [{
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
                              for k, v in m.get("MessageAttributes", {}).items()},
        "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:batch-q",
        "awsRegion": REGION,
    } for m in messages]
    assert all("traceparent" in r["messageAttributes"] for r in records)
    result = lam.invoke({"Records": records})
    assert sorted(result["processed"]) == sorted(m["MessageId"] for m in messages)
    got = lam.check_delivered_before_next("SQS batch invoke")

    producers = {s.span_id.hex(): s.trace_id.hex() for s in lam.exported_spans()
                 if s.name == "batch-q send" and s.kind == 4}
    consumers = [s for s in got if s["name"] == "process batch-q" and s["kind"] == 5]
    # One per-message span under each producer, in that producer's trace
    # (docs/reparenting.md §6).
    messages = [s for s in consumers if "gateway.reparent.fanout_of_span_id" in s.get("attributes", {})]
    assert sorted(s["parent_span_id"] for s in messages) == sorted(producers), consumers
    for s in messages:
        assert s["trace_id"] == producers[s["parent_span_id"]]
    # The batch's own consumer span stays under the invocation (the
    # aws-lambda instrumentation's root SERVER span, faas.trigger=pubsub),
    # which went under the chosen (first) producer in its trace.
    batch = [s for s in consumers if s not in messages]
    assert len(batch) == 1, consumers
    invocation = [s for s in got if s["span_id"] == batch[0]["parent_span_id"]]
    assert len(invocation) == 1 and invocation[0]["kind"] == 2, batch
    assert invocation[0]["parent_span_id"] in producers
    assert invocation[0]["trace_id"] == batch[0]["trace_id"] == producers[invocation[0]["parent_span_id"]]


def test_shutdown_delivers_everything_and_the_extension_exits_cleanly(lam):
    lam.rie.proc.send_signal(signal.SIGTERM)
    lam.rie.proc.wait(timeout=20)
    events = [r.get("eventType") for r in lam.proxy.lifecycle_events]
    assert events[-1] == "SHUTDOWN", events
    text = lam.rie.text()
    shutdown = [json.loads(line[line.index("{"):]) for line in text.splitlines() if '"msg":"lambda_shutdown"' in line]
    assert len(shutdown) == 1, text[-4000:]
    assert shutdown[0]["flushes_incomplete"] == "0"
    assert shutdown[0]["undelivered_bytes"] == "0"
    assert shutdown[0]["runtime_done_missed"] == "0"
    assert '"msg":"lambda_failed"' not in text and '"msg":"lambda_init_failed"' not in text
    key = lambda s: (s["trace_id"], s["span_id"], s["parent_span_id"])  # noqa: E731
    assert sorted(map(key, lam.received())) == sorted(map(key, lam.expected()))
