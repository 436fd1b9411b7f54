// The dual-stack choices of the core: the one address status gives the kubelet, the MAC derived
// from the addresses, and which requested addresses a network's pools can serve.
import { describe, expect, it } from 'vitest';
import { acquireAll } from '../../src/cni/ipam-plugin';
import { requestProblem } from '../../src/commands/attach';
import { familyOfText } from '../../src/ipam/ip';
import { Logger } from '../../src/log';
import { macFor } from '../../src/commands/mac';
import { statusIp } from '../../src/commands/records';
import { parseConfig } from '../../src/config/load';

const lease = (address: string) => ({ address, routes: [] });

describe('status: one address for the kubelet', () => {
  it("is the primary network's IPv4, else (IPv6-only) its IPv6, bare", () => {
    expect(statusIp(['10.20.0.5/24', 'fd00:20::5/64'])).toBe('10.20.0.5');
    expect(statusIp(['fd00:20::5/64'])).toBe('fd00:20::5');
    expect(statusIp([])).toBeUndefined();
  });
});

describe('the MAC of a pod interface', () => {
  it('comes from the IPv4 address whenever there is one, as before IPv6', () => {
    expect(macFor([lease('10.231.0.10/24')], 'pvx')).toBe('0a:58:0a:e7:00:0a');
    expect(macFor([lease('10.231.0.10/24'), lease('fd00::1:2:3:4/64')], 'pvx')).toBe('0a:58:0a:e7:00:0a');
  });
  it('on an IPv6-only attachment: 0a:5a and the low 32 bits of the address', () => {
    expect(macFor([lease('fd00:20::a0b:c0d/64')], 'pvx')).toBe('0a:5a:0a:0b:0c:0d');
    expect(macFor([lease('fd00:20::5/64')], 'pvx')).toBe('0a:5a:00:00:00:05');
  });
  it('without an address: 0a:59 and a hash of the port name', () => {
    expect(macFor([], 'pvabc')).toMatch(/^0a:59(:[0-9a-f]{2}){4}$/);
  });
});

describe('requested addresses and the pools of a network', () => {
  const network = (ipam: string) =>
    parseConfig(`networks:\n  - { name: n, bridge: br0, vlan: { id: 5 }, ipam: ${ipam} }\n`, '/x.yaml').networks[0];
  const v4 = network('{ type: host-local, subnet: 10.20.0.0/24 }');
  it('a family with no pool is refused in one line naming where it came from', () => {
    expect(requestProblem(v4, [{ address: 'fd00::5', from: 'runtimeConfig.ips' }])).toBe(
      'runtimeConfig.ips asks for fd00::5 but network n has no IPv6 pool',
    );
    expect(requestProblem(v4, [{ address: '10.20.0.5' }])).toBeUndefined();
    expect(requestProblem(v4, [])).toBeUndefined();
  });
  it('two of one family are refused', () => {
    expect(requestProblem(v4, [{ address: '10.20.0.5' }, { address: '10.20.0.6' }])).toMatch(
      /a second IPv4 address: an attachment holds one address per family/,
    );
  });
});

describe('podvlan as an IPAM plugin: one lease per pool', () => {
  const owner = { network: 'n', namespace: 'cni', pod: 'p', containerId: 'a'.repeat(64), interface: 'eth0' };
  const fake = (family: 4 | 6, address: string | Error, held: string[]) => ({
    family,
    pool: {
      acquire: async () => {
        if (address instanceof Error) throw address;
        held.push(address);
        return { address, routes: [] };
      },
      acquireRequested: async () => ({ address: '', routes: [] }),
      release: async () => held.splice(0).filter((a) => familyOfText(a) === family),
    },
  });
  const log = new Logger('/dev/null');

  it('takes IPv4 first, then IPv6', async () => {
    const held: string[] = [];
    const leases = await acquireAll([fake(6, 'fd00::2/64', held), fake(4, '10.0.0.2/24', held)], owner, log);
    expect(leases.map((l) => l.address)).toEqual(['10.0.0.2/24', 'fd00::2/64']);
  });

  it("gives the first family's lease back when the second pool fails", async () => {
    const held: string[] = [];
    const full = new Error('address pool fd00::/64 is exhausted');
    await expect(acquireAll([fake(4, '10.0.0.2/24', held), fake(6, full, held)], owner, log)).rejects.toBe(full);
    expect(held).toEqual([]);
  });
});
