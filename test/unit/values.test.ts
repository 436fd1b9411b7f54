import { describe, expect, it } from 'vitest';
import {
  decodeOptional,
  decodeSet,
  decodeStringMap,
  decodeUuid,
  map,
  namedUuid,
  set,
  uuid,
} from '../../src/ovs/values';

describe('decodeSet', () => {
  it('wraps a bare atom (a set of one) in an array', () => {
    expect(decodeSet('eth1')).toEqual(['eth1']);
    expect(decodeSet(42)).toEqual([42]);
    expect(decodeSet(['uuid', 'u1'])).toEqual([['uuid', 'u1']]);
  });
  it('unwraps ["set", [...]]', () => {
    expect(decodeSet(['set', [1, 2, 3]])).toEqual([1, 2, 3]);
    expect(
      decodeSet([
        'set',
        [
          ['uuid', 'a'],
          ['uuid', 'b'],
        ],
      ]),
    ).toEqual([
      ['uuid', 'a'],
      ['uuid', 'b'],
    ]);
  });
  it('decodes the empty set as []', () => {
    expect(decodeSet(['set', []])).toEqual([]);
  });
});

describe('decodeOptional', () => {
  it('is undefined for the empty set', () => {
    expect(decodeOptional(['set', []])).toBeUndefined();
  });
  it('returns the atom, bare or in a set of one, including falsy atoms', () => {
    expect(decodeOptional(22)).toBe(22);
    expect(decodeOptional(['set', [22]])).toBe(22);
    expect(decodeOptional(0)).toBe(0);
    expect(decodeOptional(false)).toBe(false);
    expect(decodeOptional('')).toBe('');
  });
});

describe('decodeStringMap', () => {
  it('decodes a map, stringifying keys and values', () => {
    expect(
      decodeStringMap([
        'map',
        [
          ['a', 'b'],
          ['n', 1],
          ['t', true],
        ],
      ]),
    ).toEqual({ a: 'b', n: '1', t: 'true' });
    expect(decodeStringMap(['map', []])).toEqual({});
  });
  it.each([['x'], [['set', []]], [{}], [null], [['map']]])('throws on a non-map %j', (v) => {
    expect(() => decodeStringMap(v)).toThrow(/expected an OVSDB map/);
  });
});

describe('decodeUuid', () => {
  it('returns the id of ["uuid", id]', () => {
    expect(decodeUuid(['uuid', '3f6c0a9e-0000-4000-8000-000000000001'])).toBe('3f6c0a9e-0000-4000-8000-000000000001');
  });
  it.each([['abc'], [['named-uuid', 'row1']], [['uuid', 5]], [['set', []]], [['uuid']]])('throws on %j', (v) => {
    expect(() => decodeUuid(v)).toThrow(/expected an OVSDB uuid/);
  });
});

describe('encoders', () => {
  it('encode maps, sets and uuids in OVSDB notation', () => {
    expect(map({ 'podvlan/managed': 'true', b: 'x' })).toEqual([
      'map',
      [
        ['podvlan/managed', 'true'],
        ['b', 'x'],
      ],
    ]);
    expect(map({})).toEqual(['map', []]);
    expect(set([])).toEqual(['set', []]);
    expect(set([uuid('u1'), namedUuid('row')])).toEqual([
      'set',
      [
        ['uuid', 'u1'],
        ['named-uuid', 'row'],
      ],
    ]);
  });
  it('round-trip through the decoders', () => {
    const m = { a: '1', 'podvlan/ip': '10.0.0.2/24' };
    expect(decodeStringMap(map(m))).toEqual(m);
    expect(decodeSet(set(['x', 'y']))).toEqual(['x', 'y']);
    expect(decodeUuid(uuid('u9'))).toBe('u9');
  });
});
