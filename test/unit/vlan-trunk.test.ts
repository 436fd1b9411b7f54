// Pod trunk ports (`vlan: {trunk: "100-110,200"}`): the text's parser, the trunk's claim on its
// bridge beside every other kind of network, the config's refusals (each naming its field), the
// uplinks that must carry it, and its record on the OVS port.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load';
import { ConfigError } from '../../src/errors';
import {
  parseVlanTrunk,
  podTagProblem,
  trunkText,
  type VlanClaim,
  vlanClashes,
  vlanFor,
  vlanListText,
  vlansOf,
} from '../../src/ipam/vlan';
import { listRow } from '../../src/commands/list';
import { type Attachment, fromExternalIds, TRUNKS_KEY, toExternalIds } from '../../src/ovs/attachment';
import { uplinkSpecs, vlanText } from '../../src/ovs/uplink';
import { hostVethName } from '../../src/names';

describe('parseVlanTrunk', () => {
  it.each([
    [
      '100-110,200',
      [
        [100, 110],
        [200, 200],
      ],
    ],
    [
      '200, 100 - 110',
      [
        [100, 110],
        [200, 200],
      ],
    ],
    ['5', [[5, 5]]],
    ['1-4094', [[1, 4094]]],
    [
      '10-19,20-29',
      [
        [10, 19],
        [20, 29],
      ],
    ], // adjacent is not overlapping
  ])('reads %j', (text, ranges) => {
    expect(parseVlanTrunk(text)).toEqual(ranges.map(([first, last]) => ({ first, last })));
  });

  it.each([
    ['', /VLAN trunk "" is not a list of VLANs and ranges like "100-110,200"/],
    ['100-110,', /is not a list of VLANs and ranges/],
    ['100;200', /is not a list of VLANs and ranges/],
    ['abc', /is not a list of VLANs and ranges/],
    ['100-110,0', /VLAN trunk "100-110,0": 0 is outside 1-4094/],
    ['4095', /4095 is outside 1-4094/],
    ['110-100', /110 is after 100/],
    ['100-110,105', /VLAN trunk "100-110,105": 105 overlaps 100-110/],
    ['100-110,105-120', /105-120 overlaps 100-110/],
    ['7,7', /7 is listed twice/],
  ])('refuses %j', (text, message) => {
    expect(() => parseVlanTrunk(text)).toThrow(message);
  });

  it('has one canonical text: what is recorded on the port and compared with its trunks column', () => {
    expect(trunkText({ trunk: '200,100-105,106-110' })).toBe('100-110,200');
    expect(trunkText({ id: 5 })).toBeUndefined();
    expect(vlansOf(parseVlanTrunk('3-5,9'))).toEqual([3, 4, 5, 9]);
    expect(vlanListText([3, 4, 5, 9])).toBe('3-5,9');
  });

  it('gives a trunk network no tag of its own', () => {
    expect(vlanFor({ trunk: '100-110' }, 'any-pod', 't')).toBe(0);
  });
});

const claim = (name: string, vlan: VlanClaim['vlan'], bridge = 'br-edge'): VlanClaim => ({ name, bridge, vlan });

describe('vlanClashes with trunks', () => {
  it.each([
    [
      'a trunk over a fixed VLAN',
      [claim('storage', { id: 105 }), claim('vnf', { trunk: '100-110,200' })],
      "network vnf's VLAN trunk 100-110,200 overlaps network storage's VLAN 105 on bridge br-edge",
    ],
    [
      'a fixed VLAN on a trunk (the trunk first)',
      [claim('vnf', { trunk: '100-110,200' }), claim('storage', { id: 200 })],
      "network storage's VLAN 200 overlaps network vnf's VLAN trunk 100-110,200 on bridge br-edge",
    ],
    [
      'a pod-name range over a trunk',
      [claim('vnf', { trunk: '100-110' }), claim('gw', { fromPodName: '^gw-(\\d+)$', range: '108-120' })],
      "network gw's VLAN range 108-120 overlaps network vnf's VLAN trunk 100-110 on bridge br-edge",
    ],
    [
      'a pool over a trunk',
      [claim('vnf', { trunk: '5,300' }), claim('tenants', { pool: '250-350', per: 'namespace' })],
      "network tenants's VLAN pool 250-350 overlaps network vnf's VLAN trunk 5,300 on bridge br-edge",
    ],
    [
      'two trunks',
      [claim('a', { trunk: '100-110' }), claim('b', { trunk: '110,200' })],
      "network b's VLAN trunk 110,200 overlaps network a's VLAN trunk 100-110 on bridge br-edge",
    ],
  ])('refuses %s, naming both networks', (_label, networks, message) => {
    expect(vlanClashes(networks)).toEqual([{ index: 1, message }]);
  });

  it('accepts a trunk between the VLANs of others, and the same VLANs on another bridge', () => {
    expect(
      vlanClashes([
        claim('a', { id: 111 }),
        claim('vnf', { trunk: '100-110,112' }),
        claim('b', { pool: '113-120', per: 'pod' }),
        claim('c', { trunk: '100-110' }, 'br-other'),
        claim('open', { fromPodName: '^gw-(\\d+)$' }), // takes every tag nobody declares
      ]),
    ).toEqual([]);
  });

  it('keeps a range-less pod-name network off the trunk VLANs', () => {
    const nets = [claim('vnf', { trunk: '100-110' }), claim('open', { fromPodName: '^gw-(\\d+)$' })];
    expect(podTagProblem(105, nets[1], nets, 'VLAN 105 from pod name "gw-105"')).toBe(
      'VLAN 105 from pod name "gw-105" belongs to network vnf (VLAN trunk 100-110) on bridge br-edge, not to network open',
    );
    expect(podTagProblem(111, nets[1], nets, 'VLAN 111')).toBeUndefined();
  });
});

