// The veth module under bun, as attach runs it (netlink through bun:ffi; PODVLAN_VETH=ip for the
// iproute2 fallback), on real namespaces and OVS, for veth6.test.ts. Run in the node's namespace:
//   attach {"netns": PATH, "plans": [VethPlan], "ovsdb"?, "bridge"?, "tag"?, "pings"?: [ADDRESS]}
// createPairs into the namespace at PATH; at once (nothing spawned in between) the pod ends'
// addresses as the kernel has them, read in process; then, given a bridge, each host end becomes
// an access port (ovs-vsctl waits for ovs-vswitchd), announceAddresses runs, and each of `pings`
// is pinged once from the pod. Prints one JSON line, with each step's time since createPairs
// returned (ms).
import { spawnSync } from 'node:child_process';
import { openSandbox } from '../../src/runtime/sandbox';
import { loadNetlink, readNetnsLinks } from '../../src/veth/netlink-query';
import { announceAddresses, createPairs, type VethPlan } from '../../src/veth/pair';

interface Args {
  netns: string;
  plans: VethPlan[];
  ovsdb?: string;
  bridge?: string;
  tag?: number;
  pings?: string[];
}

const args = JSON.parse(process.argv[2]) as Args;
const sandbox = openSandbox(args.netns, `test namespace ${args.netns}`);
try {
  const unannounced = await createPairs(sandbox, sandbox.inode, args.plans, 5000);
  const returned = performance.now();
  const since = () => Math.round(performance.now() - returned);
  const nl = await loadNetlink();
  if (typeof nl === 'string') throw new Error(nl);
  const { links, addresses } = readNetnsLinks(nl, sandbox, 5000, 'both');
  const readAt = since();
  const addrs = Object.fromEntries(
    args.plans.map((p) => {
      const index = links.find((l) => l.name === p.podName)?.index;
      return [p.podName, addresses.filter((a) => a.index === index)];
    }),
  );
  const out: Record<string, unknown> = { unannounced, addrs, readAt };
  if (args.bridge) {
    for (const p of args.plans) {
      const r = spawnSync('ovs-vsctl', [`--db=${args.ovsdb}`, 'add-port', args.bridge, p.hostName, `tag=${args.tag}`]);
      if (r.status !== 0) throw new Error(`ovs-vsctl add-port ${p.hostName}: ${r.stderr}`);
    }
    out.portAt = since();
    await announceAddresses(sandbox, args.plans, 5000);
    out.announcedAt = since();
    out.pings = (args.pings ?? []).map((to) => {
      const r = spawnSync('nsenter', [`--net=${args.netns}`, 'ping', '-c1', '-W1', to], { encoding: 'utf8' });
      return {
        to,
        ok: r.status === 0,
        at: since(),
        ...(r.status === 0 ? {} : { why: `${r.stdout}${r.stderr}`.trim() }),
      };
    });
  }
  console.log(JSON.stringify({ ok: true, ...out }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, message: (err as Error).message }));
} finally {
  sandbox.close();
}
