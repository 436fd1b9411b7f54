// The CNI config cache in the executable, on the sandbox's OVS: calls after the first use the
// validated config kept in the state directory (a poisoned cache shows it), an edited node config
// is read afresh, and a cache file that is not root-only is never believed.
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { addNetns, cni, delNetns } from '../support/cni';
import { ovsVsctl, portTag } from '../support/plugin';

const info = inject('sandbox');
const dir = join(info.dir, 'cni-conf-cache');
const stateDir = join(dir, 'state');
const nodeConfig = join(dir, 'podvlan.yaml');
const BRIDGE = 'ccache_br';
const made: string[] = [];
const conf = {
  cniVersion: '1.0.0',
  name: 'ccache',
  type: 'podvlan',
  bridge: BRIDGE,
  datapathType: 'netdev',
  vlan: { id: 22 },
  nodeConfig,
};
const writeNodeConfig = (log: string) =>
  writeFileSync(nodeConfig, `ovsdb: ${info.ovsdb}\nstateDir: ${stateDir}\nlogFile: ${join(dir, log)}\n`);
const cacheFile = () => {
  const files = readdirSync(stateDir).filter((f) => f.startsWith('.cni-conf-'));
  expect(files).toHaveLength(1);
  return join(stateDir, files[0]);
};
/** Rewrites the cached VLAN to 99 (mode 0600 kept unless given): a hit then tags the port 99. */
function poison(mode = 0o600): void {
  const file = cacheFile();
  const cache = JSON.parse(readFileSync(file, 'utf8'));
  cache.conf.network.vlan = { id: 99 };
  cache.conf.config.networks[0].vlan = { id: 99 };
  writeFileSync(`${file}.new`, JSON.stringify(cache), { mode: 0o600 });
  chmodSync(`${file}.new`, mode);
  renameSync(`${file}.new`, file);
}

let n = 0;
/** ADD of a fresh netns; the tag of its port. */
async function addOne(): Promise<{ tag: string; port: string }> {
  const name = `ccache-${process.pid}-${n++}`;
  made.push(name);
  const r = await cni(info, 'ADD', conf, { containerId: `ccache-${n}`, netns: await addNetns(name) });
  expect(r.exitCode, r.stdout).toBe(0);
  const port = (r.json as { interfaces: { name: string }[] }).interfaces[0].name;
  return { port, tag: await portTag(info, port) };
}

beforeAll(() => {
  mkdirSync(dir, { recursive: true });
  writeNodeConfig('first.log');
});
afterAll(async () => {
  for (const name of made) await delNetns(name);
  await ovsVsctl(info, ['--if-exists', 'del-br', BRIDGE]);
});

describe('CNI config cache (compiled executable)', () => {
  it('keeps the validated config root-only in the state directory, and uses it', async () => {
    expect((await addOne()).tag).toBe('22'); // makes the state directory
    expect((await addOne()).tag).toBe('22'); // writes the cache
    const file = cacheFile();
    expect(readFileSync(file, 'utf8')).toContain(`"logFile":"${join(dir, 'first.log')}"`);
    poison();
    expect((await addOne()).tag).toBe('99');
  });

  it('ignores a cache file others may read or write, and replaces it', async () => {
    poison(0o644);
    expect((await addOne()).tag).toBe('22');
    expect(readFileSync(cacheFile(), 'utf8')).not.toContain('"id":99');
  });

  it('reads an edited node config afresh', async () => {
    poison();
    writeNodeConfig('second.log');
    const { tag, port } = await addOne();
    expect(tag).toBe('22');
    expect(readFileSync(join(dir, 'second.log'), 'utf8')).toContain(port);
  });
});
