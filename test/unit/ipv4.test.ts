import { describe, expect, it } from 'vitest';
import {
  broadcastOf,
  contains,
  formatIpv4,
  formatPrefix,
  hostRange,
  macFromIpv4,
  networkOf,
  parseIpv4,
  parsePrefix,
} from '../../src/ipam/ipv4';

const ip = parseIpv4;
const range = (prefix: string) => hostRange(parsePrefix(prefix)).map(formatIpv4);

describe('parseIpv4 / formatIpv4', () => {
  it.each([
    ['0.0.0.0', 0],
    ['10.231.0.1', 10 * 2 ** 24 + 231 * 2 ** 16 + 1],
    ['192.168.1.7', 0xc0a80107],
    ['255.255.255.255', 0xffffffff],
  ])('parses %s and formats it back', (text, value) => {
    expect(parseIpv4(text)).toBe(value);
    expect(formatIpv4(value)).toBe(text);
  });
  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.0.0.1',
    '1.2.3.1000',
    '01.2.3.4',
    '1.2.3.-1',
    'a.b.c.d',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '1..3.4',
    '1.2.3.4/24',
    '0x1.2.3.4',
  ])('rejects %j', (text) => {
    expect(() => parseIpv4(text)).toThrow(/invalid IPv4 address/);
  });
});

describe('prefixes', () => {
  it('parses and formats a.b.c.d/len', () => {
    expect(parsePrefix('10.231.0.0/24')).toEqual({ address: ip('10.231.0.0'), length: 24 });
    expect(parsePrefix('0.0.0.0/0')).toEqual({ address: 0, length: 0 });
    expect(formatPrefix(parsePrefix('10.0.0.5/32'))).toBe('10.0.0.5/32');
  });
  it.each([
    '10.0.0.0',
    '10.0.0.0/33',
    '10.0.0.0/',
    '10.0.0.0/abc',
    '10.0.0.256/24',
    '10.0.0.0/24/1',
    '/24',
    '10.0.0.0/-1',
  ])('rejects %j', (text) => {
    expect(() => parsePrefix(text)).toThrow(/invalid IPv4/);
  });
  it('computes network and broadcast addresses, including high addresses', () => {
    expect(formatIpv4(networkOf(parsePrefix('10.1.2.3/24')))).toBe('10.1.2.0');
    expect(formatIpv4(broadcastOf(parsePrefix('10.1.2.3/24')))).toBe('10.1.2.255');
    expect(formatIpv4(networkOf(parsePrefix('200.1.2.3/8')))).toBe('200.0.0.0');
    expect(formatIpv4(broadcastOf(parsePrefix('200.1.2.3/8')))).toBe('200.255.255.255');
    expect(formatIpv4(broadcastOf(parsePrefix('0.0.0.0/0')))).toBe('255.255.255.255');
  });
});

describe('contains', () => {
  const net = parsePrefix('10.231.0.0/24');
  it('is true inside the prefix and false just outside', () => {
    expect(contains(net, ip('10.231.0.0'))).toBe(true);
    expect(contains(net, ip('10.231.0.255'))).toBe(true);
    expect(contains(net, ip('10.231.1.0'))).toBe(false);
    expect(contains(net, ip('10.230.255.255'))).toBe(false);
  });
  it('handles addresses above 2^31, /32 and /0', () => {
    expect(contains(parsePrefix('192.168.1.0/24'), ip('192.168.1.7'))).toBe(true);
    expect(contains(parsePrefix('192.168.1.0/24'), ip('192.168.2.7'))).toBe(false);
    expect(contains(parsePrefix('10.0.0.5/32'), ip('10.0.0.5'))).toBe(true);
    expect(contains(parsePrefix('10.0.0.5/32'), ip('10.0.0.4'))).toBe(false);
    expect(contains(parsePrefix('0.0.0.0/0'), ip('255.255.255.255'))).toBe(true);
  });
});

describe('hostRange', () => {
  it.each([
    ['10.231.0.0/24', ['10.231.0.1', '10.231.0.254']],
    ['10.231.0.77/24', ['10.231.0.1', '10.231.0.254']],
    ['10.0.0.4/30', ['10.0.0.5', '10.0.0.6']],
    ['10.0.0.4/31', ['10.0.0.4', '10.0.0.5']],
    ['10.0.0.9/32', ['10.0.0.9', '10.0.0.9']],
  ])('%s -> %j', (prefix, expected) => {
    expect(range(prefix)).toEqual(expected);
  });
});

describe('macFromIpv4', () => {
  it('derives a locally administered 0a:58 MAC from the address', () => {
    expect(macFromIpv4(ip('10.231.0.10'))).toBe('0a:58:0a:e7:00:0a');
    expect(macFromIpv4(ip('255.255.255.255'))).toBe('0a:58:ff:ff:ff:ff');
    expect(macFromIpv4(ip('0.0.0.1'))).toBe('0a:58:00:00:00:01');
  });
});
