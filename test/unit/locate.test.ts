import { describe, expect, it } from 'vitest';
import { DEFAULT_STATE_DIR, quickStateDir } from '../../src/config/locate';

describe('quickStateDir', () => {
  it('reads a plain top-level line, with quotes or a trailing comment that mentions stateDir', () => {
    expect(quickStateDir('stateDir: /var/lib/x\nnetworks: []\n')).toBe('/var/lib/x');
    expect(quickStateDir('stateDir: "/a b"\n')).toBe('/a b');
    expect(quickStateDir("stateDir: '/q' # node-local stateDir\n")).toBe('/q');
    expect(quickStateDir('# the stateDir below is node-local\nstateDir: /c\n')).toBe('/c');
  });
  it('reads JSON, and falls back to the default when the key is plainly absent', () => {
    expect(quickStateDir('{"stateDir": "/j", "networks": []}')).toBe('/j');
    expect(quickStateDir('networks: []\n')).toBe(DEFAULT_STATE_DIR);
    expect(quickStateDir('{"networks": []}')).toBe(DEFAULT_STATE_DIR);
    expect(quickStateDir('x:\n  stateDir: /nested\n')).toBe(DEFAULT_STATE_DIR); // not the top-level key
  });
  it('gives up (full parse) when the text is ambiguous', () => {
    expect(quickStateDir('stateDir: /a\nstateDir: /b\n')).toBeUndefined();
    expect(quickStateDir('{stateDir: /flow, networks: []}')).toBeUndefined();
    expect(quickStateDir('stateDir: relative\n')).toBeUndefined();
    expect(quickStateDir('stateDir: "relative"\n')).toBeUndefined(); // the schema refuses it: let the full parse say so
    expect(quickStateDir('{"stateDir": "relative"}')).toBeUndefined();
    expect(quickStateDir('stateDir: &a /anchored\n')).toBeUndefined();
  });
});
