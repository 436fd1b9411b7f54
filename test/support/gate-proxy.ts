// A TCP proxy on loopback that holds the first request it is sent until told to let it pass: a
// test's way to pause a real podvlan call at a known point (its first etcd request, which setup
// makes after the container lookup and before the veths) and change the world in between.
// Run by bun inside the namespace where podvlan runs: `bun gate-proxy.ts TARGET_PORT`.
// stdout: "port N" once listening, "held" when the first request arrived; stdin: "go" releases it.
import { connect, createServer, type Socket } from 'node:net';

const target = Number(process.argv[2]);
let release: () => void = () => {};
const released = new Promise<void>((resolve) => {
  release = resolve;
});
let gated = false;
process.stdin.on('data', (d) => {
  if (String(d).includes('go')) release();
});

const server = createServer((client: Socket) => {
  const upstream = connect(target, '127.0.0.1');
  const drop = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', drop);
  upstream.on('error', drop);
  client.on('close', () => upstream.end());
  upstream.on('close', () => client.end());
  upstream.pipe(client);
  client.once('data', async (first: Buffer) => {
    client.pause(); // nothing may overtake the held chunk; pipe() resumes
    if (!gated) {
      gated = true;
      console.log('held');
      await released;
    }
    upstream.write(first);
    client.pipe(upstream);
  });
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  console.log(`port ${typeof addr === 'object' && addr ? addr.port : 0}`);
});
