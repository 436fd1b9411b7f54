// status reads its config through Bun.file and the pod record through Bun.mmap in the executable
// (node:fs only for what those cannot answer plainly). Every odd file must give the same answers
// as the node:fs path: the exact line on stdout, nothing on stderr, the right exit code, never a
// hang, the config opened read-only.
import { execa } from 'execa';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hintPath } from '../../src/config/state-dir-hint';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BINARY } from '../support/plugin';

const dir = mkdtempSync(join(tmpdir(), 'pv-status-'));
const stateDir = join(dir, 'state');
const config = join(dir, 'podvlan.yaml');
const ID = 'abcdef0123456789';
afterAll(() => {
  for (const cfg of [config, join(dir, 'empty.yaml'), join(dir, 'plugin', 'podvlan.yaml')])
    rmSync(hintPath(cfg), { force: true });
  rmSync(dir, { recursive: true, force: true });
});

mkdirSync(join(stateDir, 'pods'), { recursive: true });
writeFileSync(config, `stateDir: ${stateDir}\nnetworks: []\n`);
const record = (pod: string, body: string) => writeFileSync(join(stateDir, 'pods', `default_${pod}.json`), body);
record(
  'ready',
  JSON.stringify({
    namespace: 'default',
    pod: 'ready',
    containerId: ID,
    ready: true,
    primaryIp: '10.9.0.7',
    attachments: [],
  }),
);
record(
  'pending',
  JSON.stringify({
    namespace: 'default',
    pod: 'pending',
    containerId: ID,
    ready: false,
    primaryIp: '10.9.0.8',
    attachments: [],
  }),
);
record('empty', '');
record('garbage', '{"namespace": ');
const EXPECTED = '{"apiVersion":"v1beta1","kind":"PodNetworkStatus","ip":"10.9.0.7"}';

async function status(args: string[], opts: { binary?: string; env?: Record<string, string> } = {}) {
  const r = await execa(opts.binary ?? BINARY, args, {
    reject: false,
    timeout: 5000,
    env: opts.env ?? {},
    extendEnv: false,
  });
  expect(r.timedOut).toBe(false);
  expect(r.stderr).toBe('');
  return { code: r.exitCode, out: r.stdout };
}

