// An unprivileged local user must not be able to hold, block or forge a pod's lock. The hostile
// process really runs as nobody, in the node's network namespace: it binds the abstract socket
// name the lock used to be (derived from names `ps` shows) and tries to open the lock file.
// teardown must still finish promptly and gc must not skip the pod.
import { execa, type ResultPromise } from 'execa';
import { spawnSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants,
  copyFileSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { hash64Hex } from '../../src/names';
import { podLockPath } from '../../src/state/lock';
import { audit } from '../support/consistency';
import { bridgePorts, heldLocks, runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { docker, startContainer } from '../support/sandbox';

const info = inject('sandbox');
// Not under the sandbox's 0700 directory: nobody may walk up to the state directory's door, so
// that only the state directory's own rules keep it out.
const dir = mkdtempSync(join(tmpdir(), 'pv-lock-'));
chmodSync(dir, 0o755);
const stateDir = join(dir, 'state');
const BRIDGE = 'lock_br';
const TIMEOUT_MS = 3000;
const config = writeConfig(
  info,
  dir,
  [
    {
      name: 'vlannet',
      bridge: BRIDGE,
      datapathType: 'netdev',
      primary: true,
      vlan: { fromPodName: '^(\\d+)-' },
      ipam: { type: 'host-local', subnet: '10.241.0.0/24', gateway: '10.241.0.1' },
    },
  ],
  { timeoutMs: TIMEOUT_MS },
);
const run = (...args: string[]) => runPlugin(info, args, { config });
const POD = '22-victim';

/** bun, where nobody can run it (a repository under /root is not nobody's to enter). */
function bunForNobody(): string {
  const bun = realpathSync(join(__dirname, '../../node_modules/.bin/bun'));
  try {
    execaSyncAsNobody(bun);
    return bun;
  } catch {
    const copy = join(dir, 'bun');
    copyFileSync(bun, copy);
    chmodSync(copy, 0o755);
    return copy;
  }
}

function execaSyncAsNobody(bun: string): void {
  accessSync(bun, constants.X_OK);
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', bun, '--version']);
  if (r.status !== 0) throw new Error('not runnable by nobody');
}

/** As nobody: bind the old lock's abstract name, try to open and lock the new lock file, report, stay. */
function hostile(bun: string): ResultPromise {
  const oldName = `\0podvlan-${hash64Hex(`${stateDir}\ndefault`)}${hash64Hex(POD)}`;
  const script = `
    const report = {};
    try {
      globalThis.held = Bun.listen({ unix: ${JSON.stringify(oldName)}, socket: { data() {} } });
      report.bind = 'bound';
    } catch (e) { report.bind = e.code; }
    for (const flags of ['r', 'a']) {
      try {
        require('fs').openSync(${JSON.stringify(podLockPath(stateDir, 'default', POD))}, flags);
        report[flags] = 'opened';
      } catch (e) { report[flags] = e.code; }
    }
    console.log(JSON.stringify(report));
    setInterval(() => {}, 1000);`;
  return execa(
    'ip',
    [
      'netns',
      'exec',
      info.netns,
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      'env',
      'HOME=/nonexistent',
      bun,
      '-e',
      script,
    ],
    { buffer: false, reject: false, cwd: '/' },
  );
}

describe('a pod lock no unprivileged user can take', () => {
  let bun = '';
  let holder: ResultPromise | undefined;
  let victim = '';
  beforeAll(async () => {
    bun = bunForNobody();
    expect((await run('init')).exitCode).toBe(0);
    victim = await startContainer(info);
    const r = await run('setup', 'default', POD, victim);
    expect(r.exitCode, r.all).toBe(0);
  });
  afterAll(async () => {
    holder?.kill('SIGKILL');
    await holder;
    await teardownAll(info, config, [BRIDGE]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('nobody cannot reach the lock file; squatting on the old name blocks neither teardown nor gc', async () => {
    holder = hostile(bun);
    const line = await new Promise<string>((resolve) => holder!.stdout!.once('data', (d) => resolve(String(d))));
    const report = JSON.parse(line);
    expect(report).toEqual({ bind: 'bound', r: 'EACCES', a: 'EACCES' });

    const down = await run('teardown', 'default', POD, victim);
    expect(down.exitCode, down.all).toBe(0);
    expect(down.all).toMatch(/removed 1 port\(s\)/);
    expect(down.ms).toBeLessThan(TIMEOUT_MS / 2);
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);

    // Set up again, let the container die: gc must collect the pod, not skip it as busy.
    expect((await run('setup', 'default', POD, victim)).exitCode).toBe(0);
    await docker(info, ['kill', victim]);
    // A lock file no pod names (a teardown killed before it removed it) goes too, under its lock.
    writeFileSync(join(stateDir, 'locks', `${'0'.repeat(16)}-${'0'.repeat(16)}.lock`), '', { mode: 0o600 });
    const gc = await run('gc', '-o', 'json');
    expect(gc.exitCode, gc.all).toBe(0);
    type Action = { action: string; namespace?: string; pod?: string };
    const result = JSON.parse(gc.stdout) as { actions: Action[]; busy: string[] };
    expect(result.busy).toEqual([]);
    const removed = result.actions.filter((a) => a.action === 'remove-port').map((a) => `${a.namespace}/${a.pod}`);
    expect(removed).toEqual([`default/${POD}`]);
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
    // Nothing of the pod is left, and neither is its lock file.
    expect(heldLocks(stateDir)).toEqual([]);
    expect(readdirSync(join(stateDir, 'locks'))).toEqual([]);
  });
});
