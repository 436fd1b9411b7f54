// Finding a pod's namespace by its recorded inode (a fake /proc: a mount table and processes'
// namespace links), refusing a path that now opens something else, and where ovs-appctl's socket is.
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { traceFlow } from '../../src/diagnose/read-vswitchd';
import { netnsPaths, openNetns } from '../../src/diagnose/pod-netns';
import { defaultVswitchdCtl } from '../../src/ovs/unixctl';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'podvlan-diag-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function fakeProc(mountinfo: string, processes: Record<string, string>): string {
  const proc = join(root, 'proc');
  mkdirSync(join(proc, 'self'), { recursive: true });
  writeFileSync(join(proc, 'self', 'mountinfo'), mountinfo);
  for (const [pid, net] of Object.entries(processes)) {
    mkdirSync(join(proc, pid, 'ns'), { recursive: true });
    symlinkSync(net, join(proc, pid, 'ns', 'net'));
  }
  return proc;
}

describe('netnsPaths', () => {
  it('takes an nsfs mount first, then a process in the namespace; leaves out what nothing holds', () => {
    const proc = fakeProc('50 42 0:4 net:[111] /run/netns/cni-1 rw shared:4 - nsfs nsfs rw\n', {
      '10': 'net:[111]',
      '20': 'net:[222]',
      '30': 'net:[1]',
    });
    const found = netnsPaths(['111', '222', '333'], proc);
    expect(Object.fromEntries(found)).toEqual({ '111': '/run/netns/cni-1', '222': `${proc}/20/ns/net` });
  });
});

describe('openNetns', () => {
  it('opens a path whose inode is the recorded one, and refuses one that is now another', () => {
    const file = join(root, 'ns');
    writeFileSync(file, '');
    const inode = String(statSync(file).ino);
    const sandbox = openNetns(inode, file);
    expect(sandbox.inode).toBe(inode);
    sandbox.close();
    expect(() => openNetns('1', file)).toThrow(`${file} is now namespace ${inode}, not 1`);
  });
});

describe('defaultVswitchdCtl', () => {
  it('is ovs-vswitchd.<pid>.ctl beside the pid file, as ovs-appctl finds it', () => {
    writeFileSync(join(root, 'ovs-vswitchd.pid'), '4242\n');
    expect(defaultVswitchdCtl(root)).toBe(`${root}/ovs-vswitchd.4242.ctl`);
  });

  it('refuses a pid file that holds anything but a pid, and says when there is none', () => {
    writeFileSync(join(root, 'ovs-vswitchd.pid'), '../../etc/x\n');
    expect(() => defaultVswitchdCtl(root)).toThrow(/does not hold a process id/);
    rmSync(join(root, 'ovs-vswitchd.pid'));
    expect(() => defaultVswitchdCtl(root)).toThrow(/ENOENT.*is ovs-vswitchd running\? \(or set vswitchdCtl/);
  });
});

describe('traceFlow', () => {
  it('an ICMP echo from the source port, as an OpenFlow match', () => {
    expect(traceFlow('pv1', '0a:58:0a:00:00:01', '0a:58:0a:00:00:02', '10.1.0.1', '10.1.0.2')).toBe(
      'in_port=pv1,dl_src=0a:58:0a:00:00:01,dl_dst=0a:58:0a:00:00:02,ip,nw_src=10.1.0.1,nw_dst=10.1.0.2,nw_proto=1,icmp_type=8',
    );
    expect(traceFlow('pv1', '0a:58:0a:00:00:01', '0a:58:0a:00:00:02')).toMatch(/,dl_type=0x0800$/);
  });

  it('IPv6: an ICMPv6 echo, or a neighbour solicitation to the solicited-node group when unresolved', () => {
    const [a, b] = ['0a:58:0a:00:00:01', '0a:58:0a:00:00:02'];
    expect(traceFlow('pv1', a, b, 'fd00:1::1', 'fd00:1::2')).toBe(
      `in_port=pv1,dl_src=${a},dl_dst=${b},icmp6,ipv6_src=fd00:1::1,ipv6_dst=fd00:1::2,icmpv6_type=128`,
    );
    expect(traceFlow('pv1', a, 'ff:ff:ff:ff:ff:ff', 'fd00:1::1', 'fd00:1::12:3456')).toBe(
      `in_port=pv1,dl_src=${a},dl_dst=33:33:ff:12:34:56,icmp6,ipv6_src=fd00:1::1,ipv6_dst=ff02::1:ff12:3456,icmpv6_type=135`,
    );
    expect(traceFlow('pv1', a, b, '10.1.0.1', 'fd00:1::2')).toBeUndefined(); // mixed families: no flow
  });

  it('refuses values that would add match fields', () => {
    expect(traceFlow('pv1,in_port=2', '0a:58:0a:00:00:01', '0a:58:0a:00:00:02')).toBeUndefined();
    expect(traceFlow('pv1', '0a:58:0a:00:00:01,tp_dst=1', '0a:58:0a:00:00:02')).toBeUndefined();
    expect(traceFlow('pv1', '0a:58:0a:00:00:01', '0a:58:0a:00:00:02', '10.1.0.1,tcp', '10.1.0.2')).toMatch(
      /dl_type=0x0800$/,
    );
  });
});
