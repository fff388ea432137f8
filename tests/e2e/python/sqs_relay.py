"""One service of a chain of queues (issue #19), run as an instrumented app
(opentelemetry-instrumentation-boto3sqs and -botocore): it takes messages
from one queue and, while processing each, sends one on to the next.

    python sqs_relay.py SERVICE IN_QUEUE_URL OUT_QUEUE_URL|- COUNT PROTOCOL ENDPOINT RECORD

Inside one root SERVER span ("<SERVICE>-invocation", as a Lambda invocation
would be), calls `receive_message(MaxNumberOfMessages=10,
WaitTimeSeconds=1)` on IN_QUEUE_URL until COUNT messages have come (at most
30 s). boto3sqs makes a "<queue> receive" CONSUMER span per call and, per
message, a "<queue> process" CONSUMER span (child of the receive span, one
link to the span that sent the message) that is current while the message
is handled and ends when it is deleted. Each message is handled in a
"handle message" span (`messaging.message.id`) in which, unless
OUT_QUEUE_URL is "-", `send_message` sends it on to OUT_QUEUE_URL (the
"<queue> send" PRODUCER span: a child of this service's consumer, so the
next service's consumer links to a span that the gateway moves), then a
"db write" child; then the message is deleted.

Prints {"processed": [{"message_id", "body"}], "forwarded": [message ids]}.
"""

import json
import sys
import time

import telemetry

service, in_queue, out_queue, count, protocol, endpoint, record = sys.argv[1:8]
provider = telemetry.setup(f"e2e-chain-{service}", protocol, endpoint, record)

from opentelemetry.instrumentation.boto3sqs import Boto3SQSInstrumentor  # noqa: E402
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor  # noqa: E402

Boto3SQSInstrumentor().instrument(tracer_provider=provider)
BotocoreInstrumentor().instrument(tracer_provider=provider)

import boto3  # noqa: E402
from opentelemetry import trace  # noqa: E402

sqs = boto3.client("sqs", endpoint_url="/".join(in_queue.split("/", 3)[:3]))
tracer = trace.get_tracer(f"e2e-chain-{service}")


def handle(msg, forwarded):
    with tracer.start_as_current_span("handle message",
                                      attributes={"messaging.message.id": msg["MessageId"]}):
        if out_queue != "-":
            res = sqs.send_message(QueueUrl=out_queue, MessageBody=f"{service} got {msg['Body']}")
            forwarded.append(res["MessageId"])
        with tracer.start_as_current_span("db write", kind=trace.SpanKind.CLIENT):
            pass
        sqs.delete_message(QueueUrl=in_queue, ReceiptHandle=msg["ReceiptHandle"])


def lambda_handler(event, context):
    processed, forwarded = [], []
    deadline = time.monotonic() + 30
    for _ in range(1000):
        if len(processed) >= int(count) or time.monotonic() > deadline:
            break
        result = sqs.receive_message(MaxNumberOfMessages=10, QueueUrl=in_queue, WaitTimeSeconds=1)
        for msg in result.get("Messages", []):
            processed.append({"message_id": msg["MessageId"], "body": msg["Body"]})
            handle(msg, forwarded)
    return processed, forwarded


with tracer.start_as_current_span(f"{service}-invocation", kind=trace.SpanKind.SERVER):
    done, sent_on = lambda_handler({}, None)
telemetry.shutdown(provider)
print(json.dumps({"processed": done, "forwarded": sent_on}))
