// The fast reader of stateDir (config/locate.ts quickStateDir) against the full parser: for every
// text the yaml library reads as a mapping, quickStateDir must give the very stateDir the full
// parse gives (the default when the key is absent), or undefined ("unsure": the caller parses
// fully). The forms are generated: every combination of a few key, separator, value and context
// forms, then a seeded fuzzer that splices fragments and mutates them.
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_STATE_DIR, quickStateDir } from '../../src/config/locate';
import { parseConfig } from '../../src/config/load';

/** What the full parser makes of stateDir, or 'not a mapping' / 'refused' when it has no say. */
function fullStateDir(text: string): unknown {
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 100, logLevel: 'error' }); // as config/load.ts parses
  } catch {
    return 'refused';
  }
  raw ??= {};
  if (typeof raw !== 'object' || Array.isArray(raw)) return 'not a mapping';
  const value = (raw as Record<string, unknown>).stateDir;
  return value === undefined ? DEFAULT_STATE_DIR : value;
}

const checked = { compared: 0, answered: 0 };

/** The property, for one text; returns the quick answer. */
function agree(text: string): string | undefined {
  const quick = quickStateDir(text); // must not throw, whatever the text
  const full = fullStateDir(text);
  if (full === 'refused' || full === 'not a mapping') return quick;
  checked.compared++;
  if (quick !== undefined) {
    checked.answered++;
    if (quick !== full)
      throw new Error(
        `quickStateDir ${JSON.stringify(quick)}, full parser ${JSON.stringify(full)} for ${JSON.stringify(text)}`,
      );
  }
  return quick;
}

const KEYS = [
  'stateDir',
  '"stateDir"',
  "'stateDir'",
  '"state\\u0044ir"',
  '"state\\x44ir"',
  "'state''Dir'",
  '? stateDir\n',
  'statedir',
  'stateDirs',
  'xstateDir',
  'state Dir',
  '&k stateDir',
  '!!str stateDir',
  '"stateDir" ',
  'stateDir ',
];
const SEPARATORS = [': ', ':', ':  ', ':\t', ' : ', ':\n  '];
const VALUES = [
  '/var/lib/podvlan-b',
  '"/var/lib/podvlan-b"',
  "'/var/lib/podvlan-b'",
  '"/var/l\\x69b/b"',
  "'/it''s'",
  '"/a\\"b"',
  '&a /anchored',
  '!!str /tagged',
  '*a',
  '/a # comment',
  '/a#not-a-comment',
  '|\n  /block',
  '>-\n  /folded',
  '""',
  'relative',
  '~',
  'null',
  '/a b',
  '/a: b',
  '/a:b',
  '"/a\n  b"',
  '/multi\n  line',
  '/multi\n\n  para',
  '[/x]',
  '{a: /x}',
  '42',
  '/ä/ö',
  '"/x" # c',
  "'/x'#c",
  '/x\t',
  '"/\u2028x"',
  '/',
  '/a:',
  '/a:#b',
  '/x,y[z]{w}',
  "/it's",
  '/a"b',
  '/a\\b',
  '"/\x85x"',
  '"/\x7fx"',
  "'/\x85x'",
  '"/\x01x"',
  '/\x85x',
  '/a|b>c',
  '/a\u2028b',
  '/a\u0085 # c',
  '"/a\rb"',
  "'/a\rb'",
  '"/a\x0bb"',
];
const CONTEXTS: [string, string][] = [
  ['', ''],
  ['networks: []\n', ''],
  ['', 'networks: []\n'],
  ['# stateDir: /commented\n', '# stateDir: /commented\n'],
  ['logFile: /x # stateDir: /y\n', ''],
  ['x:\n  stateDir: /nested\n', ''],
  ['', 'x:\n  stateDir: /nested\n'],
  ['x: {stateDir: /flow}\n', ''],
  ['base: &b {stateDir: /merged}\n<<: *b\n', ''],
  ['', 'base: &b {stateDir: /merged}\n<<: *b\n'],
  ['a: |\n', ''],
  ['a: |\n  text\n', ''],
  ['a: "multi\n', '"\n'],
  ['networks:\n- name: n\n  stateDir: /in-a-list\n', ''],
  ['', 'networks:\n- name: n\n'],
  ['---\n', ''],
  ['--- !!map\n', ''],
  ['%YAML 1.2\n---\n', ''],
  ['', '...\n'],
  ['', '---\nstateDir: /second\n'],
  ['stateDir: /first\n', ''],
  ['', 'stateDir: /again\n'],
  ['', '"stateDir": /again\n'],
  ['?\n', ''],
  ['  ', ''],
  ['mystateDir: /x\nstateDirX: /y\n', ''],
  ['runtime: {docker: {socket: /d.sock}}\n', ''],
  ['"a": 1\n', "'b': 2\n"],
];
const TRANSFORMS: [string, (t: string) => string][] = [
  ['as is', (t) => t],
  ['CRLF', (t) => t.replace(/\n/g, '\r\n')],
  ['BOM', (t) => `\ufeff${t}`],
  ['indented', (t) => t.replace(/^/gm, '  ')],
  ['tab indents', (t) => t.replace(/^ +/gm, '\t')],
  ['no final newline', (t) => t.replace(/\n$/, '')],
  ['trailing spaces', (t) => t.replace(/\n/g, '  \n')],
];

