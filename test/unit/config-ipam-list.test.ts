// The `ipam` shapes of a network: one pool (as before), or a list of one or two pools of
// different families (dual-stack); ipamPools reads either. IPv6 pool fields are validated by
// the pool schemas themselves (config.test.ts and the pools' own tests).
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load';
import { hasEtcdPool, ipamPools, poolFamily, poolOfFamily } from '../../src/config/schema';
import { ConfigError } from '../../src/errors';

const PATH = '/etc/podvlan/test.yaml';
const cfg = (ipam: string, extra = '', vlan = '{ id: 5 }') =>
  `${extra}networks:\n  - name: a\n    bridge: br0\n    vlan: ${vlan}\n    ipam: ${ipam}\n`;
const V4 = '{ type: host-local, subnet: 10.20.0.0/24 }';

const errorOf = (text: string): string => {
  try {
    parseConfig(text, PATH);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('ipam: one pool or a list', () => {
  it('takes the single pool as before, and reads it as a list of one', () => {
    const n = parseConfig(cfg(V4), PATH).networks[0];
    expect(n.ipam).toMatchObject({ type: 'host-local', subnet: '10.20.0.0/24' });
    expect(ipamPools(n)).toEqual([{ type: 'host-local', subnet: '10.20.0.0/24', exclude: [], routes: [] }]);
    expect(poolFamily(ipamPools(n)[0])).toBe(4);
  });

  it('takes a list of one pool', () => {
    const n = parseConfig(cfg(`[${V4}]`), PATH).networks[0];
    expect(ipamPools(n)).toHaveLength(1);
    expect(poolOfFamily(n, 4)?.type).toBe('host-local');
    expect(poolOfFamily(n, 6)).toBeUndefined();
  });

  it('a network without ipam has no pools', () => {
    const n = parseConfig('networks:\n  - { name: a, bridge: br0, vlan: { id: 5 } }\n', PATH).networks[0];
    expect(ipamPools(n)).toEqual([]);
    expect(hasEtcdPool(n)).toBe(false);
  });

  it('refuses two pools of one family, in one line naming the second', () => {
    const msg = errorOf(cfg(`[${V4}, { type: static, address: 10.30.0.5/24 }]`));
    expect(msg).toContain('networks.0.ipam.1:');
    expect(msg).toContain('pools 0 and 1 are both IPv4: a network takes one pool per family');
    expect(msg).not.toContain('\n');
  });

  it('refuses an empty list and a list of three', () => {
    expect(errorOf(cfg('[]'))).toMatch(/networks\.0\.ipam: must list one or two pools/);
    expect(errorOf(cfg(`[${V4}, ${V4}, ${V4}]`))).toMatch(/networks\.0\.ipam: must list one or two pools/);
  });

  it("reports a single pool's own failure at its field, not the union's", () => {
    expect(errorOf(cfg('{ type: host-local, subnet: 10.20.0.0/24, gateway: 10.9.0.1 }'))).toMatch(
      /networks\.0\.ipam\.gateway: 10\.9\.0\.1 is outside subnet/,
    );
    expect(errorOf(cfg('[{ type: host-local, subnet: 10.20.0.0/24, gateway: 10.9.0.1 }]'))).toMatch(
      /networks\.0\.ipam\.0\.gateway: 10\.9\.0\.1 is outside subnet/,
    );
    expect(errorOf(cfg('{ type: dhcp }'))).toMatch(/networks\.0\.ipam\.type: /);
    expect(errorOf(cfg('[{ type: host-local, subnet: 10.20.0.0/24, rangeStrat: 10.20.0.9 }]'))).toContain(
      'unknown key "rangeStrat" in networks[0].ipam[0] (did you mean "rangeStart"?)',
    );
    expect(errorOf(cfg('nope'))).toMatch(/networks\.0\.ipam: must be a pool .* or a list of one or two pools/);
  });

  it('applies the network checks to every pool of the list: etcd needs etcd, a trunk takes none', () => {
    expect(errorOf(cfg(`[{ type: etcd, subnet: 10.40.0.0/24 }]`))).toMatch(
      /networks\.0\.ipam: ipam type etcd needs the top-level etcd section/,
    );
    expect(errorOf(cfg(`[${V4}]`, '', '{ trunk: "100-110" }'))).toMatch(/networks\.0\.ipam: network a is a VLAN trunk/);
    const n = parseConfig(
      cfg('[{ type: etcd, subnet: 10.40.0.0/24 }]', 'etcd: { endpoints: [http://127.0.0.1:2379] }\n'),
      PATH,
    ).networks[0];
    expect(hasEtcdPool(n)).toBe(true);
  });
});
