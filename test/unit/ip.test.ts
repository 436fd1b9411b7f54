import { describe, expect, it } from 'vitest';
import {
  canonicalIp,
  formatIp,
  formatIpPrefix,
  lastOf,
  parseIp,
  parseIpPrefix,
  poolHostRange,
  prefixContains,
} from '../../src/ipam/ip';

describe('ip (both families)', () => {
  it('parses and formats IPv6 in RFC 5952 form', () => {
    expect(canonicalIp('FD00:0020:0000:0000:0000:0000:0000:0005')).toBe('fd00:20::5');
    expect(canonicalIp('::')).toBe('::');
    expect(canonicalIp('::1')).toBe('::1');
    expect(canonicalIp('fe80::')).toBe('fe80::');
    expect(canonicalIp('1:0:0:2:0:0:0:3')).toBe('1:0:0:2::3');
    expect(canonicalIp('1:0:2:3:4:5:6:7')).toBe('1:0:2:3:4:5:6:7'); // one zero group is not "::"
    expect(canonicalIp('::ffff:10.0.0.1')).toBe('::ffff:a00:1');
    expect(canonicalIp('10.20.0.5')).toBe('10.20.0.5');
    expect(parseIp('fd00::1').family).toBe(6);
    expect(parseIp('10.0.0.1')).toEqual({ family: 4, value: 0x0a000001n });
  });

  it('refuses what is not an address', () => {
    for (const bad of ['1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '1:2:3:4:5:6:7', ':1', '1:', '::1.2.3']) {
      expect(() => parseIp(bad), bad).toThrow(/invalid/);
    }
    expect(() => parseIp('1:2:3:4:5:6:7::8')).toThrow(/invalid/); // "::" must stand for at least one group
    expect(() => parseIpPrefix('fd00::/129')).toThrow(/IPv6 prefix/);
    expect(() => parseIpPrefix('fd00::/064')).toThrow(/prefix/);
    expect(() => parseIpPrefix('10.0.0.0/33')).toThrow(/IPv4 prefix/);
  });

  it('does prefix arithmetic in both families', () => {
    const p6 = parseIpPrefix('fd00:20::7/64');
    expect(formatIp(lastOf(p6))).toBe('fd00:20::ffff:ffff:ffff:ffff');
    expect(poolHostRange(p6).map(formatIp)).toEqual(['fd00:20::1', 'fd00:20::ffff:ffff:ffff:ffff']);
    expect(poolHostRange(parseIpPrefix('10.0.0.0/24')).map(formatIp)).toEqual(['10.0.0.1', '10.0.0.254']);
    expect(prefixContains(p6, parseIp('fd00:20::abcd'))).toBe(true);
    expect(prefixContains(p6, parseIp('fd00:21::1'))).toBe(false);
    expect(prefixContains(p6, parseIp('10.0.0.1'))).toBe(false);
    expect(formatIpPrefix(parseIpPrefix('FD00::1/64'))).toBe('fd00::1/64');
  });
});
