// EtcdClient run by bun, where its transport is fetch (vitest runs the tests on Node, where it is
// node:http): one put and get, then one JSON line with the outcome. Used by etcd-client.test.ts.
import { EtcdClient, type EtcdTls } from '../../src/etcd/client';

const { endpoints, tls, timeoutMs } = JSON.parse(process.argv[2]) as {
  endpoints: string[];
  tls?: EtcdTls;
  timeoutMs: number;
};
const client = new EtcdClient({ endpoints, tls, timeoutMs });
const started = Date.now();
try {
  await client.put('/under-bun/k', `v-${process.pid}`);
  const got = await client.get('/under-bun/k');
  console.log(JSON.stringify({ ok: got?.value === `v-${process.pid}`, ms: Date.now() - started }));
} catch (err) {
  console.log(
    JSON.stringify({
      ok: false,
      kind: (err as Error).constructor.name,
      message: (err as Error).message,
      ms: Date.now() - started,
    }),
  );
} finally {
  client.close();
}