describe('config: vlan.trunk', () => {
  const PATH = '/etc/podvlan/t.yaml';
  const text = (trunkNet: string, other = '') =>
    `networks:\n  - { name: access, bridge: br0, interface: net1, vlan: { id: 5 } }\n${other}` +
    `  - { name: vnf, bridge: br0, interface: net2, vlan: ${trunkNet} }\n`;
  const refusal = (t: string) => {
    try {
      parseConfig(t, PATH);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).not.toContain('\n');
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it('keeps the text it is given', () => {
    expect(parseConfig(text('{ trunk: "100-110,200" }'), PATH).networks[1].vlan).toEqual({ trunk: '100-110,200' });
  });

  it.each([
    ['"100-110,105"', 'networks.1.vlan.trunk: VLAN trunk "100-110,105": 105 overlaps 100-110'],
    ['"100-4095"', 'networks.1.vlan.trunk: VLAN trunk "100-4095": 4095 is outside 1-4094'],
    ['"x"', 'networks.1.vlan.trunk: VLAN trunk "x" is not a list of VLANs and ranges like "100-110,200"'],
    ['100', 'networks.1.vlan.trunk: must be a list like "100-110,200"'],
  ])('refuses trunk %s at its field', (value, message) => {
    expect(refusal(text(`{ trunk: ${value} }`))).toBe(`config ${PATH}: ${message}`);
  });

  it('refuses a trunk that overlaps another network on the bridge, naming both', () => {
    expect(refusal(text('{ trunk: "1-10" }'))).toBe(
      `config ${PATH}: networks.1.vlan: network vnf's VLAN trunk 1-10 overlaps network access's VLAN 5 on bridge br0`,
    );
  });

  it('refuses ipam on a trunk network: the interface carries only tagged frames', () => {
    const withIpam = `networks:\n  - name: vnf\n    bridge: br0\n    vlan: { trunk: "100-110" }\n    ipam: { type: static, address: 10.0.0.5/24 }\n`;
    expect(refusal(withIpam)).toMatch(
      /networks\.0\.ipam: network vnf is a VLAN trunk: its interface carries only tagged frames, so an address on it is unreachable; drop ipam/,
    );
  });

  it('makes the uplinks carry the trunk VLANs with the others of the bridge', () => {
    const c = parseConfig(`${text('{ trunk: "100-103,200" }')}bridges:\n  - { name: br0, uplinks: [eth2] }\n`, PATH);
    expect(uplinkSpecs(c).map((s) => vlanText(s.vlans))).toEqual(['5,100-103,200']);
  });
});

describe('a trunk port on record', () => {
  const a: Attachment = {
    namespace: 'vnf',
    pod: 'router-0',
    containerId: 'a'.repeat(64),
    network: 'trunk',
    interface: 'eth1',
    bridge: 'br0',
    port: hostVethName('vnf', 'router-0', 'trunk'),
    tag: 0,
    trunks: '100-110,200',
    ips: [],
    mac: '02:00:00:00:00:01',
  };
  const column = vlansOf(parseVlanTrunk('100-110,200'));

  it('records its VLANs and reads them back from the Port.trunks column', () => {
    const ids = toExternalIds(a);
    expect(ids[TRUNKS_KEY]).toBe('100-110,200');
    expect(fromExternalIds(a.port, undefined, ids, column)).toEqual({ ...a, recordedTrunks: '100-110,200' });
    // The column as it is now: a VLAN removed by hand shows, an emptied column too ("" = every VLAN);
    // the record stays as setup made it (a view reports the difference as tag-differs).
    const edited = fromExternalIds(a.port, undefined, ids, column.slice(1));
    expect(edited?.trunks).toBe('101-110,200');
    expect(edited?.recordedTrunks).toBe('100-110,200');
    expect(toExternalIds(edited!)[TRUNKS_KEY]).toBe('100-110,200');
    expect(fromExternalIds(a.port, undefined, ids, [])?.trunks).toBe('');
  });

  it('is not read back with a mark that is no trunk list, or an access port as a trunk', () => {
    expect(fromExternalIds(a.port, undefined, { ...toExternalIds(a), [TRUNKS_KEY]: 'all' }, column)).toBeUndefined();
    const { trunks: _, ...access } = a;
    expect(fromExternalIds(a.port, 22, toExternalIds({ ...access, tag: 22 }), column)?.trunks).toBeUndefined();
  });

  it('shows as "trunk VLANS" in the TAG column of list', () => {
    const row = (x: typeof a) => listRow({ attachment: x, state: 'ok', problems: [] });
    expect(row(a)[6]).toBe('trunk 100-110,200');
    expect(row({ ...a, trunks: '' })[6]).toBe('trunk all');
    expect(row({ ...a, trunks: undefined, tag: 22 })[6]).toBe('22');
  });
});
