import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findConfigPath, loadConfig, parseConfig, SYSTEM_CONFIG } from '../../src/config/load';
import { ConfigError } from '../../src/errors';

const PATH = '/etc/podvlan/test.yaml';

const VALID = String.raw`
ovsdb: unix:/var/run/openvswitch/db.sock
logFile: /var/log/podvlan.log
stateDir: /var/lib/podvlan
runtime:
  docker: { socket: /var/run/docker.sock }
networks:
  - name: vlannet
    bridge: k8s_br
    datapathType: system
    interface: eth1
    mtu: 1500
    primary: false
    match: { namespace: "^prod-", podName: "^\\d+-" }
    vlan: { fromPodName: "^(\\d+)-" }
    ipam: { type: host-local, subnet: 10.231.0.0/24, rangeStart: 10.231.0.10, rangeEnd: 10.231.0.250, gateway: 10.231.0.1 }
`;

const net = (extra = '', name = 'a', vlan = '{ id: 5 }') =>
  `  - name: ${name}\n    bridge: br0\n    vlan: ${vlan}\n${extra}`;
const cfg = (...networks: string[]) => `networks:\n${networks.join('')}`;
const hostLocal = (fields: string) => `    ipam: { type: host-local, subnet: 10.231.0.0/24${fields} }\n`;

