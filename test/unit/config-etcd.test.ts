import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load';
import { ConfigError } from '../../src/errors';

const PATH = '/etc/podvlan/test.yaml';
const ETCD = 'etcd: { endpoints: [http://10.0.0.1:2379] }\n';
const net = (name: string, vlan: string, extra = '', bridge = 'br0') =>
  `  - name: ${name}\n    bridge: ${bridge}\n    vlan: ${vlan}\n${extra}`;
const cfg = (top: string, ...networks: string[]) => `${top}networks:\n${networks.join('')}`;
const etcdIpam = (fields = '') => `    ipam: { type: etcd, subnet: 10.40.0.0/16${fields} }\n`;

const expectConfigError = (text: string, field: string, what: RegExp) => {
  let caught: unknown;
  try {
    parseConfig(text, PATH);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const msg = (caught as ConfigError).message;
  expect(msg).toContain(`${PATH}: ${field}:`);
  expect(msg).toMatch(what);
  expect(msg).not.toContain('\n');
};

describe('config: etcd section, VLAN pools and etcd IPAM', () => {
  it('parses a full cluster-wide config and fills defaults', () => {
    const c = parseConfig(
      `
nodeName: node-a.example
etcd:
  endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]
  prefix: /clusters/one/podvlan
  tls: { ca: /etc/podvlan/ca.pem, cert: /etc/podvlan/client.pem, key: /etc/podvlan/client.key }
  username: podvlan
  password: s3cret
  timeoutMs: 3000
networks:
  - name: tenant
    bridge: br-pods
    vlan: { pool: "100-199" }
    ipam:
      type: etcd
      subnet: 10.40.0.0/16
      rangeStart: 10.40.1.0
      rangeEnd: 10.40.1.255
      gateway: 10.40.0.1
      exclude: [10.40.1.1]
      fixed: [{ namespace: shop, pod: db-0, address: 10.40.0.10 }]
  - name: per-pod
    bridge: br-pods
    vlan: { pool: "200-299", per: pod }
`,
      PATH,
    );
    expect(c.nodeName).toBe('node-a.example');
    expect(c.etcd).toEqual({
      endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'],
      prefix: '/clusters/one/podvlan',
      tls: { ca: '/etc/podvlan/ca.pem', cert: '/etc/podvlan/client.pem', key: '/etc/podvlan/client.key' },
      username: 'podvlan',
      password: 's3cret',
      timeoutMs: 3000,
    });
    expect(c.networks[0].vlan).toEqual({ pool: '100-199', per: 'namespace' });
    expect(c.networks[0].ipam).toEqual({
      type: 'etcd',
      subnet: '10.40.0.0/16',
      rangeStart: '10.40.1.0',
      rangeEnd: '10.40.1.255',
      gateway: '10.40.0.1',
      exclude: ['10.40.1.1'],
      routes: [],
      fixed: [{ namespace: 'shop', pod: 'db-0', address: '10.40.0.10' }],
    });
    expect(c.networks[1].vlan).toEqual({ pool: '200-299', per: 'pod' });
  });

  it('defaults the prefix and leaves nodeName and the etcd timeout to run time', () => {
    const c = parseConfig(cfg(ETCD, net('a', '{ pool: "10-20" }', etcdIpam())), PATH);
    expect(c.etcd).toEqual({ endpoints: ['http://10.0.0.1:2379'], prefix: '/podvlan' });
    expect(c.nodeName).toBeUndefined();
    expect(c.networks[0].ipam).toEqual({ type: 'etcd', subnet: '10.40.0.0/16', exclude: [], routes: [] });
  });

  it('accepts pools on different bridges that overlap, and a fixed VLAN outside a pool on the same bridge', () => {
    expect(() =>
      parseConfig(cfg(ETCD, net('a', '{ pool: "100-199" }'), net('b', '{ pool: "150-250" }', '', 'br1')), PATH),
    ).not.toThrow();
    expect(() => parseConfig(cfg(ETCD, net('a', '{ pool: "100-199" }'), net('b', '{ id: 200 }')), PATH)).not.toThrow();
    expect(() =>
      parseConfig(cfg(ETCD, net('a', '{ pool: "100-199" }'), net('b', '{ fromPodName: "^(\\\\d+)-" }')), PATH),
    ).not.toThrow();
  });

  it.each([
    [
      'etcd IPAM without etcd',
      cfg('', net('a', '{ id: 5 }', etcdIpam())),
      'networks.0.ipam',
      /ipam type etcd needs the top-level etcd section/,
    ],
    [
      'a VLAN pool without etcd',
      cfg('', net('a', '{ pool: "100-199" }')),
      'networks.0.vlan',
      /a VLAN pool needs the top-level etcd section/,
    ],
    [
      'a pool above 4094',
      cfg(ETCD, net('a', '{ pool: "4000-4095" }')),
      'networks.0.vlan.pool',
      /VLAN pool "4000-4095": 4095 is outside 1-4094/,
    ],
    ['a pool starting at 0', cfg(ETCD, net('a', '{ pool: "0-10" }')), 'networks.0.vlan.pool', /0 is outside 1-4094/],
    [
      'a pool start after its end',
      cfg(ETCD, net('a', '{ pool: "199-100" }')),
      'networks.0.vlan.pool',
      /199 is after 100/,
    ],
    [
      'a pool that is no range',
      cfg(ETCD, net('a', '{ pool: "lots" }')),
      'networks.0.vlan.pool',
      /not a range like "100-199"/,
    ],
    ['an unknown per', cfg(ETCD, net('a', '{ pool: "1-9", per: node }')), 'networks.0.vlan.per', /namespace|pod/],
    [
      'overlapping pools on one bridge',
      cfg(ETCD, net('a', '{ pool: "100-199" }'), net('b', '{ pool: "150-250" }')),
      'networks.1.vlan',
      /network b's VLAN pool 150-250 overlaps network a's VLAN pool 100-199 on bridge br0/,
    ],
    [
      'a fixed VLAN inside a pool on one bridge',
      cfg(ETCD, net('a', '{ id: 150 }'), net('b', '{ pool: "100-199" }')),
      'networks.1.vlan',
      /network b's VLAN pool 100-199 overlaps network a's VLAN 150 on bridge br0/,
    ],
    [
      'a pod-name range inside a pool on one bridge',
      cfg(ETCD, net('a', '{ pool: "100-199" }'), net('b', "{ fromPodName: '^(\\d+)-', range: '150-300' }")),
      'networks.1.vlan',
      /network b's VLAN range 150-300 overlaps network a's VLAN pool 100-199 on bridge br0/,
    ],
    [
      'a fixed address outside the subnet',
      cfg(ETCD, net('a', '{ id: 5 }', etcdIpam(', fixed: [{ namespace: ns, pod: p, address: 10.41.0.5 }]'))),
      'networks.0.ipam.fixed.0.address',
      /10\.41\.0\.5 is outside subnet 10\.40\.0\.0\/16/,
    ],
    [
      'a fixed address that is the broadcast',
      cfg(ETCD, net('a', '{ id: 5 }', etcdIpam(', fixed: [{ namespace: ns, pod: p, address: 10.40.255.255 }]'))),
      'networks.0.ipam.fixed.0.address',
      /broadcast/,
    ],
    [
      'a fixed address that is the gateway',
      cfg(
        ETCD,
        net('a', '{ id: 5 }', etcdIpam(', gateway: 10.40.0.1, fixed: [{ namespace: ns, pod: p, address: 10.40.0.1 }]')),
      ),
      'networks.0.ipam.fixed.0.address',
      /is the gateway/,
    ],
    [
      'one fixed address twice',
      cfg(
        ETCD,
        net(
          'a',
          '{ id: 5 }',
          etcdIpam(
            ', fixed: [{ namespace: ns, pod: p, address: 10.40.0.5 }, { namespace: ns, pod: q, address: 10.40.0.5 }]',
          ),
        ),
      ),
      'networks.0.ipam.fixed.1.address',
      /also fixed/,
    ],
    [
      'two fixed addresses for one pod',
      cfg(
        ETCD,
        net(
          'a',
          '{ id: 5 }',
          etcdIpam(
            ', fixed: [{ namespace: ns, pod: p, address: 10.40.0.5 }, { namespace: ns, pod: p, address: 10.40.0.6 }]',
          ),
        ),
      ),
      'networks.0.ipam.fixed.1.pod',
      /already has a fixed address/,
    ],
    [
      'a bad fixed pod name',
      cfg(ETCD, net('a', '{ id: 5 }', etcdIpam(', fixed: [{ namespace: ns, pod: P_1, address: 10.40.0.5 }]'))),
      'networks.0.ipam.fixed.0.pod',
      /DNS-1123 subdomain/,
    ],
    [
      'an etcd rangeStart outside the subnet',
      cfg(ETCD, net('a', '{ id: 5 }', etcdIpam(', rangeStart: 10.41.0.1'))),
      'networks.0.ipam.rangeStart',
      /outside subnet/,
    ],
    [
      'an etcd range in the wrong order',
      cfg(ETCD, net('a', '{ id: 5 }', etcdIpam(', rangeStart: 10.40.2.0, rangeEnd: 10.40.1.0'))),
      'networks.0.ipam.rangeEnd',
      /before rangeStart/,
    ],
    [
      'no endpoints',
      cfg('etcd: { endpoints: [] }\n', net('a', '{ id: 5 }')),
      'etcd.endpoints',
      /too_small|>=1|at least/i,
    ],
    [
      'an endpoint without a scheme',
      cfg('etcd: { endpoints: [10.0.0.1:2379] }\n', net('a', '{ id: 5 }')),
      'etcd.endpoints.0',
      /http:\/\/HOST:PORT or https:\/\/HOST:PORT/,
    ],
    [
      'an endpoint with a path',
      cfg('etcd: { endpoints: [http://10.0.0.1:2379/v3] }\n', net('a', '{ id: 5 }')),
      'etcd.endpoints.0',
      /http:\/\/HOST:PORT/,
    ],
    [
      'a relative prefix',
      cfg('etcd: { endpoints: [http://e:2379], prefix: podvlan }\n', net('a', '{ id: 5 }')),
      'etcd.prefix',
      /key prefix like \/podvlan/,
    ],
    [
      'a prefix with a trailing slash',
      cfg('etcd: { endpoints: [http://e:2379], prefix: /podvlan/ }\n', net('a', '{ id: 5 }')),
      'etcd.prefix',
      /no trailing slash/,
    ],
    [
      'a cert without a key',
      cfg('etcd: { endpoints: [https://e:2379], tls: { cert: /c.pem } }\n', net('a', '{ id: 5 }')),
      'etcd.tls',
      /cert and key go together/,
    ],
    [
      'tls with only http endpoints',
      cfg('etcd: { endpoints: [http://e:2379], tls: { ca: /ca.pem } }\n', net('a', '{ id: 5 }')),
      'etcd.tls',
      /no endpoint is https/,
    ],
    [
      'a password without a user',
      cfg('etcd: { endpoints: [http://e:2379], password: x }\n', net('a', '{ id: 5 }')),
      'etcd.username',
      /password is set without a username/,
    ],
    ['a bad node name', cfg('nodeName: Node_A\n', net('a', '{ id: 5 }')), 'nodeName', /DNS-1123 subdomain/],
  ])('rejects %s', (_label, text, field, what) => {
    expectConfigError(text, field, what);
  });

  it('names an unknown etcd key, and the one it likely meant', () => {
    const text = cfg('etcd: { endpoints: [http://e:2379], prefx: /p }\n', net('a', '{ id: 5 }'));
    expect(() => parseConfig(text, PATH)).toThrow(
      `config ${PATH}: unknown key "prefx" in etcd (did you mean "prefix"?)`,
    );
    expect(() =>
      parseConfig(cfg('etcd: { endpoints: [http://e:2379], lease: 5 }\n', net('a', '{ id: 5 }')), PATH),
    ).toThrow(`config ${PATH}: unknown key "lease" in etcd`);
  });
});
