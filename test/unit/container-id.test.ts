// A container id given as its full 64 digits or as a prefix of at least 12 means one container.
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors';
import { matchContainerId, sameContainer } from '../../src/names';

const A = 'a1b2c3d4e5f6'.padEnd(64, '0');
const B = 'a1b2c3d4e5f6'.padEnd(64, '1'); // shares its first 12 digits with A
const C = 'c'.repeat(64);

describe('sameContainer', () => {
  it.each([
    [A, A, true],
    [A.slice(0, 12), A, true], // a prefix given, the full id recorded
    [A.slice(0, 40), A, true],
    [A, A.slice(0, 12), true], // a record made before ids were resolved
    [A.slice(0, 11), A, false], // too short to mean anything
    [A, A.slice(0, 11), false],
    [C.slice(0, 12), A, false],
    [A.slice(0, 13), B, false],
  ])('%s and %s: %s', (given, recorded, same) => {
    expect(sameContainer(given, recorded)).toBe(same);
  });

  it('is false for a damaged record without an id', () => {
    expect(sameContainer(A, undefined as unknown as string)).toBe(false);
  });
});

describe('matchContainerId', () => {
  it('finds the one recorded id a prefix means', () => {
    expect(matchContainerId(C.slice(0, 12), [A, C, A])).toBe(C);
    expect(matchContainerId(A.slice(0, 13), [A, B])).toBe(A);
  });

  it('prefers an exact match', () => {
    expect(matchContainerId(A, [A.slice(0, 12), A])).toBe(A);
  });

  it('takes ids that are prefixes of one another for one container, the longest', () => {
    expect(matchContainerId(A.slice(0, 12), [A.slice(0, 20), A])).toBe(A);
    expect(matchContainerId(A, [A.slice(0, 12), A.slice(0, 20)])).toBe(A.slice(0, 20));
  });

  it('is undefined when nothing matches', () => {
    expect(matchContainerId(C.slice(0, 12), [A, B])).toBeUndefined();
    expect(matchContainerId(C, [])).toBeUndefined();
  });

  it('refuses a prefix two containers share, in one line', () => {
    let caught: unknown;
    try {
      matchContainerId(A.slice(0, 12), [A, B, A]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidInputError);
    expect((caught as Error).message).toMatch(
      /^container id a1b2c3d4e5f6 is ambiguous: it matches 2 containers \(a1b2c3d4e5f60000, a1b2c3d4e5f61111\): give more digits$/,
    );
  });
});
