// The unixctl answers' parsers on texts captured from a real ovs-vswitchd 3.1 (userspace datapath):
// bridge br0 with access ports pva, pvb (VLAN 22), pvc (VLAN 33), trunk trk (22, 33); dpif/show
// there numbers br0 1, pvc 2, pva 3, trk 4, pvb 5.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseActions, parseDpifShow, parseFdbShow, parseTrace } from '../../src/ovs/trace-parse';

const fixture = (name: string) => readFileSync(join(__dirname, 'fixtures/trace', name), 'utf8');

describe('ofproto/trace', () => {
  it('a learned unicast destination: one untagged output', () => {
    const t = parseTrace(fixture('unicast.txt'));
    expect(t).toMatchObject({ actions: '5', drop: false, outputs: [{ port: 5 }], pushedVlans: [], rule: 'priority 0' });
    expect(t.outputs[0].vlan).toBeUndefined();
  });

  it('flooding in VLAN 22: tagged to the bridge port and the trunk, untagged to the other access port', () => {
    const t = parseTrace(fixture('flood.txt'));
    expect(t.outputs).toEqual([{ port: 1, vlan: 22 }, { port: 5 }, { port: 4, vlan: 22 }]);
    expect(t.pushedVlans).toEqual([22, 22]);
    expect(t.drop).toBe(false);
  });

  it('a port moved to VLAN 33 floods there, never reaching VLAN 22 port 5', () => {
    const t = parseTrace(fixture('tag-changed.txt'));
    expect(t.outputs.map((o) => o.port)).not.toContain(5);
    expect(t.pushedVlans).toEqual([33]);
  });

  it('a port without a tag (a trunk of every VLAN) sends untagged frames to VLAN 0 only', () => {
    expect(parseTrace(fixture('tag-cleared.txt')).outputs).toEqual([{ port: 1 }]);
  });

  it('a trunk that lacks the VLAN is skipped silently: no push_vlan to it', () => {
    const withTrunk = parseTrace(fixture('broadcast-trunk.txt'));
    const without = parseTrace(fixture('broadcast-trunk-without-vlan.txt'));
    expect(withTrunk.outputs).toContainEqual({ port: 4, vlan: 22 });
    expect(without.outputs.map((o) => o.port)).not.toContain(4);
  });

  it('a drop flow: drop, and the rule that matched', () => {
    const t = parseTrace(fixture('drop-flow.txt'));
    expect(t).toMatchObject({ actions: 'drop', drop: true, outputs: [], rule: 'in_port=2, priority 100' });
  });

  it("a tagged frame on an access port: drop, with NORMAL's reason", () => {
    const t = parseTrace(fixture('tagged-on-access.txt'));
    expect(t.drop).toBe(true);
    expect(t.notes[0]).toMatch(/dropping VLAN 22 tagged packet received on port pva configured as VLAN 22 access port/);
  });

  it('a text without the actions line is refused', () => {
    expect(() => parseTrace(fixture('bad-port.txt'))).toThrow(/no "Datapath actions:" line: Bad openflow flow syntax/);
  });

  it('actions it does not model are kept aside; nested parentheses stay whole', () => {
    const a = parseActions(
      'ct(commit,zone=5,nat(src=10.0.0.1)),recirc(0x1),push_vlan(vid=7,pcp=0),3,pop_vlan,pop_vlan,2',
    );
    expect(a.other).toEqual(['ct(commit,zone=5,nat(src=10.0.0.1))', 'recirc(0x1)']);
    expect(a.outputs).toEqual([{ port: 3, vlan: 7 }, { port: 2 }]);
    expect(parseActions('').outputs).toEqual([]);
  });
});

describe('dpif/show and fdb/show', () => {
  it('maps datapath port numbers to names per bridge', () => {
    const ports = parseDpifShow(fixture('dpif-show.txt'));
    expect([...ports.keys()]).toEqual(['br0', 'br1']);
    expect(ports.get('br0')?.get(5)).toEqual({ name: 'pvb', ofport: 4 });
    expect(ports.get('br0')?.get(1)).toEqual({ name: 'br0', ofport: 65534 });
    expect(ports.get('br1')?.get(6)).toEqual({ name: 'br1', ofport: 65534 });
  });

  it('reads the learned MACs with port, VLAN and age', () => {
    const fdb = parseFdbShow(fixture('fdb-show.txt'));
    expect(fdb).toHaveLength(3);
    expect(fdb[2]).toEqual({ port: 2, vlan: 22, mac: 'b2:03:8e:77:44:35', age: 0 });
  });
});
