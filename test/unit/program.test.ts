import { describe, expect, it } from 'vitest';
import pkg from '../../package.json';
import { run } from '../../src/cli/program';

const ID = 'ab'.repeat(32);

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out, err };
}

describe('run', () => {
  it.each([
    ['a bad namespace', ['status', 'Bad;ns', 'pod', ID], /invalid namespace/],
    ['a bad container id', ['status', 'ns', 'pod', 'nothex'], /invalid container id/],
    ['a missing argument', ['status', 'ns', 'pod'], /missing required argument/],
    ['an extra argument', ['status', 'ns', 'pod', ID, 'docker', 'extra'], /too many arguments/],
  ])('status with %s writes one line to stdout only and returns 2', async (_label, argv, what) => {
    const r = await cli(...argv);
    expect(r.code).toBe(2);
    expect(r.err).toEqual([]);
    expect(r.out).toHaveLength(1);
    expect(r.out[0]).toMatch(/^podvlan: /);
    expect(r.out[0]).toMatch(what);
    expect(r.out[0]).not.toContain('\n');
  });

  it('rejects an over-long argument to status on stdout', async () => {
    const r = await cli('status', 'ns', 'x'.repeat(5000), ID);
    expect(r).toMatchObject({ code: 2, err: [] });
    expect(r.out).toEqual(['podvlan: argument of 5000 characters is too long']);
  });

  it('returns 2 with one stderr line for an unknown command', async () => {
    const r = await cli('frobnicate');
    expect(r.code).toBe(2);
    expect(r.out).toEqual([]);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^podvlan: unknown command 'frobnicate'/);
  });

  it('prints help and returns 0 for --help', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    expect(r.out.join('\n')).toMatch(/Usage: podvlan/);
    expect(r.out.join('\n')).toMatch(/status/);
  });

  it('prints "podvlan <version>" for version', async () => {
    const r = await cli('version');
    expect(r).toEqual({ code: 0, out: [`podvlan ${pkg.version}`], err: [] });
    expect(pkg.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('returns 3 with one line naming a config path that does not exist', async () => {
    const path = '/nonexistent/podvlan-test.yaml';
    const r = await cli('--config', path, 'init');
    expect(r.code).toBe(3);
    expect(r.out).toEqual([]);
    expect(r.err).toEqual([`podvlan: cannot read config ${path}: no such file`]);
  });

  it('reports a config error of status on stdout, not stderr', async () => {
    const path = '/nonexistent/podvlan-test.yaml';
    const r = await cli('-c', path, 'status', 'ns', 'pod', ID);
    expect(r.code).toBe(3);
    expect(r.err).toEqual([]);
    expect(r.out).toEqual([`podvlan: cannot read config ${path}: no such file`]);
  });
});
