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

// The same veth with IPv6 (fixtures/netlink/pod-answers-v6.json): fd00:a1::2/64 nodad,
// fd00:a1::99/64 still tentative, the peer fd00:a1::1 pinged just before, a route to
// fd00:a9::/64 via the peer, no route to 2001:db8::/32; for -dadfailed, fd00:a1::1/64 added too
// (the peer has it) and DAD run to its end.
const answers6 = JSON.parse(readFileSync(join(__dirname, 'fixtures/netlink/pod-answers-v6.json'), 'utf8')) as Record<
  string,
  string[]
>;
const messages6 = (name: string) =>
  answers6[name].flatMap((h) => splitMessages(Uint8Array.from(Buffer.from(h, 'hex'))));

describe('IPv6 answers of a real kernel', () => {
  it('an IPv6 address dump: RFC 5952 text, tentative marked, link-local and ::1 included', () => {
    expect(messages6('addr-dump-6').map(parseAddr).filter(Boolean)).toEqual([
      { index: 1, address: '::1/128' },
      { index: 2, address: 'fd00:a1::99/64', tentative: true },
      { index: 2, address: 'fd00:a1::2/64' },
      { index: 2, address: 'fe80::858:aff:feda:2/64', tentative: true },
    ]);
    expect(messages6('addr-dump-6-dadfailed').map(parseAddr)).toContainEqual({
      index: 2,
      address: 'fd00:a1::1/64',
      tentative: true,
      dadFailed: true,
    });
  });

  it('a dump of both families: the IPv4 address as before, then the IPv6 ones', () => {
    const both = messages6('addr-dump-both')
      .map(parseAddr)
      .filter((a) => a?.index === 2)
      .map((a) => a!.address);
    expect(both).toEqual(['10.218.0.2/24', 'fd00:a1::99/64', 'fd00:a1::2/64', 'fe80::858:aff:feda:2/64']);
  });

  it("the kernel's IPv6 routes: on-link to the peer from our address, via the gateway, none to 2001:db8::", () => {
    expect(parseRoute(messages6('route-get-6')[0])).toEqual({ type: 'unicast', oif: 2, prefsrc: 'fd00:a1::2' });
    expect(parseRoute(messages6('route-get-6-via')[0])).toEqual({
      type: 'unicast',
      oif: 2,
      gateway: 'fd00:a1::1',
      prefsrc: 'fd00:a1::2',
    });
    expect(errnoOf(messages6('route-unreachable-6')[0])).toBe(101); // ENETUNREACH
    expect(parseRoute(messages6('receive-ok-6')[0])?.type).toBe('local');
  });

  it('the NDP entry of the pinged peer, and none for an unknown one (ENOENT)', () => {
    const n = parseNeigh(messages6('neigh-6')[0]);
    expect(n?.mac).toBe('0a:58:0a:da:00:01');
    expect(['REACHABLE', 'STALE', 'DELAY']).toContain(n?.state);
    expect(errnoOf(messages6('neigh-missing-6')[0])).toBe(2);
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

  it('IPv6 requests: AF_INET6, /128, 16-byte addresses; a dump of one family or of all', () => {
    const out = routeGet(7, 'fd00:a1::1');
    expect(header(out).len).toBe(16 + 12 + 20);
    expect([...out.subarray(16, 19)]).toEqual([10, 128, 0]);
    expect(Buffer.from(out.subarray(28, 48)).toString('hex')).toBe('14000100fd0000a1000000000000000000000001');
    const input = routeGet(8, 'fd00:a1::2', { src: 'fd00:a1::1', iif: 2 });
    expect([...input.subarray(16, 19)]).toEqual([10, 128, 128]);
    expect(header(input).len).toBe(16 + 12 + 20 + 20 + 8);
    expect(() => routeGet(9, 'fd00:a1::2', { src: '10.0.0.1', iif: 2 })).toThrow(/mixed families/);
    const n = neighGet(4, 2, 'fd00:a1::1');
    expect(n[16]).toBe(10);
    expect(header(n).len).toBe(16 + 12 + 20);
    expect(addrDump(3, 6)[16]).toBe(10);
    expect(addrDump(3, 'both')[16]).toBe(0);
    expect(addrDump(3, 4)).toEqual(addrDump(3));
  });
});