describe('status reads its files safely', () => {
  it('prints a ready record, and nothing for other containers, pending, empty, garbage or missing records', async () => {
    expect(await status(['status', 'default', 'ready', ID], { env: { PODVLAN_CONFIG: config } })).toEqual({
      code: 0,
      out: EXPECTED,
    });
    for (const [pod, id] of [
      ['ready', 'fedcba9876543210'],
      ['pending', ID],
      ['empty', ID],
      ['garbage', ID],
      ['absent', ID],
    ]) {
      expect(await status(['status', 'default', pod, id], { env: { PODVLAN_CONFIG: config } }), pod).toEqual({
        code: 0,
        out: '',
      });
    }
  });

  it('opens the config read-only, and creates or truncates nothing but its hint', async () => {
    const trace = join(dir, 'strace.out');
    rmSync(hintPath(config), { force: true }); // so the config is read
    const r = await execa(
      'strace',
      ['-f', '-e', 'trace=open,openat', '-o', trace, BINARY, 'status', 'default', 'ready', ID],
      { env: { PODVLAN_CONFIG: config }, extendEnv: false },
    );
    expect(r.stdout).toBe(EXPECTED);
    const opens = readFileSync(trace, 'utf8')
      .split('\n')
      .filter((l) => /openat?\(/.test(l));
    const ofConfig = opens.filter((l) => l.includes(config));
    expect(ofConfig.length).toBeGreaterThanOrEqual(1);
    for (const l of ofConfig) expect(l).toMatch(/O_RDONLY/);
    // The record is podvlan's own file: mapped (read-write open), never created or truncated here.
    expect(opens.some((l) => l.includes('default_ready.json'))).toBe(true);
    for (const l of opens.filter((o) => !o.includes('/run/podvlan/'))) expect(l).not.toMatch(/O_CREAT|O_TRUNC/);
  });

  it('keeps stateDir in a hint while the config is unchanged, and follows the config when it changes', async () => {
    const cfg = join(dir, 'hinted.yaml');
    const other = join(dir, 'other-state');
    mkdirSync(join(other, 'pods'), { recursive: true });
    writeFileSync(
      join(other, 'pods', 'default_ready.json'),
      JSON.stringify({
        namespace: 'default',
        pod: 'ready',
        containerId: ID,
        ready: true,
        primaryIp: '10.9.0.99',
        attachments: [],
      }),
    );
    writeFileSync(cfg, `stateDir: ${stateDir}\n`);
    const hint = hintPath(cfg);
    rmSync(hint, { force: true });
    expect(await status(['status', 'default', 'ready', ID], { env: { PODVLAN_CONFIG: cfg } })).toEqual({
      code: 0,
      out: EXPECTED,
    });
    expect(JSON.parse(readFileSync(hint, 'utf8'))).toMatchObject({ path: cfg, stateDir });
    expect(statSync('/run/podvlan').mode & 0o777).toBe(0o700);
    // With the hint in place the config is not opened at all.
    const trace = join(dir, 'strace-hint.out');
    await execa('strace', ['-f', '-e', 'trace=open,openat', '-o', trace, BINARY, 'status', 'default', 'ready', ID], {
      env: { PODVLAN_CONFIG: cfg },
      extendEnv: false,
    });
    expect(readFileSync(trace, 'utf8')).not.toContain(cfg);
    // A new stateDir (the size changes), then the same size with another mtime: both followed.
    writeFileSync(cfg, `stateDir: ${other}\n`);
    expect((await status(['status', 'default', 'ready', ID], { env: { PODVLAN_CONFIG: cfg } })).out).toContain(
      '10.9.0.99',
    );
    writeFileSync(cfg, `stateDir: ${stateDir.padEnd(other.length, '/')}\n`);
    utimesSync(cfg, new Date(), new Date(Date.now() + 5000));
    expect(await status(['status', 'default', 'ready', ID], { env: { PODVLAN_CONFIG: cfg } })).toEqual({
      code: 0,
      out: EXPECTED,
    });
    // A hint that does not match (tampered, or another config's) is not used.
    writeFileSync(hint, JSON.stringify({ path: cfg, size: 1, mtimeMs: 1, stateDir: other }));
    expect(await status(['status', 'default', 'ready', ID], { env: { PODVLAN_CONFIG: cfg } })).toEqual({
      code: 0,
      out: EXPECTED,
    });
    // A config that is gone is reported even with a hint left behind.
    rmSync(cfg);
    expect(await status(['status', 'default', 'ready', ID], { env: { PODVLAN_CONFIG: cfg } })).toEqual({
      code: 3,
      out: `podvlan: cannot read config ${cfg}: no such file`,
    });
    rmSync(hint, { force: true });
  });

  it('reads stateDir as the full parser does, in any form, and remembers what only the full parse reads', async () => {
    const body = 'networks:\n- {name: a, bridge: br0, vlan: {id: 5}}\n';
    const json = `{"state\\u0044ir": "${stateDir}", "networks": [{"name": "a", "bridge": "br0", "vlan": {"id": 5}}]}`;
    const forms = [
      `"stateDir": ${stateDir}\n`,
      `'stateDir': "${stateDir}"\n`,
      `stateDir: &s ${stateDir}\n`,
      `? stateDir\n: ${stateDir}\n`,
      json,
      `stateDir: !!str ${stateDir}\r\n`,
    ];
    for (const [i, form] of forms.entries()) {
      const cfg = join(dir, `form-${i}.yaml`);
      writeFileSync(cfg, form === json ? form : form + body);
      rmSync(hintPath(cfg), { force: true });
      const env = { PODVLAN_CONFIG: cfg };
      expect(await status(['status', 'default', 'ready', ID], { env }), form).toEqual({ code: 0, out: EXPECTED });
      expect(JSON.parse(readFileSync(hintPath(cfg), 'utf8')), form).toMatchObject({ path: cfg, stateDir });
      const trace = join(dir, `strace-form-${i}.out`);
      const traced = ['-f', '-e', 'trace=open,openat', '-o', trace, BINARY, 'status', 'default', 'ready', ID];
      await execa('strace', traced, { env, extendEnv: false });
      expect(readFileSync(trace, 'utf8'), form).not.toContain(cfg); // the second call answers from the hint
      rmSync(hintPath(cfg), { force: true });
    }
  });

  it('removes the hints of configs that are gone when it writes one', async () => {
    const gone = join(dir, 'gone.yaml');
    writeFileSync(gone, `stateDir: ${stateDir}\n`);
    await status(['status', 'default', 'ready', ID], { env: { PODVLAN_CONFIG: gone } });
    expect(existsSync(hintPath(gone))).toBe(true);
    rmSync(gone);
    const cfg = join(dir, 'fresh.yaml');
    writeFileSync(cfg, `stateDir: ${stateDir}\n`);
    rmSync(hintPath(cfg), { force: true });
    const env = { PODVLAN_CONFIG: cfg };
    expect(await status(['status', 'default', 'ready', ID], { env })).toEqual({ code: 0, out: EXPECTED });
    expect(existsSync(hintPath(gone))).toBe(false);
    rmSync(hintPath(cfg), { force: true });
  });

  it('does not block on a record that is a FIFO', async () => {
    await execa('mkfifo', [join(stateDir, 'pods', 'default_fifo.json')]);
    expect(await status(['status', 'default', 'fifo', ID], { env: { PODVLAN_CONFIG: config } })).toEqual({
      code: 0,
      out: '',
    });
  });

  it('refuses a config that is not a small regular file, with one line on stdout and exit 3', async () => {
    await execa('mkfifo', [join(dir, 'fifo.yaml')]);
    writeFileSync(join(dir, 'big.yaml'), `stateDir: ${stateDir}\n#${'x'.repeat(1 << 20)}\n`);
    const cases: [string, string][] = [
      [join(dir, 'fifo.yaml'), `config ${join(dir, 'fifo.yaml')} is not a regular file`],
      ['/dev/zero', 'config /dev/zero is not a regular file'],
      [dir, `config ${dir} is not a regular file`],
      [join(dir, 'big.yaml'), `config ${join(dir, 'big.yaml')} is larger than 1048576 bytes`],
      [join(dir, 'missing.yaml'), `cannot read config ${join(dir, 'missing.yaml')}: no such file`],
    ];
    for (const [path, message] of cases) {
      expect(await status(['status', 'default', 'ready', ID], { env: { PODVLAN_CONFIG: path } }), path).toEqual({
        code: 3,
        out: `podvlan: ${message}`,
      });
    }
  });

  it('takes an empty config as all defaults', async () => {
    writeFileSync(join(dir, 'empty.yaml'), '');
    expect(
      await status(['status', 'default', 'ready', ID], { env: { PODVLAN_CONFIG: join(dir, 'empty.yaml') } }),
    ).toEqual({ code: 0, out: '' });
  });

  it('finds podvlan.yaml beside the executable, and --config before it', async () => {
    const plugin = join(dir, 'plugin');
    mkdirSync(plugin);
    copyFileSync(BINARY, join(plugin, 'podvlan'));
    await execa('chmod', ['+x', join(plugin, 'podvlan')]);
    writeFileSync(join(plugin, 'podvlan.yaml'), `stateDir: ${stateDir}\n`);
    expect(await status(['status', 'default', 'ready', ID], { binary: join(plugin, 'podvlan') })).toEqual({
      code: 0,
      out: EXPECTED,
    });
    expect(
      await status(['status', 'default', 'ready', ID], {
        binary: join(plugin, 'podvlan'),
        env: { PODVLAN_CONFIG: join(dir, 'empty.yaml') },
      }),
    ).toEqual({ code: 0, out: '' });
    expect(
      await status(['--config', '/dev/zero', 'status', 'default', 'ready', ID], { binary: join(plugin, 'podvlan') }),
    ).toEqual({ code: 3, out: 'podvlan: config /dev/zero is not a regular file' });
  });
});
