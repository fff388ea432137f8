// One service of the SQS chain (sqs_chain_test.js): @aws-sdk/client-sqs
// instrumented by @opentelemetry/instrumentation-aws-sdk against a local SQS
// server (fauxqs), traces to its own gateway over OTLP gRPC or
// http/protobuf.
//
//   node sqs_chain_app.js send  SERVICE SQS_URL PROTOCOL GATEWAY_URL OUT_QUEUE TRACES PER_TRACE OUT_JSON
//   node sqs_chain_app.js relay SERVICE SQS_URL PROTOCOL GATEWAY_URL IN_QUEUE OUT_QUEUE|- MESSAGES OUT_JSON
//
// PROTOCOL is grpc (GATEWAY_URL http://host:grpc-port) or http/protobuf
// (GATEWAY_URL http://host:http-port). Queues are names, created if missing.
//
// send: TRACES "checkout N" spans (each a root of its own trace) each send
// PER_TRACE messages to OUT_QUEUE (the instrumentation's "<queue> send"
// PRODUCER spans, W3C context in the message attributes).
//
// relay: ReceiveMessage on IN_QUEUE until MESSAGES messages came (each call
// the instrumentation's "<queue> receive" CONSUMER span, a root with one link
// per message). Each message is processed in a "process message" span (child
// of its receive span, with the message's messaging.message.id, as
// sqs_app.js does), which sends the message on to OUT_QUEUE (unless "-"),
// then deletes it.
//
// OUT_JSON: {service, spans (every span the SDK exported), results}.
'use strict';

const fs = require('node:fs');
const api = require('@opentelemetry/api');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { AwsInstrumentation } = require('@opentelemetry/instrumentation-aws-sdk');
const { recordingExporter } = require('./recording_exporter');

const kUsage = 'usage: sqs_chain_app.js send|relay SERVICE SQS_URL PROTOCOL GATEWAY_URL QUEUE QUEUE|N N OUT_JSON';
const [mode, service, sqsUrl, protocol, gatewayUrl, queueArg, queueOrCount, count, outFile] = process.argv.slice(2);
if (!outFile || !['send', 'relay'].includes(mode)) {
  console.error(kUsage);
  process.exit(2);
}

const { exporter, exported, results } = recordingExporter(
  protocol === 'grpc' ? gatewayUrl : `${gatewayUrl}/v1/traces`, { protocol });

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': `e2e-sqs-chain-${service}`, 'e2e.run': String(process.pid) }),
  spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 60000 })],
});
provider.register();

let lastReceiveSpan = null;
registerInstrumentations({
  tracerProvider: provider,
  instrumentations: [new AwsInstrumentation({
    responseHook: (span, info) => {
      if (info.response.request.commandName === 'ReceiveMessage') lastReceiveSpan = span;
    },
  })],
});

const sqs = require('@aws-sdk/client-sqs');  // after the instrumentation is registered

const client = new sqs.SQSClient({
  endpoint: sqsUrl,
  region: 'us-east-1',
  credentials: { accessKeyId: 'e2e', secretAccessKey: 'e2e' },  // no provider chain lookups
  maxAttempts: 1,
});
const tracer = provider.getTracer('e2e-sqs-chain-app');

async function queueUrl(name) {
  const { QueueUrl } = await client.send(new sqs.CreateQueueCommand({ QueueName: name }));
  return QueueUrl;
}

async function send(outQueue, traces, perTrace) {
  const QueueUrl = await queueUrl(outQueue);
  for (let i = 1; i <= traces; i++) {
    const checkout = tracer.startSpan(`checkout ${i}`, { kind: api.SpanKind.SERVER, root: true });
    const ctx = api.trace.setSpan(api.ROOT_CONTEXT, checkout);
    for (let j = 1; j <= perTrace; j++) {
      await api.context.with(ctx, () =>
        client.send(new sqs.SendMessageCommand({ QueueUrl, MessageBody: `order-${i}-${j}` })));
    }
    checkout.end();
  }
  return `sent ${traces * perTrace} messages in ${traces} traces`;
}

async function relay(inQueue, outQueue, messages) {
  const inUrl = await queueUrl(inQueue);
  const outUrl = outQueue === '-' ? null : await queueUrl(outQueue);
  let got = 0;
  let batches = 0;
  const deadline = Date.now() + 20000;
  for (let i = 0; got < messages && Date.now() < deadline && i < 100; i++) {
    lastReceiveSpan = null;
    const received = await api.context.with(api.ROOT_CONTEXT, () => client.send(new sqs.ReceiveMessageCommand({
      QueueUrl: inUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30,
      MessageAttributeNames: ['All'],
    })));
    const batch = received.Messages || [];
    if (!batch.length) continue;
    if (!lastReceiveSpan) throw new Error('the instrumentation made no receive span');
    batches++;
    const receiveCtx = api.trace.setSpan(api.ROOT_CONTEXT, lastReceiveSpan);
    for (const m of batch) {
      const span = tracer.startSpan('process message', {
        kind: api.SpanKind.INTERNAL, attributes: { 'messaging.message.id': m.MessageId },
      }, receiveCtx);
      await api.context.with(api.trace.setSpan(receiveCtx, span), async () => {
        if (outUrl) await client.send(new sqs.SendMessageCommand({ QueueUrl: outUrl, MessageBody: m.Body }));
        await client.send(new sqs.DeleteMessageCommand({ QueueUrl: inUrl, ReceiptHandle: m.ReceiptHandle }));
      });
      span.end();
      got++;
    }
  }
  if (got !== messages) throw new Error(`received ${got} messages from ${inQueue}, want ${messages}`);
  return `relayed ${got} messages in ${batches} receive batches` + (outUrl ? ` to ${outQueue}` : '');
}

async function main() {
  const summary = mode === 'send'
    ? await send(queueArg, Number(queueOrCount), Number(count))
    : await relay(queueArg, queueOrCount, Number(count));
  await provider.forceFlush();
  await provider.shutdown();
  fs.writeFileSync(outFile, JSON.stringify({ service, spans: exported, results }, null, 1));
  const failed = results.filter((r) => r.code !== 0);
  if (failed.length) {
    console.error(`trace export failed: ${JSON.stringify(failed)}`);
    process.exit(1);
  }
  console.log(`${service}: ${summary}; exported ${exported.length} spans`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
