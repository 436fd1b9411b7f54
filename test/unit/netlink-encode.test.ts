// The rtnetlink messages of src/veth/netlink.ts, byte for byte. The expected bytes are written
// out by hand from the kernel's uapi structs (nlmsghdr 16 bytes, ifinfomsg 16, ifaddrmsg 8,
// rtmsg 12, rtattr 4 + payload padded to 4); little-endian host, like every machine we build for.
import { describe, expect, it } from 'vitest';
import {
  addrAdd,
  addrAddWords,
  align4,
  arpNotifyOn,
  attr,
  describeErrno,
  linkDel,
  linkGet,
  linkSetAddress,
  linkUpByIndex,
  linkUpByName,
  message,
  nest,
  parseMac,
  parseReply,
  ipBytes,
  ipOfBytes,
  routeAdd,
  routeAddWords,
  sockaddrNl,
  stringAttr,
  u32Attr,
  vethAdd,
} from '../../src/veth/netlink';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

interface Tlv {
  type: number;
  payload: Uint8Array;
}
/** Walk a run of attributes, checking lengths and 4-byte padding as the kernel would. */
function tlvs(area: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  const view = new DataView(area.buffer, area.byteOffset, area.length);
  let off = 0;
  while (off < area.length) {
    const len = view.getUint16(off, true);
    expect(len).toBeGreaterThanOrEqual(4);
    expect(off + align4(len)).toBeLessThanOrEqual(area.length);
    expect(area.subarray(off + len, off + align4(len)).every((b) => b === 0)).toBe(true); // padding is zeros
    out.push({ type: view.getUint16(off + 2, true), payload: area.subarray(off + 4, off + len) });
    off += align4(len);
  }
  expect(off).toBe(area.length);
  return out;
}
const get = (list: Tlv[], type: number) => {
  const found = list.filter((t) => t.type === type);
  expect(found).toHaveLength(1);
  return found[0].payload;
};
const u32le = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.length).getUint32(0, true);
const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

describe('attributes', () => {
  it('pads the payload to 4 bytes but counts only the real length', () => {
    expect(hex(attr(7, bytes('aabbcc')))).toBe('0700' + '0700' + 'aabbcc' + '00');
    expect(hex(attr(7, bytes('aabbccdd')))).toBe('0800' + '0700' + 'aabbccdd');
    expect(hex(attr(7, new Uint8Array(0)))).toBe('0400' + '0700');
    expect(hex(u32Attr(4, 1500))).toBe('0800' + '0400' + 'dc050000');
    expect(hex(stringAttr(3, 'eth1'))).toBe('0900' + '0300' + '6574683100' + '000000'); // NUL, then padding
  });

  it('nests: the outer length covers the padded children', () => {
    const n = nest(18, [stringAttr(1, 'veth'), u32Attr(2, 1)]);
    expect(hex(n)).toBe('1800' + '1200' + '0900' + '0100' + '7665746800' + '000000' + '0800' + '0200' + '01000000');
    expect(n.length % 4).toBe(0);
  });

  it('frames a message with its total length, type, flags and sequence', () => {
    const m = message(0x1234, 0x0605, 0xdeadbeef, bytes('01020304'), [u32Attr(1, 2)]);
    expect(hex(m)).toBe(
      '1c000000' + '3412' + '0506' + 'efbeadde' + '00000000' + '01020304' + '0800' + '0100' + '02000000',
    );
  });

  it('sockaddr_nl: AF_NETLINK, pid 0, no groups', () => {
    expect(hex(sockaddrNl())).toBe('1000' + '0000' + '00000000' + '00000000');
  });
});

