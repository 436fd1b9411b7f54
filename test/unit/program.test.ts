import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import pkg from '../../package.json';
import { failure, setFailureLog } from '../../src/cli/edge';
import { run } from '../../src/cli/program';
import { InvalidInputError, NotFoundError, UnavailableError } from '../../src/errors';
import { Logger } from '../../src/log';

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

  it.each([
    ['a bad flag', ['diagnose', 'a/b', 'a/c', '--frobnicate']],
    ['a bad output format', ['diagnose', 'a/b', 'a/c', '-o', 'xml']],
    ['no DST', ['diagnose', 'a/b']],
    ['--all with a SRC', ['diagnose', '--all', 'a/b']],
  ])('diagnose with %s exits 9, not 2 (its verdict "blocked")', async (_label, argv) => {
    const r = await cli(...argv);
    expect(r.code).toBe(9);
    expect(r.out).toEqual([]);
    expect(r.err).toHaveLength(1);
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

describe('usage', () => {
  it.each([[[]], [['ipam']], [['-c', '/x.yaml']]])('prints the usage on stderr for %j, exit 2', async (args) => {
    const r = await cli(...args);
    expect(r.code).toBe(2);
    expect(r.out).toEqual([]);
    expect(r.err.join('\n')).toMatch(/^Usage: podvlan( ipam)? \[options\] \[command\]\n/);
    expect(r.err.join('\n')).not.toContain('outputHelp');
  });
});

describe('failure', () => {
  let dir = '';
  afterEach(() => {
    vi.restoreAllMocks();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const lines = (...argv: string[]) => {
    const out: string[] = [];
    return { out, code: (err: unknown) => failure(err, (l) => out.push(l), argv) };
  };

  it("gives diagnose's invalid input and internal errors codes apart from its verdicts (0-2); others keep theirs", () => {
    const diag = lines('-c', '/x.yaml', 'diagnose', 'a/b', 'a/c');
    expect(diag.code(new InvalidInputError('bad'))).toBe(9);
    expect(diag.code(new Error('bug'))).toBe(10);
    expect(diag.code(new NotFoundError('gone'))).toBe(4);
    expect(diag.code(new UnavailableError('OVSDB down'))).toBe(7);
    const list = lines('list');
    expect(list.code(new InvalidInputError('bad'))).toBe(2);
    expect(list.code(new Error('bug'))).toBe(1);
  });

  it('logs cmd, namespace, pod and container of a kubelet call, and the subcommand of others', () => {
    dir = mkdtempSync(join(tmpdir(), 'pv-failure-'));
    setFailureLog(new Logger(join(dir, 'log')));
    lines('-c', '/x.yaml', 'teardown', 'ns', 'pod', 'abc123').code(new NotFoundError('gone'));
    lines('ipam', 'release', 'net', '10.0.0.1').code(new NotFoundError('gone'));
    const logged = readFileSync(join(dir, 'log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(logged[0]).toMatchObject({
      msg: 'failed',
      cmd: 'teardown',
      namespace: 'ns',
      pod: 'pod',
      container: 'abc123',
      kind: 'not-found',
    });
    expect(logged[1]).toMatchObject({ msg: 'failed', cmd: 'ipam release' });
  });

  it('says on the error line, once, that the log cannot be written; never for status', () => {
    setFailureLog(new Logger('/nonexistent-dir/podvlan.log'));
    const setup = lines('setup', 'ns', 'pod', 'abc123');
    expect(setup.code(new NotFoundError('container abc123 not found'))).toBe(4);
    expect(setup.out).toEqual([
      'podvlan: container abc123 not found; nothing was logged: cannot write log file ' +
        '/nonexistent-dir/podvlan.log: ENOENT',
    ]);
    const status = lines('status', 'ns', 'pod', 'abc123');
    status.code(new NotFoundError('x'));
    expect(status.out).toEqual(['podvlan: x']);
  });

  it('adds that podvlan must run as root to a permission error of a non-root call, and only then', () => {
    setFailureLog(new Logger(undefined));
    const denied = new UnavailableError('cannot connect to OVSDB at unix:/run/openvswitch/db.sock: EACCES');
    const asRoot = lines('init');
    asRoot.code(denied);
    vi.spyOn(process as { getuid: () => number }, 'getuid').mockReturnValue(1000);
    const asUser = lines('init');
    asUser.code(denied);
    asUser.code(new Error('connect EPERM /var/run/docker.sock'));
    asUser.code(new NotFoundError('container abc not found'));
    expect(asRoot.out).toEqual([`podvlan: ${denied.message}`]);
    expect(asUser.out).toEqual([
      `podvlan: ${denied.message} (podvlan must run as root)`,
      'podvlan: internal error: connect EPERM /var/run/docker.sock (podvlan must run as root)',
      'podvlan: container abc not found',
    ]);
  });
});
