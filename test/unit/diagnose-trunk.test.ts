// diagnose on trunk networks, the pure parts: the trunk port's check, the trace of a frame that
// came in tagged, and which VLAN a pair of pods follows (or why it is refused).
import { describe, expect, it } from 'vitest';
import { parseVlanOption, trunkPair, trunkTowards } from '../../src/commands/diagnose-trunk';
import type { Known } from '../../src/commands/diagnose';
import type { Network } from '../../src/config/schema';
import type { PortFacts } from '../../src/diagnose/facts';
import { checkTrunkPort } from '../../src/diagnose/hops/trunk-port';
import { parseActions } from '../../src/ovs/trace-parse';

const port = (p: Partial<PortFacts>): PortFacts => ({ name: 'pv1', trunks: [], managed: true, ...p });
const codes = (o: PortFacts) => checkTrunkPort('pv1', 'v/r0', o, { vlan: 101, recorded: '100-102' }).map((s) => s.code);

describe('trunk port check', () => {
  it('passes when the trunks carry the VLAN as set; warns when they differ but carry it; critical when not', () => {
    expect(codes(port({ trunks: [100, 101, 102], vlanMode: 'trunk' }))).toEqual([]);
    expect(codes(port({ trunks: [100, 101], vlanMode: 'trunk' }))).toEqual(['trunks-differ']);
    expect(codes(port({ trunks: [], vlanMode: 'trunk' }))).toEqual(['trunks-differ']); // every VLAN
    expect(codes(port({ trunks: [100, 102], vlanMode: 'trunk' }))).toEqual(['trunk-lacks-vlan']);
    expect(codes(port({ trunks: [100, 101, 102], tag: 100, vlanMode: 'access' }))).toEqual(['trunk-lacks-vlan']);
    expect(checkTrunkPort('pv1', 'v/r0', undefined, { vlan: 101 })).toEqual([]);
  });
});

describe('a trace of a frame that came in tagged', () => {
  it('is tagged at an output without pop_vlan, untagged after one', () => {
    expect(parseActions('3,pop_vlan,5', 101).outputs).toEqual([{ port: 3, vlan: 101 }, { port: 5 }]);
    expect(parseActions('3,pop_vlan,5').outputs).toEqual([{ port: 3 }, { port: 5 }]);
  });
});

const net = (name: string, vlan: Network['vlan']) => ({ name, bridge: 'br', vlan }) as unknown as Network;
const NETS = [net('t', { trunk: '100-102' }), net('a', { id: 101 }), net('b', { id: 200 })];
const known = (pod: string): Known => ({ ref: { namespace: 'n', pod }, attachments: [] });
const on = (...n: string[]) => new Set(n);

describe('the VLAN a path on a trunk network follows', () => {
  it('is the one both ends share, or --vlan; none without a trunk', () => {
    expect(trunkPair(NETS, known('r0'), known('w'), [on('t'), on('a')], {})).toMatchObject({ vlan: 101 });
    expect(trunkPair(NETS, known('r0'), known('r1'), [on('t'), on('t')], { vlan: 102 })).toMatchObject({ vlan: 102 });
    expect(trunkPair(NETS, known('w'), known('x'), [on('a'), on('a')], {})).toBeUndefined();
  });
  it('is refused when ambiguous, off the port, or asked without a trunk', () => {
    expect(() => trunkPair(NETS, known('r0'), known('r1'), [on('t'), on('t')], {})).toThrow(/say which with --vlan/);
    expect(() => trunkPair(NETS, known('r0'), known('w'), [on('t'), on('a')], { vlan: 100 })).toThrow(
      /--vlan 100 is not a VLAN both ends are on/,
    );
    expect(() => trunkPair(NETS, known('w'), known('x'), [on('a'), on('a')], { vlan: 101 })).toThrow(/neither/);
    expect(() => trunkTowards(NETS[0], known('r0'), undefined)).toThrow(/say which VLAN with --vlan/);
    expect(() => trunkTowards(NETS[0], known('r0'), 103)).toThrow(/is not on n\/r0's trunk port/);
    expect(trunkTowards(NETS[0], known('r0'), 100)).toBe(100);
    expect(() => parseVlanOption('4095')).toThrow(/is not a VLAN/);
  });
});
