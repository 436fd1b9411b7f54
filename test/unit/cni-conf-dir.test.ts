// init's view of a CNI node: the podvlan networks of a conf dir, joined to podvlan.yaml's.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeNetworks, readCniNetworks } from '../../src/cni/conf-dir';
import { parseConfig } from '../../src/config/load';
import { ConfigError } from '../../src/errors';

const dir = mkdtempSync(join(tmpdir(), 'podvlan-conf-dir-'));
const nodeYaml = join(dir, 'podvlan.yaml');
writeFileSync(nodeYaml, 'ovsdb: unix:/run/x/db.sock\nbridges:\n  - { name: br0, uplinks: [eth2] }\n');
const node = parseConfig('ovsdb: unix:/run/x/db.sock\nbridges:\n  - { name: br0, uplinks: [eth2] }\n', nodeYaml, {
  networks: 'optional',
});
const write = (name: string, value: unknown) => writeFileSync(join(dir, name), JSON.stringify(value));
const entry = (vlan: number, extra = {}) => ({
  type: 'podvlan',
  bridge: 'br0',
  vlan: { id: vlan },
  nodeConfig: nodeYaml,
  ...extra,
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a podvlan.yaml for init', () => {
  it('may leave networks out; the usual schema still wants them', () => {
    expect(node.networks).toEqual([]);
    expect(() => parseConfig('ovsdb: unix:/run/x/db.sock\n', '/p.yaml')).toThrow(/networks/);
  });
});

describe('readCniNetworks and nodeNetworks', () => {
  it('takes the podvlan entries of conflists and confs, with the list name and version put in', () => {
    write('10-a.conflist', { cniVersion: '1.0.0', name: 'a', plugins: [entry(22), { type: 'tuning' }] });
    write('20-b.conf', { cniVersion: '0.4.0', name: 'b', ...entry(23) });
    write('30-other.conflist', {
      cniVersion: '1.0.0',
      name: 'o',
      plugins: [{ type: 'bridge', ipam: { type: 'podvlan' } }],
    });
    writeFileSync(join(dir, '40-notes.txt'), 'podvlan {');
    writeFileSync(join(dir, '50-junk.json'), 'not json');
    const found = readCniNetworks(dir, true);
    expect(found.map((c) => [c.network.name, c.network.vlan, c.file.slice(dir.length + 1)])).toEqual([
      ['a', { id: 22 }, '10-a.conflist'],
      ['b', { id: 23 }, '20-b.conf'],
    ]);
    const joined = nodeNetworks(node, found, dir);
    expect(joined.networks.map((n) => n.name)).toEqual(['a', 'b']);
    expect(joined.read).toEqual([`a (${join(dir, '10-a.conflist')})`, `b (${join(dir, '20-b.conf')})`]);
  });

  it('a missing default dir is empty; a missing given dir, or none anywhere, is refused', () => {
    expect(readCniNetworks(join(dir, 'nope'), false)).toEqual([]);
    expect(() => readCniNetworks(join(dir, 'nope'), true)).toThrow(/cannot read CNI conf dir/);
    expect(() => nodeNetworks(node, [], dir)).toThrow(ConfigError);
  });

  it('leaves out a network on another OVSDB and refuses a name podvlan.yaml has', () => {
    const found = readCniNetworks(dir, true);
    const other = { ...found[0], config: { ...found[0].config, ovsdb: 'unix:/elsewhere.sock' } };
    expect(nodeNetworks(node, [other, found[1]], dir).skipped).toEqual([
      `CNI network a (${other.file}) is on OVSDB unix:/elsewhere.sock, not unix:/run/x/db.sock: left out`,
    ]);
    const withA = { ...node, networks: [found[0].network] };
    expect(() => nodeNetworks(withA, found, dir)).toThrow(/network a is in .*10-a\.conflist and in the podvlan config/);
  });
});
