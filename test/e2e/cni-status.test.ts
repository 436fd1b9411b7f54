// CNI STATUS (SPEC.md 1.1.0): no Debian runtime sends it, so the spec-following caller does. Exit
// 0 with nothing on stdout while OVSDB and ovs-vswitchd answer; error 50 when OVSDB does not; 51
// when OVSDB answers but no ovs-vswitchd applies changes (existing attachments may be cut off).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
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
