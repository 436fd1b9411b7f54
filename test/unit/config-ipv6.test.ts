// IPv6 in the pool fields (issue 13): every address and prefix takes either family, a pool is of
// one family (its subnet's, a static pool's address's), and what cannot work is refused in one line.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load';
import { ipamPools, poolFamily } from '../../src/config/schema';
import { ConfigError } from '../../src/errors';

const PATH = '/etc/podvlan/test.yaml';
const ETCD = 'etcd: { endpoints: [http://10.0.0.1:2379] }\n';
const net = (ipam: string) => `  - name: a\n    bridge: br0\n    vlan: { id: 5 }\n    ipam: ${ipam}\n`;
const cfg = (ipam: string, top = '') => `${top}networks:\n${net(ipam)}`;
const v6 = (fields = '', type = 'host-local') => cfg(`{ type: ${type}, subnet: "fd00:20::/64"${fields} }`, ETCD);
const v4 = (fields = '', type = 'host-local') => cfg(`{ type: ${type}, subnet: 10.20.0.0/24${fields} }`, ETCD);

const errorOf = (text: string): string => {
  try {
    parseConfig(text, PATH);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('the config was accepted');
};

describe('config: IPv6 pools', () => {
  it('takes an IPv6 host-local pool with every field', () => {
    const c = parseConfig(
      v6(
        ', rangeStart: "fd00:20::10", rangeEnd: "fd00:20::ffff", gateway: "fd00:20::1", exclude: ["fd00:20::20"]' +
          ', routes: [{ dst: "::/0", via: "fd00:20::1" }, { dst: "fd00:99::/48" }]',
      ),
      PATH,
    );
    const pool = ipamPools(c.networks[0])[0];
    expect(pool).toMatchObject({ type: 'host-local', subnet: 'fd00:20::/64', gateway: 'fd00:20::1' });
    expect(poolFamily(pool)).toBe(6);
  });

  it('takes IPv6 etcd pools with fixed addresses, and a static IPv6 address of any length', () => {
    const etcd = parseConfig(
      v6(
        ', fixed: [{ namespace: ns, pod: p, address: "fd00:20::5" }, { namespace: ns, pod: q, address: "fd00:20::6" }]',
        'etcd',
      ),
      PATH,
    );
    expect(poolFamily(ipamPools(etcd.networks[0])[0])).toBe(6);
    for (const address of ['fd00:30::5/64', 'fd00:30::5/128']) {
      const s = parseConfig(
        cfg(`{ type: static, address: "${address}", gateway: "fd00:30::1", routes: [{ dst: "::/0" }] }`),
        PATH,
      );
      expect(poolFamily(ipamPools(s.networks[0])[0])).toBe(6);
    }
    expect(poolFamily(ipamPools(parseConfig(v4(), PATH).networks[0])[0])).toBe(4);
  });

  it('takes the longest IPv6 pool, a /126, and IPv6 written in capitals or with leading zeros', () => {
    expect(() => parseConfig(v6().replace('fd00:20::/64', 'fd00:20::/126'), PATH)).not.toThrow();
    expect(() => parseConfig(v6(', gateway: "FD00:20:0::0001", rangeStart: "fd00:20::0a"'), PATH)).not.toThrow();
  });

  it.each([
    [
      'an IPv6 subnet longer than /126',
      v6().replace('/64', '/127'),
      'networks.0.ipam.subnet',
      /fd00:20::\/127 is too long for an IPv6 pool: use \/126 or shorter/,
    ],
    [
      'an IPv6 /128 etcd subnet',
      v6('', 'etcd').replace('/64', '/128'),
      'networks.0.ipam.subnet',
      /too long for an IPv6 pool/,
    ],
    ['not an address', v6(', gateway: "fd00:20::1::2"'), 'networks.0.ipam.gateway', /not an IP address$/],
    [
      'not a prefix',
      cfg('{ type: host-local, subnet: "fd00:20::" }'),
      'networks.0.ipam.subnet',
      /not an IP prefix \(address\/len\)$/,
    ],
    [
      'an IPv6 prefix longer than 128',
      cfg('{ type: host-local, subnet: "fd00:20::/129" }'),
      'networks.0.ipam.subnet',
      /not an IP prefix/,
    ],
    [
      'an IPv6 gateway in an IPv4 pool',
      v4(', gateway: "fd00:20::1"'),
      'networks.0.ipam.gateway',
      /^config \/etc\/podvlan\/test.yaml: networks.0.ipam.gateway: fd00:20::1 is IPv6 but subnet 10.20.0.0\/24 is IPv4$/,
    ],
    [
      'an IPv4 rangeStart in an IPv6 pool',
      v6(', rangeStart: 10.20.0.5'),
      'networks.0.ipam.rangeStart',
      /10.20.0.5 is IPv4 but subnet fd00:20::\/64 is IPv6/,
    ],
    [
      'an IPv4 rangeEnd in an IPv6 pool',
      v6(', rangeStart: "fd00:20::5", rangeEnd: 10.20.0.9'),
      'networks.0.ipam.rangeEnd',
      /10.20.0.9 is IPv4 but subnet fd00:20::\/64 is IPv6/,
    ],
    [
      'an IPv6 range in an IPv4 pool',
      v4(', rangeStart: "fd00:20::5", rangeEnd: "fd00:20::9"'),
      'networks.0.ipam.rangeStart',
      /fd00:20::5 is IPv6 but subnet 10.20.0.0\/24 is IPv4/,
    ],
    [
      'an IPv4 exclude in an IPv6 pool',
      v6(', exclude: ["fd00:20::7", 10.20.0.7]'),
      'networks.0.ipam.exclude.1',
      /is IPv4 but subnet/,
    ],
    [
      'an IPv4 route in an IPv6 pool',
      v6(', routes: [{ dst: 0.0.0.0/0 }]'),
      'networks.0.ipam.routes.0.dst',
      /0.0.0.0\/0 is IPv4 but subnet fd00:20::\/64 is IPv6/,
    ],
    [
      'an IPv4 via in an IPv6 pool',
      v6(', routes: [{ dst: "::/0", via: 10.20.0.1 }]'),
      'networks.0.ipam.routes.0.via',
      /10.20.0.1 is IPv4 but/,
    ],
    [
      'an IPv6 fixed address in an IPv4 etcd pool',
      v4(', fixed: [{ namespace: ns, pod: p, address: "fd00:20::5" }]', 'etcd'),
      'networks.0.ipam.fixed.0.address',
      /fd00:20::5 is IPv6 but subnet 10.20.0.0\/24 is IPv4/,
    ],
    [
      'an IPv4 gateway of a static IPv6 address',
      cfg('{ type: static, address: "fd00:30::5/64", gateway: 10.0.0.1 }'),
      'networks.0.ipam.gateway',
      /10.0.0.1 is IPv4 but address fd00:30::5\/64 is IPv6/,
    ],
    [
      'an IPv6 route of a static IPv4 address',
      cfg('{ type: static, address: 10.0.0.5/24, routes: [{ dst: "::/0" }] }'),
      'networks.0.ipam.routes.0.dst',
      /::\/0 is IPv6 but address 10.0.0.5\/24 is IPv4/,
    ],
    [
      'an IPv6 gateway outside the subnet',
      v6(', gateway: "fd00:21::1"'),
      'networks.0.ipam.gateway',
      /fd00:21::1 is outside subnet fd00:20::\/64/,
    ],
    [
      'an IPv6 exclude outside the subnet',
      v6(', exclude: ["fd00:21::1"]'),
      'networks.0.ipam.exclude.0',
      /outside subnet/,
    ],
    [
      'an IPv6 rangeStart that is the Subnet-Router anycast address',
      v6(', rangeStart: "fd00:20::"'),
      'networks.0.ipam.rangeStart',
      /fd00:20:: is the Subnet-Router anycast address of fd00:20::\/64/,
    ],
    [
      'an IPv6 range in the wrong order',
      v6(', rangeStart: "fd00:20::100", rangeEnd: "fd00:20::ff"'),
      'networks.0.ipam.rangeEnd',
      /rangeEnd is before rangeStart/,
    ],
    [
      'an IPv6 fixed address outside the subnet',
      v6(', fixed: [{ namespace: ns, pod: p, address: "fd00:21::5" }]', 'etcd'),
      'networks.0.ipam.fixed.0.address',
      /outside subnet fd00:20::\/64/,
    ],
    [
      'an IPv6 fixed address that is the anycast address',
      v6(', fixed: [{ namespace: ns, pod: p, address: "fd00:20::" }]', 'etcd'),
      'networks.0.ipam.fixed.0.address',
      /Subnet-Router anycast/,
    ],
    [
      'an IPv6 fixed address that is the gateway',
      v6(', gateway: "fd00:20::1", fixed: [{ namespace: ns, pod: p, address: "FD00:20::0001" }]', 'etcd'),
      'networks.0.ipam.fixed.0.address',
      /is the gateway/,
    ],
    [
      'one IPv6 fixed address written two ways',
      v6(
        ', fixed: [{ namespace: ns, pod: p, address: "fd00:20::5" }, { namespace: ns, pod: q, address: "fd00:20:0::05" }]',
        'etcd',
      ),
      'networks.0.ipam.fixed.1.address',
      /also fixed for entry 0/,
    ],
  ])('refuses %s in one line', (_what, text, field, what) => {
    const msg = errorOf(text);
    expect(msg).toContain(`${PATH}: ${field}: `);
    expect(msg).toMatch(what);
    expect(msg).not.toContain('\n');
  });

  it('reports the family, not "outside subnet", for an address of the other family', () => {
    expect(errorOf(v4(', gateway: "fd00:20::1"'))).not.toMatch(/outside/);
  });
});
