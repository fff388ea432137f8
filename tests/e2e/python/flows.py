"""Steps shared by the Python e2e tests: AWS resources on moto (through a
plain, uninstrumented boto3 client: the test itself emits no spans), the
apps' records, waiting for the gateway to deliver, and the oracle's verdict
with delivery delays.

    env = flows.Env(h, sink, gateway, moto)
    queue_url = env.create_queue("orders")
    spans = env.records(["sender.jsonl", "receiver.jsonl"])
    verdict = env.deliver_and_check(spans, "flow1-http")  # waits, compares
    assert not verdict.problems, verdict.text()
"""

import json
import os
import time

import boto3

import harness
import oracle
import telemetry


class Verdict:
    def __init__(self, label, problems, delays, held_releases, exp):
        self.label = label
        self.problems = problems
        self.delays = delays
        self.held_releases = held_releases
        self.exp = exp

    def text(self):
        lines = [f"{self.label}: {len(self.problems)} problem(s)"] + [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class Env:
    def __init__(self, h, sink, gateway, moto):
        self.h = h
        self.sink = sink
        self.gateway = gateway
        self.moto = moto
        self.dir = harness.tmp_dir("flow-")
        kw = dict(endpoint_url=moto.url, region_name="us-east-1",
                  aws_access_key_id="e2e", aws_secret_access_key="e2e")
        self.sqs = boto3.client("sqs", **kw)
        self.sns = boto3.client("sns", **kw)

    def path(self, name):
        return os.path.join(self.dir, name)

    def create_queue(self, name):
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        return url

    def queue_arn(self, url):
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]

    def take_messages(self, queue_url, n):
        """Receives `n` messages with a plain client (the Lambda service's
        poller is not the function's code), in send order as far as the
        queue gives it, with every attribute and message attribute, and
        deletes them."""
        got = []
        for _ in range(50):
            if len(got) >= n:
                break
            res = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(10, n - len(got)),
                                           WaitTimeSeconds=1, AttributeNames=["All"],
                                           MessageAttributeNames=["All"])
            for m in res.get("Messages", []):
                got.append(m)
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        assert len(got) == n, f"received {len(got)} of {n} messages"
        got.sort(key=lambda m: int(m["Attributes"]["SentTimestamp"]))
        return got

    @staticmethod
    def sqs_event(messages, queue_arn):
        """The event Lambda's SQS event source mapping hands the function for
        these received messages (field names as Lambda's SQS event has them)."""
        def attr(v):
            return {"stringValue": v.get("StringValue"), "stringListValues": [],
                    "binaryListValues": [], "dataType": v["DataType"]}
        return {"Records": [{
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {k: attr(v) for k, v in m.get("MessageAttributes", {}).items()},
            "md5OfBody": m["MD5OfBody"],
            **({"md5OfMessageAttributes": m["MD5OfMessageAttributes"]}
               if "MD5OfMessageAttributes" in m else {}),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": "us-east-1",
        } for m in messages]}

    def records(self, names):
        spans = []
        for name in names:
            got, results = telemetry.read_record(self.path(name))
            failed = [r for r in results if r["export_result"] != "SUCCESS"]
            assert not failed, f"{name}: exports failed: {failed}"
            spans += got
        return spans

    def wait_delivered(self, spans, extra_spans=0, timeout_s=40, gateway=None, gateways=None):
        """Until every recorded span is at the sink (and `extra_spans` more),
        no span is held in the gateway (or in any of `gateways`), and the
        sink's count is stable for three polls; returns the sink's
        /received."""
        gateways = gateways or [gateway or self.gateway]
        want = {s["span_id"] for s in spans}
        state = {"count": -1, "stable": 0}

        def done():
            got = self.sink.received()
            ids = {s["span_id"] for s in got["spans"]}
            held = sum(g.metrics().get("gateway_held_spans", 0) for g in gateways)
            if not want <= ids or len(got["spans"]) < len(want) + extra_spans or held:
                state["stable"] = 0
                return None
            state["stable"] = state["stable"] + 1 if len(got["spans"]) == state["count"] else 0
            state["count"] = len(got["spans"])
            return got if state["stable"] >= 3 else None
        return harness.wait_for(done, timeout_s, f"{len(want)} spans delivered", interval_s=0.2)

    def deliver_and_check(self, spans, label, link_choice="first", timeout_s=30, placement=True,
                          gateway=None, gateways=None, follow=True):
        """Waits for delivery (no span held in `gateway`, by default the
        env's, or in any of `gateways`), then compares with the oracle
        (`follow`: see oracle.expect): placement and delivery
        (`placement`=True) or delivery alone (each span once)."""
        gateways = gateways or [gateway or self.gateway]
        exp = oracle.expect(spans, link_choice=link_choice, follow=follow)
        extra = len(exp.per_message) if placement else 0
        try:
            received = self.wait_delivered(spans, extra_spans=extra, timeout_s=timeout_s, gateways=gateways)
        except AssertionError:
            received = self.sink.received()
        ours = [s for s in received["spans"] if s["span_id"] in exp.spans or self._ours(s, exp)]
        problems = oracle.compare(exp, ours) if placement else oracle.compare_delivery(exp, ours)
        delays = oracle.delays(spans, self.sink.arrival)
        held = sum(v for g in gateways for k, v in g.metrics().items()
                   if k.startswith("gateway_spans_released_unchanged_total") and "hold_window" in k)
        verdict = Verdict(label, problems, delays, held, exp)
        self._report(verdict, spans, received)
        return verdict

    @staticmethod
    def _ours(span, exp):
        """A span the gateway made from one of this flow's spans (fan-out or
        per-message): it links to one of them."""
        return any(l["span_id"] in exp.spans for l in span["links"]) or any(
            v in exp.spans for k, v in span["attributes"].items() if k.startswith("gateway.reparent."))

    def _report(self, verdict, spans, received):
        by_kind = {}
        for s in spans:
            key = f"{s['service']}:{s['name']}"
            by_kind.setdefault(key, []).append(verdict.delays.get(s["span_id"]))
        harness.log(f"{verdict.label}: delivery delay (app export -> sink) "
                    f"{oracle.delay_summary(verdict.delays.values())}; "
                    f"released after the hold window so far: {verdict.held_releases:g}")
        for key, vals in sorted(by_kind.items()):
            harness.log(f"  {key}: {oracle.delay_summary(vals)}")
        for p in verdict.problems:
            harness.log(f"  problem: {p}")
        with open(os.path.join(harness.out_dir(), f"{verdict.label}.json"), "w") as f:
            json.dump({"label": verdict.label, "problems": verdict.problems,
                       "delays": verdict.delays, "app_spans": spans,
                       "received": received["spans"]}, f, indent=1)


def run_id():
    return f"{os.getpid()}-{int(time.time() * 1000) % 1_000_000}"
