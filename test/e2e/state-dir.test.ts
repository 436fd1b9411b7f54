// The state directory is trusted only when it is root's alone. A 0777 state directory, a part of
// it swapped for a link, or a forged config cache must not let anyone steer what root does: every
// command refuses with one line (status on stdout), nothing is written where a link points, and
// a forged cache never changes what the config says.
import { execa, type ResultPromise } from 'execa';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pkg from '../../package.json';
import { hintPath } from '../../src/config/state-dir-hint';
import { bridgePorts, portTag, runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { startContainer } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'state-dir');
const BRIDGE = 'sd_br';
const network = (vlan: Record<string, unknown> = { fromPodName: '^(\\d+)-' }) => ({
  name: 'vlannet',
  bridge: BRIDGE,
  datapathType: 'netdev',
  primary: true,
  vlan,
  ipam: { type: 'host-local', subnet: '10.243.0.0/24', gateway: '10.243.0.1' },
});
const BUN = join(__dirname, '../../node_modules/.bin/bun');
const IS_A_LINK = 'is a symbolic link: replace it with a real directory owned by root, mode 0700';

/** Every file and directory under root with its mode, owner and content: what "nothing changed" compares. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) return;
    out.push(`${p} ${st.mode.toString(8)} ${st.uid} ${st.isFile() ? readFileSync(p, 'utf8') : ''}`);
    if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(join(p, e));
  };
  walk(root);
  return out;
}

/** A stand-in for the agent on stateDir/agent.sock that claims every call succeeded. */
function fakeAgent(socket: string): ResultPromise {
  const out = ['default/22-a: removed 1 port(s) (pvfake), released 1 address(es)'];
  const reply = `+${JSON.stringify({ done: true, code: 0, out, err: [] })}`;
  const serve = `{ data(s) { s.write(${JSON.stringify(reply)}); s.end(); } }`;
  const script = `Bun.listen({ unix: ${JSON.stringify(socket)}, socket: ${serve} }); console.log('up')`;
  return execa(BUN, ['-e', script], { buffer: false, reject: false });
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a state directory others can write', () => {
  const base = join(dir, 'open');
  const stateDir = join(base, 'state');
  const config = writeConfig(info, base, [network()]);
  let agent: ResultPromise | undefined;
  beforeAll(async () => {
    mkdirSync(join(stateDir, 'pods'), { recursive: true, mode: 0o700 });
    chmodSync(stateDir, 0o777);
    agent = fakeAgent(join(stateDir, 'agent.sock'));
    await new Promise<void>((resolve) => agent!.stdout!.once('data', () => resolve()));
  });
  afterAll(async () => {
    agent?.kill('SIGKILL');
    await agent;
  });

  it('every command refuses it with one line saying what to fix, and changes nothing', async () => {
    const before = snapshot(base);
    const pod = await startContainer(info);
    const commands = [
      ['init'],
      ['setup', 'default', '22-a', pod],
      ['teardown', 'default', '22-a', pod],
      ['status', 'default', '22-a', pod],
      ['list'],
      ['gc'],
      ['gc', '--dry-run'],
      ['ipam', 'list'],
      ['ipam', 'show', 'default/22-a'],
      ['ipam', 'release', 'vlannet', '10.243.0.2'],
      ['ipam', 'release-vlan', 'vlannet', 'default/22-a'],
      ['agent'],
    ];
    for (const args of commands) {
      const r = await runPlugin(info, args, { config, timeoutMs: 10000 });
      const what = `${args.join(' ')}: ${r.all}`;
      expect(r.exitCode, what).toBe(3);
      expect(r.all.trim().split('\n'), what).toHaveLength(1);
      expect(r.all, what).toContain(`state directory ${stateDir} is writable by group or others (mode 777)`);
      expect(r.all, what).toContain(`: chmod go-w ${stateDir}`);
      if (args[0] === 'status') expect(r.stderr, what).toBe('');
    }
    expect(snapshot(base)).toEqual(before); // no record, lease, lock, cache or log line
    expect(existsSync(hintPath(config))).toBe(false);
    expect(await bridgePorts(info, BRIDGE).catch(() => 'no bridge')).toBe('no bridge');
  });
});

