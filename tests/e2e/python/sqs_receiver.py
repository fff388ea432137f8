"""The receive-API consumer of Dynatrace's Python guide, run as an
instrumented app (opentelemetry-instrumentation-boto3sqs and -botocore).

    python sqs_receiver.py QUEUE_URL MODE PROTOCOL ENDPOINT RECORD

Inside one root SERVER span ("receiver-invocation", as the guide's Lambda
invocation), calls `receive_message(MaxNumberOfMessages=10,
WaitTimeSeconds=1)` until the queue is empty. boto3sqs makes a "<queue>
receive" CONSUMER span per call and, per message, a "<queue> process"
CONSUMER span (child of the receive span, one link to the sender's span,
`messaging.message.id`) that is current while the message is handled and
ends when it is deleted. Each message is handled in a "handle message"
span with a "db write" child; then deleted.

MODE "plain": the code as an application would have it, no manual spans.
MODE "manual": the guide's hand-written way: each message handled inside a
"manual-receive-process" CONSUMER span whose parent is extracted from the
message's attributes (DT_OPEN_TELEMETRY_ALLOW_EXPLICIT_PARENT users).
MODE "manual-sns": the same with the parent read from the SNS envelope in
the body (raw message delivery off).

Prints {"processed": [{"message_id", "body"}]}.
"""

import json
import sys

import telemetry

queue_url, mode, protocol, endpoint, record = sys.argv[1:6]
provider = telemetry.setup("e2e-sqs-receiver", protocol, endpoint, record)

from opentelemetry.instrumentation.boto3sqs import Boto3SQSInstrumentor  # noqa: E402
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor  # noqa: E402

Boto3SQSInstrumentor().instrument(tracer_provider=provider)
BotocoreInstrumentor().instrument(tracer_provider=provider)

import boto3  # noqa: E402
from opentelemetry import propagate, trace  # noqa: E402

sqs = boto3.client("sqs", endpoint_url="/".join(queue_url.split("/", 3)[:3]))
tracer = trace.get_tracer("e2e-sqs-receiver")


def extract_parent(msg, from_sns_payload):
    if from_sns_payload:
        try:
            body = json.loads(msg.get("Body", "{}"))
        except json.JSONDecodeError:
            body = {}
        carrier = {k: v["Value"] for k, v in body.get("MessageAttributes", {}).items() if "Value" in v}
    else:
        carrier = {k: v["StringValue"] for k, v in msg.get("MessageAttributes", {}).items()
                   if "StringValue" in v}
    return propagate.extract(carrier)


def handle(msg):
    with tracer.start_as_current_span("handle message",
                                      attributes={"messaging.message.id": msg["MessageId"]}):
        with tracer.start_as_current_span("db write", kind=trace.SpanKind.CLIENT):
            pass
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])


def lambda_handler(event, context):
    processed = []
    for _ in range(100):
        result = sqs.receive_message(MaxNumberOfMessages=10, QueueUrl=queue_url, WaitTimeSeconds=1)
        messages = result.get("Messages")
        if not messages:
            break
        for msg in messages:
            processed.append({"message_id": msg["MessageId"], "body": msg["Body"]})
            if mode == "plain":
                handle(msg)
                continue
            parent = extract_parent(msg, from_sns_payload=(mode == "manual-sns"))
            with tracer.start_as_current_span("manual-receive-process", context=parent,
                                              kind=trace.SpanKind.CONSUMER, attributes={
                                                  "messaging.message.id": msg["MessageId"],
                                                  "messaging.url": queue_url,
                                                  "messaging.system": "aws.sqs",
                                                  "messaging.operation": "process"}):
                handle(msg)
    return processed


with tracer.start_as_current_span("receiver-invocation", kind=trace.SpanKind.SERVER):
    done = lambda_handler({}, None)
telemetry.shutdown(provider)
print(json.dumps({"processed": done}))
