import { describe, expect, it } from 'vitest';
import { JsonStreamSplitter } from '../../src/ovs/json-stream';

const feed = (chunks: (string | Buffer)[]): unknown[] => {
  const s = new JsonStreamSplitter();
  return chunks.flatMap((c) => s.push(typeof c === 'string' ? Buffer.from(c) : c));
};

/** Feed `text` split in two at every byte offset; each split must yield exactly `expected`. */
const everySplit = (text: string, expected: unknown[]) => {
  const buf = Buffer.from(text);
  for (let i = 0; i <= buf.length; i++) {
    expect(feed([buf.subarray(0, i), buf.subarray(i)]), `split at byte ${i}`).toEqual(expected);
  }
};

describe('JsonStreamSplitter', () => {
  const tricky = {
    id: 1,
    method: 'echo',
    params: ['}{][', 'say "hi" {', 'ends with backslash \\', { nested: [{ a: [1, { b: '}' }] }] }],
  };

  it('reassembles a message split at every byte position', () => {
    everySplit(JSON.stringify(tricky), [tricky]);
  });

  it('reassembles a message fed one byte at a time', () => {
    const buf = Buffer.from(JSON.stringify(tricky));
    expect(feed([...buf].map((b) => Buffer.from([b])))).toEqual([tricky]);
  });

  it('returns nothing until a message is complete, then the message', () => {
    const s = new JsonStreamSplitter();
    expect(s.push(Buffer.from('{"a":[1,'))).toEqual([]);
    expect(s.push(Buffer.from('2],"b":"}'))).toEqual([]);
    expect(s.push(Buffer.from('"}{"c"'))).toEqual([{ a: [1, 2], b: '}' }]);
    expect(s.push(Buffer.from(':3}'))).toEqual([{ c: 3 }]);
  });

  it('returns several messages from one chunk, in order', () => {
    expect(feed(['{"a":1}{"b":2}\n{"c":[3]}[4,5]'])).toEqual([{ a: 1 }, { b: 2 }, { c: [3] }, [4, 5]]);
  });

  it('keeps braces, brackets, quotes and escapes inside strings out of the depth count', () => {
    const text = String.raw`{"s":"}}]]","q":"a \"{\" b","bs":"\\","bq":"\\\"}"}`;
    expect(feed([text])).toEqual([{ s: '}}]]', q: 'a "{" b', bs: '\\', bq: '\\"}' }]);
    everySplit(text + text, [JSON.parse(text), JSON.parse(text)]);
  });

  it('decodes multi-byte UTF-8 characters split across chunks', () => {
    const msg = { x: 'é€😀', y: 'ok' };
    const buf = Buffer.from(JSON.stringify(msg));
    const emoji = buf.indexOf(Buffer.from('😀'));
    // Split inside the 4-byte emoji and inside the 2-byte "é" explicitly, then everywhere.
    expect(feed([buf.subarray(0, emoji + 2), buf.subarray(emoji + 2)])).toEqual([msg]);
    const e = buf.indexOf(Buffer.from('é'));
    expect(feed([buf.subarray(0, e + 1), buf.subarray(e + 1)])).toEqual([msg]);
    everySplit(JSON.stringify(msg), [msg]);
  });

  it('ignores whitespace between and around messages', () => {
    expect(feed([' \n\t{"a":1}\r\n  ', '  {"b":2}  \n'])).toEqual([{ a: 1 }, { b: 2 }]);
    everySplit(' {"a":1} \n {"b":2} ', [{ a: 1 }, { b: 2 }]);
  });

  it.each([
    ['a stray byte between messages', '{"a":1}x{"b":2}'],
    ['a leading non-JSON byte', 'hello'],
    ['an unbalanced closing brace', '}'],
    ['an extra closing brace after a message', '{"a":1}}'],
    ['invalid JSON inside braces', '{a:1}'],
    ['a trailing comma', '{"a":1,}'],
  ])('throws on %s', (_label, text) => {
    expect(() => feed([text])).toThrow();
  });

  it('throws on invalid UTF-8 inside a message', () => {
    const bad = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    expect(() => feed([bad])).toThrow();
  });
});
