"""SQS-triggered Lambda handlers for the e2e tests (run under the Runtime
Interface Emulator through otel_wrapper.py, so the aws-lambda
instrumentation makes the invocation SERVER span and, for an SQS event, a
"process <queue>" CONSUMER span with one link per record).

`plain`: the code as an application would have it. Each record is handled
in a "handle record" span carrying the record's `messaging.message.id`,
with a "db write" child; one "summarize batch" span belongs to no single
message.

`manual`: Dynatrace's hand-written way (its guide's "Receive messages with
AWS Lambda SQS trigger"): each record handled inside a
"manual-trigger-process" CONSUMER span whose parent is extracted from the
record's message attributes.

`slow`: as `plain`, but handling the records takes E2E_SLOW_SECONDS in all,
spread over the records, so that spans that end early are exported (SDK
batch delay) long before the invocation and its CONSUMER span end.
"""

import json
import os
import time

from opentelemetry import propagate, trace

tracer = trace.get_tracer("e2e-lambda-sqs-triggered")


def _handle(record):
    with tracer.start_as_current_span("handle record",
                                      attributes={"messaging.message.id": record["messageId"]}):
        with tracer.start_as_current_span("db write", kind=trace.SpanKind.CLIENT):
            pass


def plain(event, context):
    records = event.get("Records") or ()
    for record in records:
        _handle(record)
    with tracer.start_as_current_span("summarize batch"):
        pass
    return {"processed": [r["messageId"] for r in records]}


def slow(event, context):
    records = event.get("Records") or ()
    pause = float(os.environ.get("E2E_SLOW_SECONDS", "4")) / max(1, len(records))
    for record in records:
        _handle(record)
        time.sleep(pause)
    return {"processed": [r["messageId"] for r in records]}


def _extract_parent(msg, from_sns_payload=False):
    if from_sns_payload:
        try:
            body = json.loads(msg.get("body", "{}"))
        except json.JSONDecodeError:
            body = {}
        carrier = {k: v["Value"] for k, v in body.get("MessageAttributes", {}).items() if "Value" in v}
    else:
        carrier = {k: v["stringValue"] for k, v in msg.get("messageAttributes", {}).items()
                   if "stringValue" in v}
    return propagate.extract(carrier)


def manual(event, context):
    records = event.get("Records") or ()
    for msg in records:
        parent = _extract_parent(msg)
        with tracer.start_as_current_span("manual-trigger-process", context=parent,
                                          kind=trace.SpanKind.CONSUMER, attributes={
                                              "messaging.message.id": msg["messageId"],
                                              "messaging.url": msg["eventSourceARN"],
                                              "messaging.system": msg["eventSource"],
                                              "messaging.operation": "process"}):
            with tracer.start_as_current_span("db write", kind=trace.SpanKind.CLIENT):
                pass
    return {"processed": [r["messageId"] for r in records]}