describe('parts of the state directory swapped for links', () => {
  const base = join(dir, 'links');
  const stateDir = join(base, 'state');
  const elsewhere = join(base, 'elsewhere');
  const config = writeConfig(info, base, [network()]);
  const run = (...args: string[]) => runPlugin(info, args, { config });
  let pod = '';
  beforeAll(async () => {
    expect((await run('init')).exitCode).toBe(0);
    pod = await startContainer(info);
  });
  afterAll(() => teardownAll(info, config, [BRIDGE]));

  it.each(['pods', 'ipam'])('%s/ as a link to another directory: refused, nothing written there', async (part) => {
    rmSync(join(stateDir, part), { recursive: true, force: true });
    mkdirSync(elsewhere, { recursive: true });
    symlinkSync(elsewhere, join(stateDir, part));
    try {
      const calls = [
        ['setup', 'default', '22-a', pod],
        ['teardown', 'default', '22-a', pod],
        ['gc'],
        ['status', 'default', '22-a', pod],
      ];
      for (const args of calls) {
        const r = await run(...args);
        expect(r.exitCode, r.all).toBe(3);
        expect(r.all.trim()).toBe(`podvlan: ${stateDir}/${part} ${IS_A_LINK}`);
      }
      expect(readdirSync(elsewhere)).toEqual([]);
      expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    } finally {
      rmSync(join(stateDir, part));
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('files inside are never written through a link (host-local .last)', async () => {
    const victim = join(base, 'victim');
    writeFileSync(victim, "not podvlan's");
    mkdirSync(join(stateDir, 'ipam', 'vlannet'), { recursive: true, mode: 0o700 });
    symlinkSync(victim, join(stateDir, 'ipam', 'vlannet', '.last'));
    expect((await run('setup', 'default', '22-a', pod)).exitCode).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe("not podvlan's");
    expect((await run('teardown', 'default', '22-a', pod)).exitCode).toBe(0);
  });

  it('status notices a swap made after it last checked, and never serves a record from the link', async () => {
    expect((await run('setup', 'default', '22-a', pod)).exitCode).toBe(0);
    const ok = await run('status', 'default', '22-a', pod);
    expect(ok.stdout).toMatch(/"ip":"10\.243\.0\.\d+"/);
    expect(JSON.parse(readFileSync(hintPath(config), 'utf8'))).toMatchObject({ stateDir });
    // Someone moves pods/ away and puts a link to a forged record in its place.
    mkdirSync(elsewhere, { recursive: true });
    const record = {
      namespace: 'default',
      pod: '22-a',
      containerId: pod,
      ready: true,
      primaryIp: '6.6.6.6',
      attachments: [],
    };
    writeFileSync(join(elsewhere, 'default_22-a.json'), JSON.stringify(record));
    renameSync(join(stateDir, 'pods'), join(base, 'pods-moved'));
    symlinkSync(elsewhere, join(stateDir, 'pods'));
    try {
      const r = await run('status', 'default', '22-a', pod);
      expect(r.stderr).toBe('');
      expect(r.exitCode, r.all).toBe(3);
      expect(r.stdout).toBe(`podvlan: ${stateDir}/pods ${IS_A_LINK}`);
    } finally {
      rmSync(join(stateDir, 'pods'));
      renameSync(join(base, 'pods-moved'), join(stateDir, 'pods'));
      rmSync(elsewhere, { recursive: true, force: true });
    }
    expect((await run('teardown', 'default', '22-a', pod)).exitCode).toBe(0);
  });
});

describe('the config cache', () => {
  const base = join(dir, 'cache');
  const stateDir = join(base, 'state');
  const forgedLog = join(base, 'forged.log');
  const config = writeConfig(info, base, [network({ id: 300 })]);
  const cacheFile = join(stateDir, '.config-cache.json');
  const run = (...args: string[]) => runPlugin(info, args, { config });
  let pod = '';
  beforeAll(async () => {
    expect((await run('init')).exitCode).toBe(0); // writes a genuine cache
    pod = await startContainer(info);
  });
  afterAll(() => teardownAll(info, config, [BRIDGE]));

  it('a forged cache with the right text and version is ignored: the configured VLAN, the configured log', async () => {
    const genuine = JSON.parse(readFileSync(cacheFile, 'utf8'));
    const forged = structuredClone(genuine.config);
    forged.networks[0].vlan = { id: 4000 };
    forged.logFile = forgedLog;
    const text = readFileSync(config, 'utf8');
    const cache = { version: pkg.version, path: config, text, config: forged };
    writeFileSync(cacheFile, JSON.stringify(cache), { mode: 0o600 });
    chmodSync(cacheFile, 0o600);
    const r = await run('setup', 'default', 'web', pod);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toContain('vlan 300');
    expect(await portTag(info, (await bridgePorts(info, BRIDGE))[0])).toBe('300');
    expect(existsSync(forgedLog)).toBe(false);
    expect(readFileSync(join(base, 'podvlan.log'), 'utf8')).toContain('"msg":"set up"');
    expect((await run('teardown', 'default', 'web', pod)).exitCode).toBe(0);
  });

  it('a cache someone else owns is refused with one line', async () => {
    expect((await run('list')).exitCode).toBe(0);
    chownSync(cacheFile, 65534, 65534);
    const r = await run('setup', 'default', 'web', pod);
    expect(r.exitCode, r.all).toBe(3);
    const line = `podvlan: config cache ${cacheFile} is owned by uid 65534, not 0: remove it (podvlan writes a new one)`;
    expect(r.all.trim()).toBe(line);
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    rmSync(cacheFile);
    expect((await run('list')).exitCode).toBe(0);
  });
});
