// @aws-sdk/client-sqs instrumented by @opentelemetry/instrumentation-aws-sdk,
// against a local SQS server (fauxqs); traces go to the gateway over OTLP
// http/protobuf.
//
//   node sqs_app.js SQS_URL GATEWAY_HTTP_URL OUT_JSON
//
// Three "checkout N" spans (three traces) each send one message (the
// instrumentation's "<queue> send" PRODUCER spans, W3C context in the message
// attributes). Then one ReceiveMessage returns the three messages: the
// instrumentation's "<queue> receive" CONSUMER span, a root of its own trace
// with one link per message. Each message is processed in a "process
// message" span (child of the receive span, captured with the
// instrumentation's responseHook) with a "db insert" child; the messages are
// then deleted. OUT_JSON lists every span the SDK exported.
'use strict';

const fs = require('node:fs');
const api = require('@opentelemetry/api');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { AwsInstrumentation } = require('@opentelemetry/instrumentation-aws-sdk');
const { recordingExporter } = require('./recording_exporter');

const [sqsUrl, httpUrl, outFile] = process.argv.slice(2);
if (!outFile) {
  console.error('usage: sqs_app.js SQS_URL GATEWAY_HTTP_URL OUT_JSON');
  process.exit(2);
}

const { exporter, exported, results } = recordingExporter(`${httpUrl}/v1/traces`);

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'e2e-sqs', 'e2e.run': String(process.pid) }),
  spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 60000 })],
});
provider.register();

let receiveSpan = null;
registerInstrumentations({
  tracerProvider: provider,
  instrumentations: [new AwsInstrumentation({
    responseHook: (span, info) => {
      if (info.response.request.commandName === 'ReceiveMessage') receiveSpan = span;
    },
  })],
});

const sqs = require('@aws-sdk/client-sqs');  // after the instrumentation is registered

async function main() {
  const tracer = provider.getTracer('e2e-sqs-app');
  const client = new sqs.SQSClient({
    endpoint: sqsUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'e2e', secretAccessKey: 'e2e' },  // no provider chain lookups
    maxAttempts: 1,
  });
  const queueName = `e2e-orders-${process.pid}`;
  const { QueueUrl } = await client.send(new sqs.CreateQueueCommand({ QueueName: queueName }));

  const sends = [];
  for (let i = 1; i <= 3; i++) {
    const checkout = tracer.startSpan(`checkout ${i}`, { kind: api.SpanKind.SERVER, root: true });
    const res = await api.context.with(api.trace.setSpan(api.ROOT_CONTEXT, checkout), () =>
      client.send(new sqs.SendMessageCommand({ QueueUrl, MessageBody: `order-${i}` })));
    checkout.end();
    sends.push({ body: `order-${i}`, message_id: res.MessageId, checkout_trace_id: checkout.spanContext().traceId });
  }

  const received = await client.send(new sqs.ReceiveMessageCommand({
    QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30,
    MessageAttributeNames: ['All'],
  }));
  const messages = received.Messages || [];
  if (messages.length !== 3) throw new Error(`one ReceiveMessage returned ${messages.length} messages, want 3`);
  if (!receiveSpan) throw new Error('the instrumentation made no receive span');
  const receiveCtx = api.trace.setSpan(api.ROOT_CONTEXT, receiveSpan);
  const processed = [];
  for (const m of messages) {
    const span = tracer.startSpan('process message', {
      kind: api.SpanKind.INTERNAL, attributes: { 'messaging.message.id': m.MessageId },
    }, receiveCtx);
    await api.context.with(api.trace.setSpan(receiveCtx, span), async () => {
      tracer.startSpan('db insert', { kind: api.SpanKind.CLIENT }).end();
      await client.send(new sqs.DeleteMessageCommand({ QueueUrl, ReceiptHandle: m.ReceiptHandle }));
    });
    span.end();
    processed.push({ body: m.Body, message_id: m.MessageId, span_id: span.spanContext().spanId });
  }
  await provider.forceFlush();
  await provider.shutdown();

  fs.writeFileSync(outFile, JSON.stringify({
    queue: queueName, sends, processed,
    receive: { trace_id: receiveSpan.spanContext().traceId, span_id: receiveSpan.spanContext().spanId },
    spans: exported, results,
  }, null, 1));
  const failed = results.filter((r) => r.code !== 0);
  if (failed.length) {
    console.error(`trace export failed: ${JSON.stringify(failed)}`);
    process.exit(1);
  }
  console.log(`sent 3, received ${messages.length} in one batch; exported ${exported.length} spans`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
