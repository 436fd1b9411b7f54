// Which VLANs an uplink carries: computed from the networks on its bridge, refused when it cannot be known.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load';
import { datapathTypeOf } from '../../src/config/datapath';
import { ConfigError } from '../../src/errors';
import { addressesOf } from '../../src/net/host-links';
import { uplinkSpecs, vlanText } from '../../src/ovs/uplink';

const config = (networks: string, bridges: string) =>
  parseConfig(`networks:\n${networks}bridges:\n${bridges}`, '/etc/podvlan/t.yaml');
const net = (name: string, vlan: string, bridge = 'br0') => `  - { name: ${name}, bridge: ${bridge}, vlan: ${vlan} }\n`;

describe('uplinkSpecs', () => {
  it('carries fixed ids, declared ranges and whole pools, and nothing of other bridges', () => {
    const c = parseConfig(
      `${'networks:\n'}${net('a', '{ id: 22 }')}${net('b', '{ fromPodName: "^v(\\\\d+)-", range: "30-32" }')}` +
        `${net('c', '{ id: 7 }', 'br1')}bridges:\n  - { name: br0, uplinks: [eth2, eth3], mtu: 9000 }\n`,
      '/t.yaml',
    );
    const specs = uplinkSpecs(c);
    expect(specs.map((s) => [s.name, s.bridge, vlanText(s.vlans), s.mtu])).toEqual([
      ['eth2', 'br0', '22,30-32', 9000],
      ['eth3', 'br0', '22,30-32', 9000],
    ]);
  });

  it('refuses a range-less pod-name network on a bridge with uplinks, and says which key to set', () => {
    const c = config(net('a', '{ fromPodName: "^v(\\\\d+)-" }'), '  - { name: br0, uplinks: [eth2] }\n');
    expect(() => uplinkSpecs(c)).toThrow(ConfigError);
    expect(() => uplinkSpecs(c)).toThrow(/network a reads its VLAN from pods without a range: declare vlan.range/);
  });

  it('refuses uplinks on a bridge without networks (empty trunks would carry every VLAN)', () => {
    const c = config(net('a', '{ id: 5 }'), '  - { name: br9, uplinks: [eth2] }\n');
    expect(() => uplinkSpecs(c)).toThrow(/bridge br9 has uplinks but no network on it/);
  });

  it('takes the datapath type from the bridges entry, else a network, else system', () => {
    expect(datapathTypeOf(config(net('a', '{ id: 5 }'), '  - { name: br0, datapathType: netdev }\n'), 'br0')).toBe(
      'netdev',
    );
    expect(datapathTypeOf(config(net('a', '{ id: 5 }'), '  - { name: br1 }\n'), 'br0')).toBe('system');
  });
});

describe('the host addresses init checks an uplink against', () => {
  it("takes every link's IPv4 and non-link-local IPv6 addresses, a down link's included", () => {
    const json = [
      { ifname: 'lo', flags: ['LOOPBACK', 'UP'], addr_info: [{ family: 'inet', local: '127.0.0.1' }] },
      // down, no carrier: os.networkInterfaces() lists neither, the kernel keeps both addresses
      { ifname: 'eth2', flags: ['BROADCAST', 'NO-CARRIER'], addr_info: [{ family: 'inet', local: '10.1.2.3' }] },
      {
        ifname: 'eth3',
        flags: ['BROADCAST', 'UP'],
        addr_info: [
          { family: 'inet6', local: 'fe80::1' },
          { family: 'inet6', local: '2001:db8::3' },
        ],
      },
      { ifname: 'eth4', flags: [], addr_info: [] },
    ];
    const by = addressesOf(json);
    expect(by.get('eth2')).toEqual(['10.1.2.3']);
    expect(by.get('eth3')).toEqual(['2001:db8::3']);
    expect(by.get('eth4')).toEqual([]);
    expect(() => addressesOf({})).toThrow();
  });
});
