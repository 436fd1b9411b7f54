// A table of hostile or broken inputs against every subcommand: each is refused with one line
// and a non-zero exit, status never writes stderr, nothing reaches a shell or a path outside
// the state directory, and no pod's resources change.
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { audit } from '../support/consistency';
import { bridgePorts, runPlugin, writeConfig, teardownAll } from '../support/plugin';
import { startContainer } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'hostile');
const stateDir = join(dir, 'state');
const canary = join(dir, 'pwned');
const config = writeConfig(info, dir, [
  {
    name: 'vlannet',
    bridge: 'host_br',
    datapathType: 'netdev',
    primary: true,
    vlan: { fromPodName: '^(\\d+)-' },
    ipam: { type: 'host-local', subnet: '10.238.0.0/24', gateway: '10.238.0.1' },
  },
]);
const run = (...args: string[]) => runPlugin(info, args, { config });

const ID = 'ab'.repeat(32);
const hostile = [
  '',
  ' ',
  '-',
  '--',
  '.',
  '..',
  '../../etc/passwd',
  '/etc/passwd',
  'a/b',
  `$(touch ${canary})`,
  `\`touch ${canary}\``,
  `x;touch ${canary}`,
  'x|id',
  'x&&id',
  "x'y",
  'x"y',
  'x\ny',
  'ünïcödé',
  '\u202e22-evil',
  '22-😀',
  'A'.repeat(300),
  'x'.repeat(70000),
  '22-a\t',
  '%s%n',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${IFS}, as a shell would read it
  '${IFS}',
  '*',
  '22-a?',
  '-h',
  '--config=/dev/zero',
];

describe('hostile input against every subcommand', () => {
  afterAll(() => teardownAll(info, config, ['host_br']));
  let live = '';
  beforeAll(async () => {
    mkdirSync(join(dir, 'victim'), { recursive: true });
    writeFileSync(join(dir, 'victim', '1.2.3.4'), "not podvlan's");
    expect((await run('init')).exitCode).toBe(0);
    live = await startContainer(info);
    expect((await run('setup', 'default', '22-live', live)).exitCode).toBe(0);
  });

  it.each(['setup', 'teardown', 'status'])(
    '%s refuses every hostile namespace, pod name and container id',
    async (cmd) => {
      for (const bad of hostile) {
        for (const args of [
          [bad, '22-a', ID],
          ['default', bad, ID],
          ['default', '22-a', bad],
          ['default', '22-a', ID, bad],
        ]) {
          const r = await run(cmd, ...args);
          // '-h' as a value asks commander for help, which is success with usage text, not an action.
          if (bad === '-h' || bad === '--') continue;
          expect(r.exitCode, `${cmd} ${JSON.stringify(args).slice(0, 200)}: ${r.all.slice(0, 300)}`).not.toBe(0);
          expect(r.all.trim().split('\n'), JSON.stringify(args).slice(0, 200)).toHaveLength(1);
          expect(r.all.length).toBeLessThan(600);
          if (cmd === 'status') expect(r.stderr).toBe('');
        }
      }
    },
  );

  it('init, list, gc and version refuse stray arguments and bad options with one line', async () => {
    for (const args of [
      ['init', 'x'],
      ['list', '--output', '$(id)'],
      ['list', 'x'],
      ['gc', '--output', 'yaml'],
      ['gc', 'x'],
      ['version', 'x'],
      ['--config', '/dev/zero', 'list'],
      ['ipam', 'release', '../../victim', '1.2.3.4', '--force'],
      ['ipam', 'release', 'vlannet', '../x'],
      ['ipam', 'show', '$(id)'],
      ['--config', join(dir, 'missing'), 'gc'],
      ['--config', dir, 'init'],
      ['nosuchcommand'],
      [''],
    ]) {
      const r = await run(...args);
      expect(r.exitCode, `${args.join(' ')}: ${r.all}`).toBeGreaterThan(1);
      expect(r.all.trim().split('\n')).toHaveLength(1);
    }
  });

  it('nothing ran in a shell, nothing was written outside the state directory, the live pod is intact', async () => {
    expect(existsSync(canary)).toBe(false);
    expect(existsSync(join(dir, 'victim', '1.2.3.4'))).toBe(true); // ipam release never left the state directory
    expect(existsSync(join(stateDir, '..', '..', 'etc'))).toBe(false);
    expect(await bridgePorts(info, 'host_br')).toHaveLength(1);
    expect(await audit(info, stateDir, ['host_br'])).toEqual([]);
  });

  it('status stays silent on stderr when the YAML parser has a warning to give', async () => {
    // A flow mapping (the quick stateDir reader gives up, the full parser runs) with an unknown tag.
    const odd = join(dir, 'odd.yaml');
    writeFileSync(
      odd,
      `{stateDir: ${stateDir}, ovsdb: "${info.ovsdb}", networks: [{name: !local vlannet, bridge: host_br, datapathType: netdev, primary: true, vlan: {fromPodName: "^(\\\\d+)-"}}]}\n`,
    );
    for (const cmd of ['status', 'teardown']) {
      const r = await runPlugin(info, [cmd, 'default', '22-nobody', ID], { config: odd });
      expect(r.stderr, r.all).toBe('');
      expect(r.exitCode, r.all).toBe(0);
    }
  });

  it('state and log files are owner-only', async () => {
    writeFileSync(join(dir, 'probe'), '');
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(join(dir, 'podvlan.log'))).toBe(0o600);
    expect(mode(join(stateDir, 'pods'))).toBe(0o700);
    expect(mode(join(stateDir, 'pods', 'default_22-live.json'))).toBe(0o600);
    expect(mode(join(stateDir, 'ipam', 'vlannet'))).toBe(0o700);
    expect(mode(join(stateDir, 'ipam', 'vlannet', '10.238.0.2'))).toBe(0o600);
  });
});
