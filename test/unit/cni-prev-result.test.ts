// prevResult in, chained result out: reading a chain's result of any version podvlan speaks, and
// appending podvlan's interfaces, IPs and routes after it in the config's version.
import { describe, expect, it } from 'vitest';
import { parsePrevResult } from '../../src/cni/prev-result';
import { buildResult } from '../../src/cni/result';
import type { CniError } from '../../src/cni/spec';
import type { Attachment } from '../../src/ovs/attachment';

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as CniError).code;
  }
  return undefined;
};

const loopback = {
  cniVersion: '0.4.0',
  interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: '/n' }],
  ips: [
    { version: '4', address: '127.0.0.1/8', interface: 0 },
    { version: '6', address: '::1/128', interface: 0 },
  ],
  routes: [{ dst: '10.9.0.0/16', gw: '127.0.0.1', mtu: 1400 }],
  dns: { nameservers: ['10.0.0.53'] },
};

describe('parsePrevResult', () => {
  it('reads 0.3.x/0.4.0 and 1.x results into one form (no "version"), keeping unknown keys', () => {
    const r = parsePrevResult(loopback, '1.0.0')!;
    expect(r.ips).toEqual([
      { address: '127.0.0.1/8', interface: 0 },
      { address: '::1/128', interface: 0 },
    ]);
    expect(r.routes).toEqual([{ dst: '10.9.0.0/16', gw: '127.0.0.1', mtu: 1400 }]);
    expect(r.dns).toEqual({ nameservers: ['10.0.0.53'] });
    expect(parsePrevResult({ ...loopback, cniVersion: '1.1.0' }, '1.0.0')?.interfaces).toEqual(loopback.interfaces);
  });
  it('absent is undefined; no cniVersion is the config version; empty lists are fine', () => {
    expect(parsePrevResult(undefined, '1.0.0')).toBeUndefined();
    expect(parsePrevResult({}, '1.0.0')).toEqual({ interfaces: [], ips: [], routes: [], dns: {} });
  });
  it('refuses what it cannot read: 1 for old or unknown versions, 7 for a malformed result', () => {
    expect(codeOf(() => parsePrevResult({ cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/24' } }, '1.0.0'))).toBe(1);
    expect(codeOf(() => parsePrevResult({ ip4: { ip: '10.0.0.2/24' } }, '0.4.0'))).toBe(1);
    expect(codeOf(() => parsePrevResult({ cniVersion: '9.9.9' }, '1.0.0'))).toBe(1);
    expect(codeOf(() => parsePrevResult('x', '1.0.0'))).toBe(7);
    expect(codeOf(() => parsePrevResult({ interfaces: {} }, '1.0.0'))).toBe(7);
    expect(codeOf(() => parsePrevResult({ interfaces: [{ mac: 'x' }] }, '1.0.0'))).toBe(7);
    expect(codeOf(() => parsePrevResult({ ips: [{ address: '10.0.0.2' }] }, '1.0.0'))).toBe(7);
    expect(codeOf(() => parsePrevResult({ ips: [{ address: '10.0.0.2/24', interface: 0 }] }, '1.0.0'))).toBe(7);
    expect(codeOf(() => parsePrevResult({ routes: [{ gw: '10.0.0.1' }] }, '1.0.0'))).toBe(7);
    expect(codeOf(() => parsePrevResult({ dns: [] }, '1.0.0'))).toBe(7);
  });
});

describe('a chained result', () => {
  const attachment = { port: 'pvabc', interface: 'eth0', mac: '0a:58:0a:e7:00:02' } as Attachment;
  const lease = { address: '10.231.0.2/24', gateway: '10.231.0.1', routes: [{ dst: '10.0.0.0/8', via: '10.231.0.1' }] };
  const prevResult = parsePrevResult(loopback, '1.0.0');

  it('appends podvlan after the chain so far, its IP pointing at its pod interface', () => {
    const r = buildResult({ cniVersion: '1.0.0', attachment, sandboxPath: '/n', leases: [lease], prevResult });
    expect(r).toEqual({
      cniVersion: '1.0.0',
      interfaces: [
        ...loopback.interfaces,
        { name: 'pvabc' },
        { name: 'eth0', mac: '0a:58:0a:e7:00:02', sandbox: '/n' },
      ],
      ips: [
        { address: '127.0.0.1/8', interface: 0 },
        { address: '::1/128', interface: 0 },
        { address: '10.231.0.2/24', gateway: '10.231.0.1', interface: 2 },
      ],
      routes: [...loopback.routes, { dst: '10.0.0.0/8', gw: '10.231.0.1' }],
      dns: { nameservers: ['10.0.0.53'] },
    });
  });
  it('in a 0.4.0 config, every IP carries its family, the chain before podvlan too', () => {
    const r = buildResult({ cniVersion: '0.4.0', attachment, sandboxPath: '/n', leases: [lease], prevResult });
    expect((r.ips as { version: string }[]).map((ip) => ip.version)).toEqual(['4', '6', '4']);
  });
  it('without prevResult, podvlan first: host end 0, pod end 1, as before', () => {
    const r = buildResult({ cniVersion: '1.0.0', attachment, sandboxPath: '/n', leases: [lease] });
    expect(r.ips).toEqual([{ address: '10.231.0.2/24', gateway: '10.231.0.1', interface: 1 }]);
    expect(r.dns).toEqual({});
  });
});
