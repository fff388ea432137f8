"""The function under test (ORIG_HANDLER=app.main), one handler for every
invoke the test makes, chosen by the event:

  * {"action": "work", "n": k}: plain work, nested spans;
  * {"action": "produce", "queue_url": u, "count": n}: sends n SQS messages
    (the boto3sqs instrumentation makes a PRODUCER span per message and puts
    its context into the message attributes);
  * {"action": "receive", "queue_url": u}: Dynatrace's receive-API consumer:
    receive_message, then a span per message, deleted when done (boto3sqs:
    a "receive" span and a "process" CONSUMER span per message linked to its
    producer);
  * an SQS trigger event {"Records": [...]}: the aws-lambda instrumentation
    wraps the call in a "process <queue>" CONSUMER span linked to every
    record's producer; each record is handled in its own span.
"""

import boto3
from opentelemetry import trace

tracer = trace.get_tracer("e2e-lambda-extension")


def _work(n):
    with tracer.start_as_current_span("load order", attributes={"order.n": n}):
        with tracer.start_as_current_span("query db", kind=trace.SpanKind.CLIENT):
            pass
        with tracer.start_as_current_span("price"):
            pass
    return {"worked": n}


def _produce(queue_url, count):
    sqs = boto3.client("sqs")
    ids = []
    for i in range(count):
        ids.append(sqs.send_message(QueueUrl=queue_url, MessageBody=f"order {i}")["MessageId"])
    return {"sent": ids}


def _receive(queue_url):
    sqs = boto3.client("sqs")
    handled = []
    for _ in range(5):
        result = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = result.get("Messages") or []
        if not messages:
            break
        for message in messages:
            with tracer.start_as_current_span("handle message"):
                handled.append(message["MessageId"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return {"handled": handled}


def _records(records):
    for record in records:
        with tracer.start_as_current_span("handle record",
                                          attributes={"messaging.message.id": record["messageId"]}):
            with tracer.start_as_current_span("db write", kind=trace.SpanKind.CLIENT):
                pass
    return {"processed": [r["messageId"] for r in records]}


def main(event, context):
    if isinstance(event, dict) and event.get("Records"):
        return _records(event["Records"])
    action = event.get("action")
    if action == "produce":
        return _produce(event["queue_url"], int(event.get("count", 1)))
    if action == "receive":
        return _receive(event["queue_url"])
    return _work(int(event.get("n", 0)))
