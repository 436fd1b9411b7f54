// Pod record file names fit NAME_MAX (255 bytes) with their temp suffix for every valid name,
// stay readable where they can, and never collide between two pods.
import { describe, expect, it } from 'vitest';
import { podRecordName } from '../../src/state/pod-record';

const TEMP_SUFFIX = '.tmp-4194304'; // the longest pid

describe('podRecordName', () => {
  it('is <namespace>_<pod>.json for usual names', () => {
    expect(podRecordName('default', 'web-1')).toBe('default_web-1.json');
  });

  it.each([
    [63, 253],
    [63, 174],
    [63, 173],
    [1, 253],
    [20, 200],
  ])('fits 255 bytes with its temp suffix for a %i-character namespace and %i-character pod', (ns, pod) => {
    const name = podRecordName('n'.repeat(ns), 'p'.repeat(pod));
    expect(Buffer.byteLength(name + TEMP_SUFFIX)).toBeLessThanOrEqual(255);
    expect(name.endsWith('.json')).toBe(true);
  });

  it('keeps the readable name up to the limit, and cuts and hashes beyond it', () => {
    const fits = podRecordName('n'.repeat(63), 'p'.repeat(174));
    expect(fits).toBe(`${'n'.repeat(63)}_${'p'.repeat(174)}.json`);
    const cut = podRecordName('n'.repeat(63), 'p'.repeat(175));
    expect(cut).toMatch(new RegExp(`^${'n'.repeat(63)}_p+~[0-9a-f]{16}\\.json$`));
  });

  it('gives long names that share their readable start different files', () => {
    const ns = 'n'.repeat(63);
    const a = podRecordName(ns, `${'p'.repeat(200)}.a`);
    const b = podRecordName(ns, `${'p'.repeat(200)}.b`);
    expect(a).not.toBe(b);
    expect(a.slice(0, 100)).toBe(b.slice(0, 100));
  });
});