/** parseConfig must throw one ConfigError line naming the file, the field and the problem. */
const expectConfigError = (text: string, field: string, what: RegExp) => {
  let caught: unknown;
  try {
    parseConfig(text, PATH);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const msg = (caught as ConfigError).message;
  expect(msg).toContain(PATH);
  expect(msg).toContain(`${field}:`);
  expect(msg).toMatch(what);
  expect(msg).not.toContain('\n');
  expect((caught as ConfigError).exitCode).toBe(3);
};

describe('parseConfig', () => {
  it('parses the documented example and fills defaults', () => {
    const c = parseConfig(VALID, PATH);
    expect(c.timeoutMs).toBe(10000);
    expect(c.networks).toHaveLength(1);
    expect(c.networks[0]).toEqual({
      name: 'vlannet',
      bridge: 'k8s_br',
      datapathType: 'system',
      interface: 'eth1',
      mtu: 1500,
      primary: false,
      match: { namespace: '^prod-', podName: '^\\d+-' },
      vlan: { fromPodName: '^(\\d+)-' },
      ipam: {
        type: 'host-local',
        subnet: '10.231.0.0/24',
        rangeStart: '10.231.0.10',
        rangeEnd: '10.231.0.250',
        gateway: '10.231.0.1',
        exclude: [],
        routes: [],
      },
    });
  });

  it('fills every default for a minimal config', () => {
    const c = parseConfig(cfg(net()), PATH);
    expect(c).toEqual({
      ovsdb: 'unix:/var/run/openvswitch/db.sock',
      logFile: '/var/log/podvlan.log',
      stateDir: '/var/lib/podvlan',
      timeoutMs: 10000,
      runtime: { docker: { socket: '/var/run/docker.sock' } },
      networks: [
        {
          name: 'a',
          bridge: 'br0',
          interface: 'eth1',
          mtu: 1500,
          primary: false,
          match: {},
          vlan: { id: 5 },
        },
      ],
      bridges: [],
    });
  });

  it('accepts JSON text', () => {
    const json = JSON.stringify({
      ovsdb: 'tcp:127.0.0.1:6640',
      networks: [{ name: 'n', bridge: 'br', vlan: { id: 100 }, ipam: { type: 'static', address: '10.0.0.5/24' } }],
    });
    const c = parseConfig(json, PATH);
    expect(c.ovsdb).toBe('tcp:127.0.0.1:6640');
    expect(c.networks[0].ipam).toEqual({ type: 'static', address: '10.0.0.5/24', routes: [] });
  });

  it.each([
    [
      'bad match regex',
      cfg(net('    match: { namespace: "(" }\n')),
      'networks.0.match.namespace',
      /not a valid regular expression/,
    ],
    [
      'bad vlan regex',
      cfg(net('', 'a', '{ fromPodName: "(" }')),
      'networks.0.vlan.fromPodName',
      /not a valid regular expression/,
    ],
    [
      'vlan regex without a group',
      cfg(net('', 'a', '{ fromPodName: "^x" }')),
      'networks.0.vlan.fromPodName',
      /capture group/,
    ],
    ['vlan id 0', cfg(net('', 'a', '{ id: 0 }')), 'networks.0.vlan.id', />=1/],
    ['vlan id 4095', cfg(net('', 'a', '{ id: 4095 }')), 'networks.0.vlan.id', /<=4094/],
    [
      'rangeStart outside subnet',
      cfg(net(hostLocal(', rangeStart: 10.231.1.10'))),
      'networks.0.ipam.rangeStart',
      /10\.231\.1\.10 is outside subnet 10\.231\.0\.0\/24/,
    ],
    ['gateway outside subnet', cfg(net(hostLocal(', gateway: 10.0.0.1'))), 'networks.0.ipam.gateway', /outside subnet/],
    [
      'rangeStart after rangeEnd',
      cfg(net(hostLocal(', rangeStart: 10.231.0.200, rangeEnd: 10.231.0.100'))),
      'networks.0.ipam.rangeEnd',
      /before rangeStart/,
    ],
    [
      'bad subnet',
      cfg(net('    ipam: { type: host-local, subnet: 10.231.0.0 }\n')),
      'networks.0.ipam.subnet',
      /not an IP prefix \(address\/len\)/,
    ],
    [
      'bad rangeStart address',
      cfg(net(hostLocal(', rangeStart: 10.231.0.999'))),
      'networks.0.ipam.rangeStart',
      /not an IP address/,
    ],
    [
      'two primary networks',
      cfg(net('    primary: true\n', 'a'), net('    primary: true\n', 'b')),
      'networks',
      /at most one network may be primary/,
    ],
    ['duplicate network names', cfg(net('', 'a'), net('', 'a')), 'networks.1.name', /duplicate network name "a"/],
    [
      'a network and its bridges entry disagree on the datapath type',
      `${cfg(net('    datapathType: system\n'))}bridges:\n  - { name: br0, datapathType: netdev }\n`,
      'networks.0.datapathType',
      /network a says datapathType system but bridges entry br0 says netdev/,
    ],
    [
      'a network that does not fit its bridge uplinks mtu',
      `${cfg(net('    mtu: 9000\n'))}bridges:\n  - { name: br0, uplinks: [eth2], mtu: 1500 }\n`,
      'networks.0.mtu',
      /network a's mtu 9000 does not fit bridge br0's uplink mtu 1500/,
    ],
    [
      'one uplink on two bridges',
      `${cfg(net())}bridges:\n  - { name: br0, uplinks: [eth2] }\n  - { name: br1, uplinks: [eth2] }\n`,
      'bridges.1.uplinks.0',
      /uplink eth2 is listed for bridge br0 and bridge br1/,
    ],
    [
      'a bridge listed twice',
      `${cfg(net())}bridges:\n  - { name: br0 }\n  - { name: br0 }\n`,
      'bridges.1.name',
      /bridge br0 is listed twice/,
    ],
    [
      'one bridge, two datapath types',
      cfg(net('    datapathType: netdev\n', 'a'), net('', 'b')),
      'networks.1.datapathType',
      /two datapath types/,
    ],
    [
      '16-character interface name',
      cfg(net('    interface: eth1234567890123\n')),
      'networks.0.interface',
      /1-15 characters/,
    ],
    ['ovsdb not unix: or tcp:', `ovsdb: http://localhost:6640\n${cfg(net())}`, 'ovsdb', /unix:\/PATH or tcp:HOST:PORT/],
    ['ovsdb unix: relative path', `ovsdb: unix:db.sock\n${cfg(net())}`, 'ovsdb', /unix:\/PATH/],
    ['empty file', '', 'networks', /expected array/],
    ['comment-only file', '# nothing\n', 'networks', /expected array/],
  ])('rejects %s', (_label, text, field, what) => {
    expectConfigError(text, field, what);
  });

  it.each([
    [
      'a mistyped network key',
      cfg(net().replace('bridge:', 'brige:')),
      'unknown key "brige" in networks[0] (did you mean "bridge"?)',
    ],
    [
      'a mistyped top-level key',
      `stateDri: /x\n${cfg(net())}`,
      'unknown key "stateDri" at the top level (did you mean "stateDir"?)',
    ],
    ['a key in the wrong case', cfg(net('    MTU: 1400\n')), 'unknown key "MTU" in networks[0] (did you mean "mtu"?)'],
    [
      'a mistyped key of a VLAN (a union)',
      cfg(net('', 'a', '{ idd: 5 }')),
      'unknown key "idd" in networks[0].vlan (did you mean "id"?)',
    ],
    [
      'a mistyped ipam key',
      cfg(net(hostLocal(', rangeStrat: 10.231.0.10'))),
      'unknown key "rangeStrat" in networks[0].ipam (did you mean "rangeStart"?)',
    ],
    [
      'a swapped pair of letters',
      cfg(net('    mut: 1400\n')),
      'unknown key "mut" in networks[0] (did you mean "mtu"?)',
    ],
    ['a key like none', `colour: red\n${cfg(net())}`, 'unknown key "colour" at the top level'],
    ['an unknown network key', cfg(net('    colour: red\n')), 'unknown key "colour" in networks[0]'],
  ])('names %s, and the key it likely meant', (_label, text, what) => {
    let caught: unknown;
    try {
      parseConfig(text, PATH);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as Error).message).toBe(`config ${PATH}: ${what}`);
  });

  it('shows the offending line of a YAML error, not a dangling colon', () => {
    const message = (text: string) => {
      try {
        parseConfig(text, PATH);
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    };
    expect(message('networks:\n- name: a\n  bridge: b: c\n')).toBe(
      `config ${PATH} is not valid YAML: ` +
        'Nested mappings are not allowed in compact mappings at line 3, column 11: "  bridge: b: c"',
    );
    expect(message('networks: [ {name: x\n\n')).toMatch(/at line 3, column 1: after line 1, "networks: \[ \{name: x"$/);
  });

  it('rejects malformed YAML with one line naming the file', () => {
    for (const text of ['networks: [\n', 'a: b: c\n', 'networks:\n  - name: a\n   bridge: x\n']) {
      let caught: unknown;
      try {
        parseConfig(text, PATH);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as Error).message).toContain(`config ${PATH} is not valid YAML`);
      expect((caught as Error).message).not.toContain('\n');
    }
  });
});

