import { describe, expect, it } from 'vitest';
import {
  b64,
  cmp,
  decodeKv,
  decodeOpResponse,
  encodeCompare,
  encodeOp,
  int64,
  op,
  prefixEnd,
  unb64,
} from '../../src/etcd/client';

describe('etcd JSON gateway encoding', () => {
  it('base64-encodes keys and values as UTF-8 and back', () => {
    expect(b64('/podvlan/ipam/n/ip/10.0.0.2')).toBe(Buffer.from('/podvlan/ipam/n/ip/10.0.0.2').toString('base64'));
    for (const text of ['', 'a', '☃ snow', '{"pod":"x"}', '\n\0\u00ff']) expect(unb64(b64(text))).toBe(text);
    expect(unb64(undefined)).toBe('');
  });

  it('computes the range end of a prefix: last byte + 1, carrying over 0xff', () => {
    expect(prefixEnd('/podvlan/ipam/n/ip/').toString()).toBe('/podvlan/ipam/n/ip0');
    expect(prefixEnd('a')).toEqual(Buffer.from('b'));
    expect(prefixEnd('a\u00ff')).toEqual(Buffer.from([0x61, 0xc3, 0xc0])); // ÿ is c3 bf in UTF-8
    expect(prefixEnd(Buffer.from([0x61, 0xff]).toString('latin1'))).toEqual(Buffer.from([0x61, 0xc3, 0xc0]));
    expect(prefixEnd('')).toEqual(Buffer.from([0]));
  });

  it('reads int64 strings, and missing fields as 0', () => {
    expect(int64('42')).toBe(42);
    expect(int64(undefined)).toBe(0);
    expect(int64('')).toBe(0);
    expect(decodeKv({ key: b64('k'), create_revision: '5', mod_revision: '7', version: '3', value: b64('v') })).toEqual(
      { key: 'k', value: 'v', createRevision: 5, modRevision: 7, version: 3 },
    );
    expect(decodeKv({ key: b64('k') })).toEqual({ key: 'k', value: '', createRevision: 0, modRevision: 0, version: 0 });
  });

  it('encodes compares with the field the target names', () => {
    expect(encodeCompare(cmp.absent('k'))).toEqual({
      key: b64('k'),
      target: 'CREATE',
      result: 'EQUAL',
      create_revision: '0',
    });
    expect(encodeCompare(cmp.modRevision('k', 12))).toEqual({
      key: b64('k'),
      target: 'MOD',
      result: 'EQUAL',
      mod_revision: '12',
    });
    expect(encodeCompare(cmp.createRevision('k', 3, 'LESS'))).toEqual({
      key: b64('k'),
      target: 'CREATE',
      result: 'LESS',
      create_revision: '3',
    });
    expect(encodeCompare(cmp.version('k', 1, 'GREATER'))).toEqual({
      key: b64('k'),
      target: 'VERSION',
      result: 'GREATER',
      version: '1',
    });
    expect(encodeCompare(cmp.value('k', 'v', 'NOT_EQUAL'))).toEqual({
      key: b64('k'),
      target: 'VALUE',
      result: 'NOT_EQUAL',
      value: b64('v'),
    });
    expect(encodeCompare(cmp.noneUnder('/m/'))).toEqual({
      key: b64('/m/'),
      range_end: b64('/m0'),
      target: 'CREATE',
      result: 'EQUAL',
      create_revision: '0',
    });
  });

  it('encodes ops and decodes their responses', () => {
    expect(encodeOp(op.put('k', 'v'))).toEqual({ request_put: { key: b64('k'), value: b64('v') } });
    expect(encodeOp(op.delete('k'))).toEqual({ request_delete_range: { key: b64('k') } });
    expect(encodeOp(op.deletePrefix('/a/'))).toEqual({
      request_delete_range: { key: b64('/a/'), range_end: b64('/a0') },
    });
    expect(encodeOp(op.range('k'))).toEqual({ request_range: { key: b64('k') } });
    expect(encodeOp(op.rangePrefix('/a/', { keysOnly: true }))).toEqual({
      request_range: { key: b64('/a/'), range_end: b64('/a0'), keys_only: true },
    });
    expect(encodeOp(op.rangePrefix('/a/', { countOnly: true }))).toEqual({
      request_range: { key: b64('/a/'), range_end: b64('/a0'), count_only: true },
    });
    expect(decodeOpResponse({ response_put: { header: {} } }, op.put('k', 'v'))).toEqual({ type: 'put' });
    expect(decodeOpResponse({ response_delete_range: { deleted: '2' } }, op.delete('k'))).toEqual({
      type: 'delete',
      deleted: 2,
    });
    expect(decodeOpResponse({ response_delete_range: {} }, op.delete('k'))).toEqual({ type: 'delete', deleted: 0 });
    expect(decodeOpResponse({ response_range: {} }, op.range('k'))).toEqual({ type: 'range', kvs: [], count: 0 });
    expect(
      decodeOpResponse(
        {
          response_range: {
            kvs: [{ key: b64('k'), value: b64('v'), create_revision: '2', mod_revision: '2', version: '1' }],
            count: '1',
          },
        },
        op.range('k'),
      ),
    ).toEqual({
      type: 'range',
      count: 1,
      kvs: [{ key: 'k', value: 'v', createRevision: 2, modRevision: 2, version: 1 }],
    });
  });
});