describe('quickStateDir agrees with the full parser', () => {
  it('on the forms of the issue and the common ones, answering the common ones itself', () => {
    expect(agree('"stateDir": /var/lib/podvlan-b\nnetworks: []\n')).toBe('/var/lib/podvlan-b');
    for (const text of [
      'stateDir: /var/lib/x\nnetworks: []\n',
      'stateDir: "/a b"\n',
      "stateDir: '/q' # node-local stateDir\n",
      '# the stateDir below is node-local\nstateDir: /c\n',
      '---\nstateDir: /d\nnetworks:\n- name: a\n  bridge: br0\n',
      'ovsdb: unix:/run/openvswitch/db.sock\nstateDir: /e   \nlogFile: "/var/log/p.log"\n',
      '{"stateDir": "/j", "networks": []}',
    ])
      expect(agree(text), text).toMatch(/^\//);
    expect(agree('networks: []\n')).toBe(DEFAULT_STATE_DIR);
    expect(agree('{"networks": []}')).toBe(DEFAULT_STATE_DIR);
    expect(agree('')).toBe(DEFAULT_STATE_DIR);
  });

  it('on JSON documents: escapes, duplicates, nesting, odd spacing', () => {
    const docs = [
      '{"stateDir": "/j"}',
      '{"state\\u0044ir": "/escaped"}',
      '{"stateDir": "/a", "stateDir": "/b"}',
      '{"stateDir": "/a", "state\\u0044ir": "/b"}',
      '{"x": {"stateDir": "/nested"}}',
      '{\n"stateDir":\n"/lines"\n}',
      '{"stateDir": "/a\\/b"}',
      '{"stateDir": "/\\ud800"}',
      '{"stateDir": 3}',
      '{"stateDir": null}',
      '{"stateDir": "rel"}',
      '{"__proto__": {"stateDir": "/proto"}}',
      '{"stateDir": "/x"} # trailing',
      '{"stateDir": "/x"}\n---\n{}',
      ' \t{"stateDir": "/ws"}',
      '{"stateDir": "/x",}',
      "{'stateDir': '/single'}",
      '{stateDir: /flow}',
      '{"stateDir": "/x\\u0000"}',
      '{"stateDir": "/t\tab"}',
      '{"a": [1, {"stateDir": "/deep"}]}',
    ];
    for (const d of docs) for (const [, transform] of TRANSFORMS) agree(transform(d));
  });

  it('on every combination of key, separator, value, context and transform', () => {
    const before = { ...checked };
    // Every combination once, under a transform taken in turn (all of them would be 600k parses);
    // then every transform on every key and value alone.
    let i = 0;
    for (const key of KEYS)
      for (const sep of SEPARATORS)
        for (const value of VALUES)
          for (const [pre, post] of CONTEXTS) {
            agree(TRANSFORMS[i++ % TRANSFORMS.length][1](`${pre}${key}${sep}${value}\n${post}`));
          }
    for (const key of KEYS)
      for (const value of VALUES) for (const [, transform] of TRANSFORMS) agree(transform(`${key}: ${value}\n`));
    expect(checked.compared - before.compared).toBeGreaterThan(10000);
    expect(checked.answered - before.answered).toBeGreaterThan(1000); // the reader is not just "unsure"
  }, 120000);

  it('on texts a seeded fuzzer splices and mutates', () => {
    let seed = 0x9e3779b9;
    const random = (n: number) => {
      seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return seed % n;
    };
    const pick = <T>(xs: readonly T[]) => xs[random(xs.length)];
    const fragments = [
      ...KEYS.map((k) => `${k}: ${pick(VALUES)}\n`),
      ...CONTEXTS.flat(),
      'stateDir: /s\n',
      '"stateDir": /q\n',
      '- item\n',
      '  indented: 1\n',
      '\n',
      '# c\n',
      '---\n',
      '...\n',
      'k: v\n',
    ];
    const noise = [
      ' ',
      '\t',
      '\r',
      '"',
      "'",
      '#',
      ':',
      '-',
      '\n',
      '{',
      '}',
      '[',
      ']',
      '&',
      '*',
      '!',
      '|',
      '>',
      '?',
      '\ufeff',
      '\\',
    ];
    for (let i = 0; i < 20000; i++) {
      let text = Array.from({ length: 1 + random(5) }, () => pick(fragments)).join('');
      for (let m = random(3); m > 0; m--) {
        const at = random(text.length + 1);
        text = random(2) ? text.slice(0, at) + pick(noise) + text.slice(at) : text.slice(0, at) + text.slice(at + 1);
      }
      agree(text);
    }
  }, 60000);

  it('on whole valid configs, as parseConfig reads them', () => {
    const body = 'networks:\n- name: a\n  bridge: br0\n  vlan: {id: 10}\n';
    for (const line of [
      'stateDir: /v/a\n',
      '"stateDir": /v/b\n',
      "'stateDir': '/v/c'\n",
      'stateDir: "/v/d" # c\n',
      '',
    ]) {
      for (const text of [line + body, body + line, `---\n${line}${body}`]) {
        const quick = quickStateDir(text);
        expect(quick, text).toBeDefined();
        expect(quick).toBe(parseConfig(text, 'test.yaml').stateDir);
      }
    }
  });
});
