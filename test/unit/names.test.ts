import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors';
import { hostVethName, parsePodArgs, validateContainerId, validateNamespace, validatePodName } from '../../src/names';

const ID = '0123456789abcdef'.repeat(4); // 64 hex
const hostile = [
  '',
  ';',
  'a;b',
  '$(x)',
  'a$(id)',
  '`id`',
  'a|b',
  'a b',
  ' a',
  'a\nb',
  'a\n',
  '../x',
  '..',
  'x/y',
  'é',
  'pöd',
  'a\u0000b',
  '*',
  'a&&b',
];

const expectInvalid = (fn: () => unknown, what: RegExp) => {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(InvalidInputError);
  const e = caught as InvalidInputError;
  expect(e.exitCode).toBe(2);
  expect(e.message).toMatch(what);
  expect(e.message).not.toContain('\n'); // the untrusted value is quoted, never spans lines
};

describe('validateNamespace', () => {
  it.each([...hostile, 'Prod', 'kube_system', 'a.b', '-a', 'a-', 'a'.repeat(64)])('rejects %j', (v) => {
    expectInvalid(() => validateNamespace(v), /invalid namespace/);
  });
  it.each(['a', '0', 'default', 'kube-system', 'prod-22', 'a'.repeat(63)])('accepts %j', (v) => {
    expect(validateNamespace(v)).toBe(v);
  });
});

describe('validatePodName', () => {
  it.each([...hostile, 'My-pod', 'a..b', '.a', 'a.', '-a', 'a_b', 'a'.repeat(254)])('rejects %j', (v) => {
    expectInvalid(() => validatePodName(v), /invalid pod name/);
  });
  it.each(['a', '22-my-nginx', 'nginx.v1.example', 'a'.repeat(253)])('accepts %j', (v) => {
    expect(validatePodName(v)).toBe(v);
  });
  it('keeps the error message short for a huge value', () => {
    expectInvalid(() => validatePodName('X'.repeat(5000)), /\.\.\."/);
    try {
      validatePodName('X'.repeat(5000));
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(300);
    }
  });
});

describe('validateContainerId', () => {
  it.each([
    ...hostile,
    'abc',
    'a'.repeat(11),
    'ABCDEF123456',
    'g'.repeat(12),
    'a'.repeat(65),
    `${ID.slice(0, 12)}\n`,
    `docker://${ID}`,
    `${ID.slice(0, 12)};rm`,
  ])('rejects %j', (v) => {
    expectInvalid(() => validateContainerId(v), /invalid container id/);
  });
  it.each(['a'.repeat(12), '0123456789ab', ID])('accepts %j', (v) => {
    expect(validateContainerId(v)).toBe(v);
  });
});

describe('parsePodArgs', () => {
  it('returns the validated reference', () => {
    expect(parsePodArgs('prod', '22-my-nginx', ID)).toEqual({ namespace: 'prod', pod: '22-my-nginx', containerId: ID });
    expect(parsePodArgs('prod', '22-my-nginx', ID, 'docker')).toEqual({
      namespace: 'prod',
      pod: '22-my-nginx',
      containerId: ID,
    });
  });
  it.each<[string, [string, string, string, string?], RegExp]>([
    ['namespace', ['Prod', 'p', ID], /namespace/],
    ['pod', ['prod', 'p;reboot', ID], /pod name/],
    ['container id', ['prod', 'p', 'xyz'], /container id/],
    ['runtime', ['prod', 'p', ID, 'docker;rm'], /runtime/],
  ])('rejects a bad %s', (_label, args, what) => {
    expectInvalid(() => parsePodArgs(...args), what);
  });
});

describe('hostVethName', () => {
  it('is "pv" plus 13 hex digits, 15 characters', () => {
    const name = hostVethName('prod', '22-my-nginx', 'vlannet');
    expect(name).toHaveLength(15);
    expect(name).toMatch(/^pv[0-9a-f]{13}$/);
  });
  it('is stable for the same pod and network', () => {
    expect(hostVethName('prod', 'web', 'n1')).toBe(hostVethName('prod', 'web', 'n1'));
  });
  it('differs across pods, namespaces and networks', () => {
    const names = [
      hostVethName('prod', 'web', 'n1'),
      hostVethName('prod', 'web', 'n2'),
      hostVethName('prod', 'web2', 'n1'),
      hostVethName('test', 'web', 'n1'),
      hostVethName('web', 'prod', 'n1'),
    ];
    expect(new Set(names).size).toBe(names.length);
  });
  it('gives 10000 distinct pods 10000 distinct names', () => {
    const names = new Set<string>();
    for (let i = 0; i < 10000; i++) names.add(hostVethName(`ns${i % 7}`, `${i}-pod`, 'vlannet'));
    expect(names.size).toBe(10000);
  });
});
