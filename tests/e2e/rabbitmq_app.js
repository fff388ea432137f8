// amqplib instrumented by @opentelemetry/instrumentation-amqplib with
// useLinksForConsume: true, against a real RabbitMQ broker; traces go to the
// gateway over OTLP http/protobuf.
//
//   node rabbitmq_app.js AMQP_URL GATEWAY_HTTP_URL OUT_JSON
//
// "checkout" publishes one message to a fresh queue (publish span, trace A).
// The consumer callback runs in the instrumentation's "<queue> process" span
// (CONSUMER, root of trace B, linked to the publish span) and makes
// "handle order" and its child "db insert"; those are flushed to the gateway
// before the message is acked, which ends the consumer span, so the gateway
// sees the children before their parent. OUT_JSON lists every span the SDK
// exported (ids, parent, kind, links, scope).
'use strict';

const fs = require('node:fs');
const api = require('@opentelemetry/api');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { AmqplibInstrumentation } = require('@opentelemetry/instrumentation-amqplib');
const { recordingExporter } = require('./recording_exporter');

const [amqpUrl, httpUrl, outFile] = process.argv.slice(2);
if (!outFile) {
  console.error('usage: rabbitmq_app.js AMQP_URL GATEWAY_HTTP_URL OUT_JSON');
  process.exit(2);
}

const { exporter, exported, results } = recordingExporter(`${httpUrl}/v1/traces`);

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'e2e-rabbitmq', 'e2e.run': String(process.pid) }),
  spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 60000 })],
});
provider.register();  // AsyncLocalStorage context manager, W3C propagator
registerInstrumentations({
  tracerProvider: provider,
  instrumentations: [new AmqplibInstrumentation({ useLinksForConsume: true })],
});

const amqp = require('amqplib');  // after the instrumentation is registered

async function main() {
  const tracer = provider.getTracer('e2e-rabbitmq-app');
  const conn = await amqp.connect(amqpUrl);
  const channel = await conn.createChannel();
  const queue = `e2e-orders-${process.pid}`;
  await channel.assertQueue(queue, { durable: false, autoDelete: true });

  let resolveDone;
  const done = new Promise((resolve) => { resolveDone = resolve; });
  await channel.consume(queue, (msg) => {
    const child = tracer.startSpan('handle order', { kind: api.SpanKind.INTERNAL });
    api.context.with(api.trace.setSpan(api.context.active(), child), () => {
      const grandchild = tracer.startSpan('db insert', { kind: api.SpanKind.CLIENT });
      grandchild.end();
    });
    child.end();
    provider.forceFlush().then(() => {
      channel.ack(msg);  // ends the consumer span
      resolveDone(msg.content.toString());
    });
  });

  const checkout = tracer.startSpan('checkout', { kind: api.SpanKind.SERVER });
  api.context.with(api.trace.setSpan(api.ROOT_CONTEXT, checkout), () => {
    channel.sendToQueue(queue, Buffer.from('order-1'), { messageId: 'm-1' });
  });
  checkout.end();

  const timeout = new Promise((_, reject) => {
    setTimeout(() => reject(new Error('no message consumed within 20 s')), 20000).unref();
  });
  const body = await Promise.race([done, timeout]);
  await channel.close();
  await conn.close();
  await provider.forceFlush();
  await provider.shutdown();

  fs.writeFileSync(outFile, JSON.stringify({ queue, spans: exported, results }, null, 1));
  const failed = results.filter((r) => r.code !== 0);
  if (failed.length) {
    console.error(`trace export failed: ${JSON.stringify(failed)}`);
    process.exit(1);
  }
  console.log(`consumed ${body}; exported ${exported.length} spans in ${results.length} requests`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
