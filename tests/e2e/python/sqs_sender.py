"""The SQS sender of Dynatrace's Python guide, run as an instrumented app.

    python sqs_sender.py QUEUE_URL INVOCATIONS PER_INVOCATION PROTOCOL ENDPOINT RECORD

Each "invocation" is a root SERVER span (as a Lambda invocation of the
guide's `lambda_handler` would be) in which `send_message` is called
PER_INVOCATION times through boto3 instrumented by
opentelemetry-instrumentation-boto3sqs (the "<queue> send" PRODUCER span,
W3C context in the message attributes) and -botocore (the "SQS.SendMessage"
CLIENT span), as an auto-instrumented function has both. Prints one JSON
line: {"sent": [{"message_id", "invocation"}]}.
"""

import json
import sys
from datetime import datetime

import telemetry

queue_url, invocations, per_invocation, protocol, endpoint, record = sys.argv[1:7]
provider = telemetry.setup("e2e-sqs-sender", protocol, endpoint, record)

from opentelemetry.instrumentation.boto3sqs import Boto3SQSInstrumentor  # noqa: E402
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor  # noqa: E402

Boto3SQSInstrumentor().instrument(tracer_provider=provider)
BotocoreInstrumentor().instrument(tracer_provider=provider)

import boto3  # noqa: E402
from opentelemetry import trace  # noqa: E402

endpoint_url = queue_url.split("/", 3)
sqs = boto3.client("sqs", endpoint_url="/".join(endpoint_url[:3]))
tracer = trace.get_tracer("e2e-sqs-sender")


def lambda_handler(event, context):
    sent = []
    for i in range(int(per_invocation)):
        res = sqs.send_message(QueueUrl=queue_url, MessageBody=f"hello #{i} at {datetime.now()}")
        sent.append(res["MessageId"])
    return sent


out = []
for n in range(int(invocations)):
    with tracer.start_as_current_span("sender-invocation", kind=trace.SpanKind.SERVER):
        out += [{"message_id": m, "invocation": n} for m in lambda_handler({}, None)]
telemetry.shutdown(provider)
print(json.dumps({"sent": out}))
