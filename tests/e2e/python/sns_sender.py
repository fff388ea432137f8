"""The SNS sender of Dynatrace's Python guide, run as an instrumented app
(opentelemetry-instrumentation-botocore: "<topic> send" PRODUCER span, W3C
context injected into the message attributes).

    python sns_sender.py TOPIC_ARN SNS_URL INVOCATIONS PER_INVOCATION PROTOCOL ENDPOINT RECORD

Each "invocation" is a root SERVER span publishing PER_INVOCATION messages.
Prints {"sent": [{"message_id", "invocation"}]}.
"""

import json
import sys
from datetime import datetime

import telemetry

topic_arn, sns_url, invocations, per_invocation, protocol, endpoint, record = sys.argv[1:8]
provider = telemetry.setup("e2e-sns-sender", protocol, endpoint, record)

from opentelemetry.instrumentation.botocore import BotocoreInstrumentor  # noqa: E402

BotocoreInstrumentor().instrument(tracer_provider=provider)

import boto3  # noqa: E402
from opentelemetry import trace  # noqa: E402

sns = boto3.client("sns", endpoint_url=sns_url)
tracer = trace.get_tracer("e2e-sns-sender")


def lambda_handler(event, context):
    res = sns.publish(TopicArn=topic_arn, Message=f"hello at {datetime.now()}")
    return res["MessageId"]


out = []
for n in range(int(invocations)):
    with tracer.start_as_current_span("sender-invocation", kind=trace.SpanKind.SERVER):
        for _ in range(int(per_invocation)):
            out.append({"message_id": lambda_handler({}, None), "invocation": n})
telemetry.shutdown(provider)
print(json.dumps({"sent": out}))