describe('findConfigPath', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  const withBeside = () => {
    dir = mkdtempSync(join(tmpdir(), 'podvlan-cfg-'));
    writeFileSync(join(dir, 'podvlan.yaml'), 'networks: []\n');
    return { exec: join(dir, 'podvlan'), beside: join(dir, 'podvlan.yaml') };
  };

  it('prefers the explicit flag over everything', () => {
    const { exec } = withBeside();
    expect(findConfigPath('/x/flag.yaml', { PODVLAN_CONFIG: '/x/env.yaml' }, exec)).toBe('/x/flag.yaml');
  });
  it('then $PODVLAN_CONFIG', () => {
    const { exec } = withBeside();
    expect(findConfigPath(undefined, { PODVLAN_CONFIG: '/x/env.yaml' }, exec)).toBe('/x/env.yaml');
  });
  it('then podvlan.yaml beside the executable, if it exists', () => {
    const { exec, beside } = withBeside();
    expect(findConfigPath(undefined, {}, exec)).toBe(beside);
    expect(findConfigPath(undefined, { PODVLAN_CONFIG: '' }, exec)).toBe(beside);
  });
  it('then the system path', () => {
    dir = mkdtempSync(join(tmpdir(), 'podvlan-cfg-'));
    mkdirSync(join(dir, 'bin'));
    expect(findConfigPath(undefined, {}, join(dir, 'bin', 'podvlan'))).toBe(SYSTEM_CONFIG);
    expect(SYSTEM_CONFIG).toBe('/etc/podvlan/podvlan.yaml');
  });
});

describe('loadConfig', () => {
  it('reads and validates the given file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'podvlan-cfg-'));
    try {
      const path = join(dir, 'c.yaml');
      writeFileSync(path, VALID);
      const { path: used, config } = loadConfig(path);
      expect(used).toBe(path);
      expect(config.networks[0].name).toBe('vlannet');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('throws a ConfigError naming a missing file', () => {
    expect(() => loadConfig('/nonexistent/podvlan.yaml')).toThrow(ConfigError);
    expect(() => loadConfig('/nonexistent/podvlan.yaml')).toThrow(
      'cannot read config /nonexistent/podvlan.yaml: no such file',
    );
  });
});
