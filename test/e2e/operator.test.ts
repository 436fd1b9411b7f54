// What an operator meets at the command line: usage, what nothing found means, permission errors
// as non-root, a log file that cannot be written, the order of a repeated setup's lines.
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BINARY, runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BRIDGE = 'op_br';
const dir = join(info.dir, 'operator');
const networks = [4, 2, 3, 1].map((n) => ({
  name: `net${n}`,
  bridge: BRIDGE,
  datapathType: 'netdev',
  interface: `eth${n}`,
  vlan: { id: 100 + n },
  ipam: { type: 'host-local', subnet: `10.246.${n}.0/24` },
}));
const config = writeConfig(info, dir, networks);
const run = (...args: string[]) => runPlugin(info, args, { config });
// A world-readable place for what runs as nobody (the sandbox's own directory is root's alone).
const open = mkdtempSync(join(tmpdir(), 'pv-operator-'));
chmodSync(open, 0o755);
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', BINARY];
const asNobody = (cfg: string, ...args: string[]) =>
  runPlugin(info, [...NOBODY, ...args], { binary: 'setpriv', config: cfg });
const logLines = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  expect((await run('init')).exitCode).toBe(0);
});
afterAll(async () => {
  await teardownAll(info, config, [BRIDGE]);
  rmSync(open, { recursive: true, force: true });
});

describe('the command line as an operator meets it', () => {
  it.each([[[]], [['ipam']], [['--config', config]]])('prints the usage for %j (no command), exit 2', async (args) => {
    const r = await run(...args);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Usage: podvlan( ipam)? \[options\] \[command\]/);
    expect(r.stderr).toMatch(/Commands:\n\s+\w+/);
    expect(r.all).not.toContain('outputHelp');
  });

  it('ipam show of a pod that holds nothing says so and exits 1, in JSON too', async () => {
    const r = await run('ipam', 'show', 'default/nosuch');
    expect({ code: r.exitCode, all: r.all }).toEqual({ code: 1, all: 'nothing is allocated to default/nosuch' });
    const j = await run('ipam', 'show', '10.246.9.9', '-o', 'json');
    expect(j.exitCode).toBe(1);
    expect(JSON.parse(j.stdout)).toEqual({ addresses: [], vlans: [] });
  });

  it('a repeated setup prints the interfaces in config order, as the first did', async () => {
    const id = await startContainer(info);
    const first = await run('setup', 'default', 'order', id);
    expect(first.exitCode, first.all).toBe(0);
    const interfaces = (text: string) =>
      text
        .trim()
        .split('\n')
        .map((l) => / (eth\d) /.exec(l)?.[1]);
    expect(interfaces(first.stdout)).toEqual(['eth4', 'eth2', 'eth3', 'eth1']);
    for (let i = 0; i < 3; i++) {
      const again = await run('setup', 'default', 'order', id);
      expect(again.stdout).toMatch(/\(unchanged\)/);
      expect(again.stdout.replace(/ \(unchanged\)/g, '')).toBe(first.stdout);
    }
  });

  it('logs failed calls with cmd, namespace, pod and container like every other line', async () => {
    const missing = 'ef'.repeat(32);
    expect((await run('setup', 'default', 'ghost', missing)).exitCode).toBe(4);
    expect(logLines(join(dir, 'podvlan.log')).at(-1)).toMatchObject({
      level: 'error',
      msg: 'failed',
      cmd: 'setup',
      namespace: 'default',
      pod: 'ghost',
      container: missing,
      kind: 'not-found',
    });
  });

  it('says once, on the error line, that the log file cannot be written; never on status', async () => {
    const cfg = writeConfig(info, join(dir, 'nolog'), networks, { logFile: join(dir, 'no-such-dir', 'podvlan.log') });
    const r = await runPlugin(info, ['setup', 'default', 'ghost', 'ef'.repeat(32)], { config: cfg });
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toBe('');
    const lost = `; nothing was logged: cannot write log file ${dir}/no-such-dir/podvlan.log: ENOENT`;
    expect(r.stderr).toMatch(/^podvlan: container efefefefefef not found/);
    expect(r.stderr.endsWith(lost)).toBe(true);
    expect(r.stderr.split('\n')).toHaveLength(1);
    const ok = await runPlugin(info, ['ipam', 'list'], { config: cfg });
    expect(ok.exitCode).toBe(0);
    expect(ok.stderr).toBe(''); // a working command is not the place
    const status = await runPlugin(info, ['status', 'default', 'ghost', 'ef'.repeat(32)], { config: cfg });
    expect({ code: status.exitCode, all: status.all }).toEqual({ code: 0, all: '' });
  });

  it('as non-root: status prints nothing, exits 0, logs why; others say podvlan must run as root', async () => {
    const logFile = join(open, 'podvlan.log');
    writeFileSync(logFile, '');
    chownSync(logFile, 65534, 65534); // so that nobody can say why
    const cfg = writeConfig(info, join(open, 'cfg'), networks, { logFile, stateDir: join(dir, 'state') });
    chmodSync(join(open, 'cfg'), 0o755);
    chmodSync(cfg, 0o644);
    const status = await asNobody(cfg, 'status', 'default', 'order', 'ab'.repeat(32));
    expect({ code: status.exitCode, all: status.all }).toEqual({ code: 0, all: '' });
    expect(logLines(logFile).at(-1)).toMatchObject({
      level: 'warn',
      cmd: 'status',
      namespace: 'default',
      pod: 'order',
      uid: 65534,
    });
    expect(String(logLines(logFile).at(-1)?.msg)).toMatch(/not run as root/);
    const init = await asNobody(cfg, 'init');
    expect(init.exitCode).toBe(7);
    // The state directory is checked first (it is root's alone), so that is what init names.
    expect(init.all).toMatch(/^podvlan: state directory .* is root's, this is uid 65534 \(podvlan must run as root\)$/);
    const setup = await asNobody(cfg, 'setup', 'default', 'order', 'ab'.repeat(32));
    expect(setup.all).toMatch(/\(podvlan must run as root\)$/);
  });
});