describe('link messages', () => {
  it('ip link set NAME up: RTM_NEWLINK, ifi_flags and ifi_change IFF_UP, found by IFLA_IFNAME', () => {
    expect(hex(linkUpByName(7, 'eth1'))).toBe(
      '2c000000' +
        '1000' +
        '0500' +
        '07000000' +
        '00000000' + // len 44, RTM_NEWLINK, REQUEST|ACK, seq 7, pid 0
        '00' +
        '00' +
        '0000' +
        '00000000' +
        '01000000' +
        '01000000' + // ifinfomsg: AF_UNSPEC, index 0, flags/change IFF_UP
        '0900' +
        '0300' +
        '6574683100' +
        '000000', // IFLA_IFNAME "eth1\0"
    );
  });

  it('ip link set dev up by index: no attributes', () => {
    expect(hex(linkUpByIndex(8, 5))).toBe(
      '20000000' + '1000' + '0500' + '08000000' + '00000000' + '00000000' + '05000000' + '01000000' + '01000000',
    );
  });

  it('arp_notify=1 by index: IFLA_AF_SPEC > AF_INET > IFLA_INET_CONF > devconf 22 (ARP_NOTIFY) = 1', () => {
    expect(hex(arpNotifyOn(11, 6))).toBe(
      '34000000' + // 16 + 16 + 20
        '1000' + // RTM_NEWLINK
        '0500' + // REQUEST | ACK: a change of an existing link, no CREATE
        '0b000000' +
        '00000000' +
        '00000000' + // AF_UNSPEC, pad, ifi_type
        '06000000' + // ifi_index
        '00000000' + // ifi_flags: none changed
        '00000000' + // ifi_change
        '1400' + // IFLA_AF_SPEC, 4 + 16
        '1a00' +
        '1000' + // AF_INET, 4 + 12
        '0200' +
        '0c00' + // IFLA_INET_CONF, 4 + 8
        '0100' +
        '0800' + // IPV4_DEVCONF_ARP_NOTIFY
        '1600' +
        '01000000',
    );
  });

  it('ip link set dev NAME address MAC: the link by name, IFLA_ADDRESS the six bytes', () => {
    const m = linkSetAddress(12, 'net1', '0A:58:0a:d4:00:02');
    expect(hex(m.subarray(4, 8))).toBe('1000' + '0500'); // RTM_NEWLINK, REQUEST | ACK
    expect(hex(m.subarray(16, 32))).toBe('00'.repeat(16)); // index 0, flags untouched: found by name
    const attrs = tlvs(m.subarray(32));
    expect(text(get(attrs, 3))).toBe('net1\0');
    expect(hex(get(attrs, 1))).toBe('0a580ad40002');
    expect(() => linkSetAddress(12, 'net1', '0a:58:0a:d4:00')).toThrow(/invalid MAC/);
  });

  it('ip link del NAME: RTM_DELLINK with the name; the lookup: RTM_GETLINK without ACK', () => {
    expect(hex(linkDel(9, 'pv0123456789abc'))).toBe(
      '34000000' +
        '1100' +
        '0500' +
        '09000000' +
        '00000000' +
        '00'.repeat(16) +
        '1400' +
        '0300' +
        Buffer.from('pv0123456789abc\0').toString('hex'), // 15 chars + NUL = 16, no padding
    );
    const g = linkGet(10, 'eth1');
    expect(hex(g.subarray(4, 8))).toBe('1200' + '0100'); // RTM_GETLINK, REQUEST only
  });

  it('veth: host name and MTU outside, the peer (ifinfomsg + name, MTU, MAC, netns fd) in LINKINFO/DATA/PEER', () => {
    const spec = { hostName: 'pvaaaaaaaaaaaaa', podName: 'eth1', mac: '0a:58:0a:14:01:0a', mtu: 1400, netnsFd: 42 };
    const m = vethAdd(3, spec);
    const view = new DataView(m.buffer);
    expect(view.getUint32(0, true)).toBe(m.length);
    expect(m.length).toBe(140); // 16 + 16 + name 20 + mtu 8 + linkinfo (4 + kind 12 + data (4 + peer (4 + 16 + 12 + 8 + 12 + 8)))
    expect(view.getUint16(4, true)).toBe(16); // RTM_NEWLINK
    expect(view.getUint16(6, true)).toBe(0x605); // REQUEST|ACK|EXCL|CREATE
    expect(view.getUint32(8, true)).toBe(3);
    expect(hex(m.subarray(16, 32))).toBe('00'.repeat(16));
    const top = tlvs(m.subarray(32));
    expect(top.map((t) => t.type)).toEqual([3, 4, 18]);
    expect(text(get(top, 3))).toBe('pvaaaaaaaaaaaaa\0');
    expect(u32le(get(top, 4))).toBe(1400);
    const linkinfo = tlvs(get(top, 18));
    expect(text(get(linkinfo, 1))).toBe('veth\0'); // IFLA_INFO_KIND
    const data = tlvs(get(linkinfo, 2)); // IFLA_INFO_DATA
    const peer = get(data, 1); // VETH_INFO_PEER: an ifinfomsg, then attributes
    expect(hex(peer.subarray(0, 16))).toBe('00'.repeat(16));
    const peerAttrs = tlvs(peer.subarray(16));
    expect(peerAttrs.map((t) => t.type)).toEqual([3, 4, 1, 28]);
    expect(text(get(peerAttrs, 3))).toBe('eth1\0');
    expect(u32le(get(peerAttrs, 4))).toBe(1400);
    expect(hex(get(peerAttrs, 1))).toBe('0a580a14010a'); // IFLA_ADDRESS: 6 bytes, padded to 8 in the run
    expect(u32le(get(peerAttrs, 28))).toBe(42); // IFLA_NET_NS_FD, not IFLA_NET_NS_PID (19)
  });

  it('refuses names the kernel would refuse, and bad MACs', () => {
    expect(() => linkUpByName(1, 'much-too-long-name')).toThrow(/invalid interface name/);
    expect(() => linkDel(1, 'a b')).toThrow(/invalid interface name/);
    expect(() => parseMac('0a:58:0a:14:01')).toThrow(/invalid MAC/);
    expect(hex(parseMac('0A:58:ff:00:01:0a'))).toBe('0a58ff00010a');
  });
});

