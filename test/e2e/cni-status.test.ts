// CNI STATUS (SPEC.md 1.1.0): no Debian runtime sends it, so the spec-following caller does. Exit
// 0 with nothing on stdout while OVSDB and ovs-vswitchd answer; error 50 when OVSDB does not; 51
// when OVSDB answers but no ovs-vswitchd applies changes (existing attachments may be cut off).
// A network whose addresses or VLAN come from etcd also needs etcd: 50 when it does not answer.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EtcdServer, startEtcd } from '../integration/etcd-server';
import { cni } from '../support/cni';
import { startOvsdb } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'cni-status');

const netconf = (ovsdb: string) => ({
  cniVersion: '1.1.0',
  name: 'vlan22',
  type: 'podvlan',
  bridge: 'cnist_br',
  vlan: { id: 22 },
  ovsdb,
  stateDir: join(dir, 'state'),
  logFile: join(dir, 'podvlan.log'),
  nodeConfig: '/dev/null',
});

describe('CNI STATUS', () => {
  it('answers 0 while OVSDB and ovs-vswitchd answer', async () => {
    const r = await cni(info, 'STATUS', netconf(info.ovsdb), { omit: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'] });
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('');
  });

  it('answers 50 when OVSDB does not answer', async () => {
    const r = await cni(info, 'STATUS', netconf(`unix:${dir}/nonesuch.sock`), {
      omit: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
    });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toBe('');
    expect(r.json).toMatchObject({ cniVersion: '1.1.0', code: 50 });
  });

  it('answers 51 when OVSDB answers but no ovs-vswitchd applies changes', async () => {
    mkdirSync(dir, { recursive: true });
    // An ovsdb-server of its own with no ovs-vswitchd behind it.
    await startOvsdb(dir);
    try {
      const r = await cni(info, 'STATUS', netconf(`unix:${dir}/db.sock`), {
        omit: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
      });
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toBe('');
      expect(r.json).toMatchObject({ cniVersion: '1.1.0', code: 51 });
    } finally {
      process.kill(Number(readFileSync(`${dir}/ovsdb.pid`, 'utf8').trim()), 'SIGTERM');
    }
  });
});

describe('CNI STATUS of a network that uses etcd', () => {
  let etcd: EtcdServer;
  // etcd in the sandbox's namespace, where the plugin runs.
  beforeAll(async () => {
    etcd = await startEtcd({ netns: info.netns });
  });
  afterAll(async () => etcd?.destroy());
  const omit = ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'];
  const withEtcd = (extra: object) => ({
    ...netconf(info.ovsdb),
    etcd: { endpoints: [etcd.url], prefix: '/podvlan-status', timeoutMs: 5000 },
    ...extra,
  });
  const etcdIpam = { ipam: { type: 'podvlan', pool: { type: 'etcd', subnet: '10.237.0.0/24' } } };
  const vlanPool = { vlan: { pool: '100-199', per: 'namespace' } };

  it('answers 0 while etcd answers too', async () => {
    for (const extra of [etcdIpam, vlanPool]) {
      const r = await cni(info, 'STATUS', withEtcd(extra), { omit });
      expect(r.exitCode, r.stdout).toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('');
    }
  });

  it('answers 50, naming etcd and what the network takes from it, when etcd does not answer', async () => {
    await etcd.stop();
    try {
      for (const [extra, what] of [
        [etcdIpam, 'addresses'],
        [vlanPool, 'VLAN'],
      ] as const) {
        const started = Date.now();
        const r = await cni(info, 'STATUS', withEtcd(extra), { omit });
        expect(r.exitCode).not.toBe(0);
        expect(r.stderr).toBe('');
        expect(r.json, r.stdout).toMatchObject({
          cniVersion: '1.1.0',
          code: 50,
          msg: `etcd ${etcd.url} does not answer (network vlan22 takes its ${what} from it)`,
        });
        expect(typeof r.json?.details).toBe('string');
        // Bounded like the rest of STATUS (2 s), not by the config's etcd timeout (5 s).
        expect(Date.now() - started).toBeLessThan(4500);
      }
      // A network without etcd does not need it.
      expect((await cni(info, 'STATUS', { ...withEtcd({}) }, { omit })).exitCode).toBe(0);
    } finally {
      await etcd.start();
    }
  });
});
