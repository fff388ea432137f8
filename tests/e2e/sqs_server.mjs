// fauxqs (an SQS/SNS emulator from npm) on 127.0.0.1, port 0, in-memory.
//
//   node sqs_server.mjs NODE_MODULES_DIR
//   stdout: {"port":N}
//
// fauxqs' own startFauxqs() binds 0.0.0.0; its buildApp() lets us bind
// loopback only. Queue URLs use the request's Host header.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const nodeModules = process.argv[2];
if (!nodeModules) {
  console.error('usage: sqs_server.mjs NODE_MODULES_DIR');
  process.exit(2);
}
const { buildApp } = await import(pathToFileURL(path.join(nodeModules, 'fauxqs/dist/app.js')).href);
const app = buildApp({ logger: false });
const address = await app.listen({ port: 0, host: '127.0.0.1' });
console.log(JSON.stringify({ port: Number(new URL(address).port) }));
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    app.close().finally(() => process.exit(0));
  });
}
