// The demo: a private OVS + Docker sandbox, three pods on two VLANs attached by podvlan the way
// a kubelet would, connectivity inside VLAN 22 and isolation from VLAN 33 shown with real
// pings, then teardown and cleanup. Run with `scripts/dev.sh demo` (root).
import { join } from 'node:path';
import { bridgePorts, hostVeths, ovsVsctl, runPlugin, writeConfig } from '../test/support/plugin';
import { canPing, podExec, type SandboxInfo, startContainer, startSandbox, stopSandbox } from '../test/support/sandbox';

const say = (text: string) => console.log(`\n== ${text}`);

async function main(info: SandboxInfo): Promise<boolean> {
  const config = writeConfig(info, join(info.dir, 'node'), [
    {
      name: 'vlannet',
      bridge: 'k8s_br',
      datapathType: 'netdev',
      interface: 'eth1',
      primary: true,
      vlan: { fromPodName: '^(\\d+)-' },
      ipam: {
        type: 'host-local',
        subnet: '10.231.0.0/24',
        rangeStart: '10.231.0.10',
        rangeEnd: '10.231.0.250',
        gateway: '10.231.0.1',
      },
    },
  ]);
  const podvlan = async (...args: string[]) => {
    const r = await runPlugin(info, args, { config });
    console.log(
      `$ podvlan ${args.map((a) => (a.length > 20 ? `${a.slice(0, 12)}…` : a)).join(' ')}   [exit ${r.exitCode}, ${r.ms.toFixed(0)} ms]`,
    );
    if (r.all) console.log(r.all.replace(/^/gm, '  '));
    if (r.exitCode !== 0) throw new Error(`podvlan ${args[0]} failed`);
    return r;
  };

  say('init: make sure the bridge exists');
  await podvlan('init');

  say('three pods (docker run --net=none), set up as the kubelet would');
  const pods = [{ name: '22-web-a' }, { name: '22-web-b' }, { name: '33-db-c' }].map((p) => ({ ...p, id: '', ip: '' }));
  for (const p of pods) {
    p.id = await startContainer(info);
    await podvlan('setup', 'default', p.name, p.id);
    p.ip = JSON.parse((await podvlan('status', 'default', p.name, p.id)).stdout).ip;
  }
  await podvlan('list');
  console.log((await ovsVsctl(info, ['show'])).replace(/^/gm, '  '));

  say('traffic: VLAN 22 pods reach each other, VLAN 33 is isolated');
  const [a, b, c] = pods;
  const checks = [
    { from: a, to: b, expect: true },
    { from: b, to: a, expect: true },
    { from: a, to: c, expect: false },
    { from: c, to: b, expect: false },
  ];
  let ok = true;
  for (const k of checks) {
    const got = await canPing(info, k.from.id, k.to.ip);
    ok &&= got === k.expect;
    console.log(
      `  ${k.from.name} -> ${k.to.name} (${k.to.ip}): ${got ? 'reachable' : 'unreachable'} ${got === k.expect ? 'as expected' : 'UNEXPECTED'}`,
    );
  }
  console.log((await podExec(info, a.id, ['ip', 'addr', 'show', 'eth1'])).stdout.replace(/^/gm, '  '));

  say('teardown, twice for the first pod (idempotent)');
  await podvlan('teardown', 'default', a.name, a.id);
  for (const p of pods) await podvlan('teardown', 'default', p.name, p.id);
  const left = [...(await bridgePorts(info, 'k8s_br')), ...(await hostVeths(info))];
  console.log(`  ports and veths left: ${left.length === 0 ? 'none' : left.join(', ')}`);
  return ok && left.length === 0;
}

say('starting a private sandbox: ovsdb-server, ovs-vswitchd (userspace datapath), dockerd');
const info = await startSandbox();
let ok = false;
try {
  ok = await main(info);
} catch (err) {
  console.error(`demo failed: ${(err as Error).message}`);
} finally {
  say('stopping the sandbox');
  await stopSandbox(info);
}
console.log(ok ? '\ndemo passed' : '\ndemo FAILED');
process.exit(ok ? 0 : 1);
