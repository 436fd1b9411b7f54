import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors';
import { vlanFor } from '../../src/ipam/vlan';

const fromName = { fromPodName: '^(\\d+)-' };

describe('vlanFor', () => {
  it('returns a fixed id whatever the pod name', () => {
    expect(vlanFor({ id: 7 }, 'nginx', 'n')).toBe(7);
    expect(vlanFor({ id: 4094 }, '22-x', 'n')).toBe(4094);
  });

  it.each([
    ['22-my-nginx', 22],
    ['1-x', 1],
    ['4094-x', 4094],
    ['007-x', 7],
  ])('reads %s -> %i from the pod name', (pod, tag) => {
    expect(vlanFor(fromName, pod, 'vlannet')).toBe(tag);
  });

  it('throws InvalidInputError naming the network when the name carries no VLAN', () => {
    expect(() => vlanFor(fromName, 'nginx', 'vlannet')).toThrow(InvalidInputError);
    expect(() => vlanFor(fromName, 'nginx', 'vlannet')).toThrow(/no VLAN for network vlannet/);
  });

  it.each(['0-x', '4095-x', '5000-x', '123456-x'])('throws InvalidInputError for out-of-range %s', (pod) => {
    expect(() => vlanFor(fromName, pod, 'vlannet')).toThrow(InvalidInputError);
    expect(() => vlanFor(fromName, pod, 'vlannet')).toThrow(/outside 1-4094/);
  });

  it('uses the first group that matched', () => {
    const src = { fromPodName: '^(?:(\\d+)-|vlan(\\d+)\\.)' };
    expect(vlanFor(src, '30-a', 'n')).toBe(30);
    expect(vlanFor(src, 'vlan31.a', 'n')).toBe(31);
  });

  it('rejects a captured group that is not a number', () => {
    expect(() => vlanFor({ fromPodName: '^([a-z]+)-' }, 'abc-x', 'n')).toThrow(InvalidInputError);
  });
});