describe('address and route messages', () => {
  it('ip addr add 10.20.1.10/16 dev #3: ifaddrmsg, IFA_LOCAL and IFA_ADDRESS in network order', () => {
    expect(hex(addrAdd(4, 3, '10.20.1.10/16'))).toBe(
      '28000000' +
        '1400' +
        '0506' +
        '04000000' +
        '00000000' + // len 40, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE
        '02' +
        '10' +
        '00' +
        '00' +
        '03000000' + // AF_INET, /16, flags 0, scope global, index 3
        '0800' +
        '0200' +
        '0a14010a' + // IFA_LOCAL
        '0800' +
        '0100' +
        '0a14010a', // IFA_ADDRESS
    );
  });

  it('ip route add 10.99.0.0/16 via 192.168.77.1 dev #2: main table, proto boot, scope universe, unicast', () => {
    expect(hex(routeAdd(5, 2, '10.99.0.0/16', '192.168.77.1'))).toBe(
      '34000000' +
        '1800' +
        '0506' +
        '05000000' +
        '00000000' + // len 52, RTM_NEWROUTE
        '02' +
        '10' +
        '00' +
        '00' +
        'fe' +
        '03' +
        '00' +
        '01' +
        '00000000' + // rtmsg
        '0800' +
        '0100' +
        '0a630000' + // RTA_DST
        '0800' +
        '0500' +
        'c0a84d01' + // RTA_GATEWAY
        '0800' +
        '0400' +
        '02000000', // RTA_OIF
    );
  });

  // The bodies below are what iproute2 6.x sent for the same commands (strace -xx of sendmsg).
  it('ip addr add fd00:99::1/64 dev #3 nodad: AF_INET6, IFA_F_NODAD in ifa_flags, 16-byte addresses', () => {
    const m = addrAdd(4, 3, 'fd00:99::1/64');
    expect(hex(m.subarray(0, 16))).toBe('40000000' + '1400' + '0506' + '04000000' + '00000000');
    expect(hex(m.subarray(16))).toBe(
      '0a' +
        '40' +
        '02' +
        '00' +
        '03000000' + // AF_INET6, /64, IFA_F_NODAD, scope 0, index 3
        '1400' +
        '0200' +
        'fd000099000000000000000000000001' + // IFA_LOCAL
        '1400' +
        '0100' +
        'fd000099000000000000000000000001', // IFA_ADDRESS
    );
    expect(addrAddWords('fd00:99::1/64', 'net1')).toEqual(['addr', 'add', 'fd00:99::1/64', 'dev', 'net1', 'nodad']);
    expect(addrAddWords('10.20.1.10/16', 'net1')).toEqual(['addr', 'add', '10.20.1.10/16', 'dev', 'net1']);
  });

  it('ip route add fd00:98::/64 via fd00:99::fe dev #3: AF_INET6, a 16-byte gateway', () => {
    expect(hex(routeAdd(5, 3, 'fd00:98::/64', 'fd00:99::fe').subarray(16))).toBe(
      '0a' +
        '40' +
        '00' +
        '00' +
        'fe' +
        '03' +
        '00' +
        '01' +
        '00000000' + // rtmsg
        '1400' +
        '0100' +
        'fd000098000000000000000000000000' + // RTA_DST
        '1400' +
        '0500' +
        'fd0000990000000000000000000000fe' + // RTA_GATEWAY
        '0800' +
        '0400' +
        '03000000', // RTA_OIF
    );
    expect(() => routeAdd(5, 3, 'fd00:98::/64', '10.0.0.1')).toThrow(/mixed families/);
    expect(routeAddWords('::/0', 'fd00::1', 'net1')).toEqual(['route', 'add', '::/0', 'via', 'fd00::1', 'dev', 'net1']);
  });

  it('addresses as netlink carries them: 4 or 16 bytes, network order, and back', () => {
    const v6 = { family: 6 as const, value: 0xfd000099000000000000000000abcdefn };
    expect(hex(ipBytes(v6))).toBe('fd000099000000000000000000abcdef');
    expect(ipOfBytes(ipBytes(v6))).toEqual(v6);
    expect(hex(ipBytes({ family: 4, value: 0x0a14010an }))).toBe('0a14010a');
    expect(ipOfBytes(bytes('0a14010a'))).toEqual({ family: 4, value: 0x0a14010an });
    expect(ipOfBytes(bytes('0a1401'))).toBeUndefined();
  });

  it('a route without a gateway gets scope link, as ip gives it', () => {
    const m = routeAdd(6, 2, '10.40.0.0/24');
    expect(m.length).toBe(16 + 12 + 8 + 8);
    expect(hex(m.subarray(16, 28))).toBe('02' + '18' + '00' + '00' + 'fe' + '03' + 'fd' + '01' + '00000000');
    expect(tlvs(m.subarray(28)).map((t) => t.type)).toEqual([1, 4]);
  });
});

