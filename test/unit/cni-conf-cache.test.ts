// The CNI config cache (src/cni/conf-cache.ts): a hit gives what was validated for the very same
// config, a miss validates afresh, per-call keys always come from this call's stdin, and a cache
// file that is not root's own 0600 regular file is never believed. A hit is recognised by
// poisoning the cached value: if the cache is used, the poisoned value comes back.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadNetConf } from '../../src/cni/conf-cache';
import { CniError } from '../../src/cni/spec';

const BUN = resolve(__dirname, '../../node_modules/.bin/bun');

describe('loadNetConf (the CNI config cache)', () => {
  let dir: string;
  let stateDir: string;
  let nodeConfig: string;
  const conf = (extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.0.0',
    name: 'cachenet',
    type: 'podvlan',
    bridge: 'br0',
    vlan: { id: 22 },
    ipam: { type: 'podvlan', pool: { type: 'host-local', subnet: '10.9.0.0/24' } },
    stateDir,
    nodeConfig,
    ...extra,
  });
  const text = (extra: Record<string, unknown> = {}) => JSON.stringify(conf(extra));
  const cacheFiles = () => readdirSync(stateDir).filter((f) => f.startsWith('.cni-conf-'));
  const cacheFile = () => {
    const files = cacheFiles();
    expect(files).toHaveLength(1);
    return join(stateDir, files[0]);
  };
  /** Rewrites the cached value (keeping the file root's own 0600): a hit then answers VLAN 99. */
  const poison = () => {
    const file = cacheFile();
    const cache = JSON.parse(readFileSync(file, 'utf8'));
    cache.conf.network.vlan = { id: 99 };
    cache.conf.config.networks[0].vlan = { id: 99 };
    writeFileSync(`${file}.new`, JSON.stringify(cache), { mode: 0o600 });
    renameSync(`${file}.new`, file);
    return file;
  };
  const vlanOf = async (t: string, ifname = 'eth0') => (await loadNetConf(t, ifname)).network.vlan;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'podvlan-cnicache-'));
    stateDir = join(dir, 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    nodeConfig = join(dir, 'podvlan.yaml');
    writeFileSync(nodeConfig, `logFile: ${dir}/podvlan.log\n`);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('validates once, writes a root-only cache file, then serves the same config from it', async () => {
    const first = await loadNetConf(text(), 'eth0');
    expect(first.network).toMatchObject({ name: 'cachenet', interface: 'eth0', vlan: { id: 22 } });
    expect(first.config.logFile).toBe(`${dir}/podvlan.log`);
    const file = cacheFile();
    expect(execFileSync('stat', ['-c', '%a %u', file], { encoding: 'utf8' }).trim()).toBe('600 0');
    poison();
    expect(await vlanOf(text())).toEqual({ id: 99 });
  });

  it('keeps per-call keys out of the cache and hands this call its own', async () => {
    const call = (n: number) =>
      text({
        runtimeConfig: { mac: `02:00:00:00:00:0${n}` },
        args: { cni: { ips: [`10.9.0.${n}`] } },
        prevResult: { cniVersion: '1.0.0', ips: [{ address: `10.9.0.${n}/24` }] },
        'cni.dev/valid-attachments': [{ containerID: `c${n}`, ifname: 'eth0' }],
      });
    const first = await loadNetConf(call(1), 'eth0');
    expect(first.perCall.runtimeConfig).toEqual({ mac: '02:00:00:00:00:01' });
    const stored = readFileSync(cacheFile(), 'utf8');
    for (const word of ['runtimeConfig', '02:00:00:00:00:01', 'prevResult', '10.9.0.1/24', 'cni.dev', '"args"'])
      expect(stored).not.toContain(word);
    poison();
    const second = await loadNetConf(call(2), 'eth0');
    expect(second.network.vlan).toEqual({ id: 99 }); // a hit, though every per-call key changed
    expect(second.perCall).toEqual({
      runtimeConfig: { mac: '02:00:00:00:00:02' },
      args: { cni: { ips: ['10.9.0.2'] } },
      prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.9.0.2/24' }] },
      'cni.dev/valid-attachments': [{ containerID: 'c2', ifname: 'eth0' }],
    });
    expect(second.prevResult).toEqual(second.perCall.prevResult);
    // And a call without them gets none from an earlier one.
    const bare = await loadNetConf(text(), 'eth0');
    expect(bare.perCall).toEqual({});
    expect(bare.prevResult).toBeUndefined();
  });

  it('misses when any other key of the config changes, or the interface', async () => {
    await loadNetConf(text(), 'eth0');
    poison();
    expect(await vlanOf(text({ mtu: 1400 }))).toEqual({ id: 22 });
    poison();
    expect(await vlanOf(text({ unknownKeyPodvlanMayReadOneDay: 1 }))).toEqual({ id: 22 });
    poison();
    expect(await vlanOf(text(), 'net1')).toEqual({ id: 22 });
    expect((await loadNetConf(text(), 'net1')).network.interface).toBe('net1');
  });

  it('misses when the nodeConfig file changes, even to the same size and mtime', async () => {
    await loadNetConf(text(), 'eth0');
    poison();
    const before = readFileSync(nodeConfig, 'utf8');
    const edited = before.replace('podvlan.log', 'podvlan.LOG');
    expect(edited.length).toBe(before.length);
    writeFileSync(nodeConfig, edited);
    utimesSync(nodeConfig, new Date(0), new Date(0));
    const again = await loadNetConf(text(), 'eth0');
    expect(again.network.vlan).toEqual({ id: 22 });
    expect(again.config.logFile).toBe(`${dir}/podvlan.LOG`);
    // A node config replaced by another file (another inode) misses too.
    poison();
    writeFileSync(`${nodeConfig}.new`, edited);
    renameSync(`${nodeConfig}.new`, nodeConfig);
    expect(await vlanOf(text())).toEqual({ id: 22 });
  });

  it('misses when any part of the cache file key differs from this call', async () => {
    await loadNetConf(text(), 'eth0');
    for (const field of ['format', 'version', 'executable', 'ifname', 'nodeConfig', 'text']) {
      const file = poison();
      const cache = JSON.parse(readFileSync(file, 'utf8'));
      cache[field] = field === 'format' ? cache.format + 1 : `${cache[field]}x`;
      writeFileSync(file, JSON.stringify(cache));
      expect(await vlanOf(text()), field).toEqual({ id: 22 });
    }
  });

  it('keeps a "__proto__" key a key: in the cache key, and no source of nodeConfig', async () => {
    const other = join(dir, 'other.yaml');
    writeFileSync(other, `logFile: ${dir}/other.log\n`);
    const t = text().replace('{', `{"__proto__":{"nodeConfig":${JSON.stringify(other)}},`);
    expect((await loadNetConf(t, 'eth0')).config.logFile).toBe(`${dir}/podvlan.log`);
    const cache = JSON.parse(readFileSync(cacheFile(), 'utf8'));
    expect(cache.text).toContain('"__proto__":{"nodeConfig"');
    // The identity is that of the file parseNetConf read: editing the other one changes nothing.
    const st = statSync(nodeConfig);
    expect(cache.nodeConfig.startsWith(`${st.dev}:${st.ino}:`)).toBe(true);
  });

  it('finds the state directory through the node config when the network config names none', async () => {
    const nodeState = join(dir, 'node-state');
    writeFileSync(nodeConfig, `stateDir: ${nodeState}\n`);
    mkdirSync(nodeState, { mode: 0o700 });
    const t = text({ stateDir: undefined });
    expect((await loadNetConf(t, 'eth0')).config.stateDir).toBe(nodeState);
    stateDir = nodeState;
    poison();
    expect(await vlanOf(t)).toEqual({ id: 99 });
  });

  it('ignores a cache file that is not root-only 0600, not root’s, linked twice, or a symbolic link', async () => {
    await loadNetConf(text(), 'eth0');
    const file = poison();
    chmodSync(file, 0o644);
    expect(await vlanOf(text())).toEqual({ id: 22 }); // and the miss replaced it
    poison();
    chownSync(file, 1000, 1000);
    expect(await vlanOf(text())).toEqual({ id: 22 });
    poison();
    linkSync(file, join(dir, 'second-name'));
    expect(await vlanOf(text())).toEqual({ id: 22 });
    rmSync(join(dir, 'second-name'));
    poison();
    renameSync(file, join(dir, 'elsewhere.json'));
    symlinkSync(join(dir, 'elsewhere.json'), file);
    expect(await vlanOf(text())).toEqual({ id: 22 });
  });

  it('uses no cache in a state directory that fails its check (group-writable), and still answers', async () => {
    await loadNetConf(text(), 'eth0');
    poison();
    chmodSync(stateDir, 0o770);
    expect(await vlanOf(text())).toEqual({ id: 22 });
  });

  it('never caches an invalid config, nor a text JSON cannot write back exactly', async () => {
    const bad = text({ vlan: { id: 5000 } });
    for (let i = 0; i < 2; i++) await expect(loadNetConf(bad, 'eth0')).rejects.toThrow(CniError);
    expect(cacheFiles()).toEqual([]);
    // 1e999 is Infinity, which JSON writes back as null: such a config is validated on every call.
    const infinite = text({ note: 'x' }).replace('"note":"x"', '"note":1e999');
    expect((await loadNetConf(infinite, 'eth0')).network.vlan).toEqual({ id: 22 });
    expect(cacheFiles()).toEqual([]);
  });

  it('a hit loads neither zod nor YAML; another executable misses (a fresh bun process each)', async () => {
    const script = join(dir, 'probe.ts');
    writeFileSync(
      script,
      `const { loadNetConf } = await import(${JSON.stringify(resolve(__dirname, '../../src/cni/conf-cache'))});
const conf = await loadNetConf(process.argv[2], 'eth0');
const heavy = Object.keys(require.cache).filter((k) => /node_modules\\/(zod|yaml)\\//.test(k));
console.log(JSON.stringify({ vlan: conf.network.vlan, heavy: heavy.length }));
`,
    );
    const probe = () => JSON.parse(execFileSync(BUN, [script, text()], { encoding: 'utf8' }));
    // Cached by this test's process (node): another executable misses, and validates.
    await loadNetConf(text(), 'eth0');
    poison();
    expect(probe()).toEqual({ vlan: { id: 22 }, heavy: expect.any(Number) });
    expect(probe().heavy).toBe(0);
    poison();
    expect(probe()).toEqual({ vlan: { id: 99 }, heavy: 0 });
  });
});
