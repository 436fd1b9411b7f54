// The read-side rtnetlink parsers on answers captured from a real kernel (6.18) inside a pod's
// namespace (fixtures/netlink/pod-answers.json, hex per message): eth1 a veth at 10.218.0.2/24,
// peer 10.218.0.1 pinged just before, rp_filter=1, no route to 192.0.2.0/24 or 10.218.99.0/24.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  addrDump,
  endsAnswer,
  errnoOf,
  neighGet,
  parseAddr,
  parseLink,
  parseNeigh,
  parseRoute,
  routeGet,
  splitMessages,
} from '../../src/veth/netlink-read';

const answers = JSON.parse(readFileSync(join(__dirname, 'fixtures/netlink/pod-answers.json'), 'utf8')) as Record<
  string,
  string[]
>;
const messages = (name: string) => answers[name].flatMap((h) => splitMessages(Uint8Array.from(Buffer.from(h, 'hex'))));
const one = (name: string) => messages(name)[0];

describe('answers of a real kernel', () => {
  it('a veth: index, up with carrier, MTU, MAC, its peer and kind', () => {
    expect(parseLink(one('link-eth1'))).toMatchObject({
      index: 2,
      name: 'eth1',
      up: true,
      carrier: true,
      operstate: 'up',
      noarp: false,
      mtu: 1500,
      mac: '0a:58:0a:da:00:02',
      peerIndex: 5,
      peerNetnsId: 0,
      kind: 'veth',
    });
  });

  it('no such link: ENODEV, and it ends the answer', () => {
    const m = one('link-missing');
    expect(errnoOf(m)).toBe(19);
    expect(endsAnswer(m)).toBe(true);
    expect(parseLink(m)).toBeUndefined();
  });

  it('an address dump: one message per address, then DONE', () => {
    const all = messages('addr-dump');
    expect(all.map(parseAddr).filter(Boolean)).toEqual([
      { index: 1, address: '127.0.0.1/8' },
      { index: 2, address: '10.218.0.2/24' },
    ]);
    expect(endsAnswer(all[all.length - 1])).toBe(true);
    expect(all.slice(0, -1).some(endsAnswer)).toBe(false);
  });

  it("the kernel's route to the peer: unicast out of eth1 from our address", () => {
    expect(parseRoute(one('route-get'))).toEqual({ type: 'unicast', oif: 2, prefsrc: '10.218.0.2' });
    expect(errnoOf(one('route-unreachable'))).toBe(101); // ENETUNREACH
  });

  it('the neighbour entry of the pinged peer, and none for an unknown one (ENOENT)', () => {
    const n = parseNeigh(one('neigh'));
    expect(n?.mac).toBe('0a:58:0a:da:00:01');
    expect(['REACHABLE', 'STALE', 'DELAY']).toContain(n?.state);
    expect(errnoOf(one('neigh-missing'))).toBe(2);
  });

  it('the receive path: a local route from the peer; EINVAL for an off-link source under rp_filter=1', () => {
    expect(parseRoute(one('receive-ok'))?.type).toBe('local');
    expect(errnoOf(one('receive-offlink'))).toBe(22);
  });
});

describe('requests', () => {
  const header = (bytes: Uint8Array) => {
    const v = new DataView(bytes.buffer);
    return {
      len: v.getUint32(0, true),
      type: v.getUint16(4, true),
      flags: v.getUint16(6, true),
      seq: v.getUint32(8, true),
    };
  };

  it('route get as iproute2 sends it (RTM_GETROUTE, AF_INET, /32, RTA_DST), plus RTA_SRC and RTA_IIF for the receive path', () => {
    const out = routeGet(7, '10.218.0.1');
    expect(header(out)).toEqual({ len: 36, type: 26, flags: 1, seq: 7 });
    expect([...out.subarray(16, 19)]).toEqual([2, 32, 0]);
    expect([...out.subarray(28, 36)]).toEqual([8, 0, 1, 0, 10, 218, 0, 1]);
    const input = routeGet(8, '10.218.0.2', { src: '10.218.0.1', iif: 2 });
    expect(header(input).len).toBe(52);
    expect(input[18]).toBe(32); // rtm_src_len
    expect([...input.subarray(36, 52)]).toEqual([8, 0, 2, 0, 10, 218, 0, 1, 8, 0, 3, 0, 2, 0, 0, 0]);
  });

  it('an address dump asks NLM_F_DUMP for AF_INET; a neighbour get names the interface and address', () => {
    expect(header(addrDump(3))).toEqual({ len: 24, type: 22, flags: 0x301, seq: 3 });
    const n = neighGet(4, 2, '10.218.0.1');
    expect(header(n)).toMatchObject({ len: 36, type: 30, flags: 1 });
    expect(n[16]).toBe(2);
    expect(new DataView(n.buffer).getInt32(20, true)).toBe(2);
  });
});