describe('replies', () => {
  const header = (len: number, type: number, flags: number, seq: number) => {
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    v.setUint32(0, len, true);
    v.setUint16(4, type, true);
    v.setUint16(6, flags, true);
    v.setUint32(8, seq, true);
    return b;
  };
  const int32 = (n: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, n, true);
    return b;
  };
  const join = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

  it('an ACK is an NLMSG_ERROR with error 0', () => {
    const ack = join(header(36, 2, 0x100, 11), int32(0), header(44, 16, 5, 11));
    expect(parseReply(ack, ack.length, 11)).toEqual({ kind: 'ack' });
  });

  it('an error carries the negative errno and, with extended ACK, the kernel text', () => {
    const msg = stringAttr(1, 'Nexthop has invalid gateway'); // NLMSGERR_ATTR_MSG
    const capped = join(header(36 + msg.length, 2, 0x100 | 0x200, 12), int32(-101), header(52, 24, 0x605, 12), msg);
    expect(parseReply(capped, capped.length, 12)).toEqual({
      kind: 'error',
      errno: 101,
      detail: 'Nexthop has invalid gateway',
    });
    // Not capped: the whole request is echoed before the attributes.
    const request = routeAdd(12, 2, '10.99.0.0/16', '192.168.77.1');
    const whole = join(header(20 + request.length + msg.length, 2, 0x200, 12), int32(-101), request, msg);
    expect(parseReply(whole, whole.length, 12)).toEqual({
      kind: 'error',
      errno: 101,
      detail: 'Nexthop has invalid gateway',
    });
    const plain = join(header(36, 2, 0x100, 13), int32(-17), header(44, 16, 0x605, 13));
    expect(parseReply(plain, plain.length, 13)).toEqual({ kind: 'error', errno: 17 });
  });

  it('a link reply gives the index; other sequence numbers are skipped, in one datagram or not', () => {
    const link = join(header(32, 16, 0, 21), bytes('00000100' + '07000000' + '43100100' + '00000000'));
    expect(parseReply(link, link.length, 21)).toEqual({ kind: 'link', index: 7 });
    expect(parseReply(link, link.length, 22)).toBeUndefined();
    const late = join(header(36, 2, 0x100, 20), int32(-19), header(44, 16, 5, 20));
    const both = join(late, link);
    expect(parseReply(both, both.length, 21)).toEqual({ kind: 'link', index: 7 });
    expect(parseReply(both, both.length, 20)).toEqual({ kind: 'error', errno: 19 });
    expect(parseReply(both, 40, 21)).toBeUndefined(); // only the bytes received count
  });

  it('names errno values for messages', () => {
    expect(describeErrno(101)).toBe('Network is unreachable (ENETUNREACH)');
    expect(describeErrno(17)).toBe('File exists (EEXIST)');
    expect(describeErrno(250)).toBe('errno 250');
  });
});
