// What the views read of OVSDB: a pod trunk port's row must come back with its trunks column, or
// every healthy trunk port reads as "emptied by hand" (trunk all, tag-differs).
import { describe, expect, it } from 'vitest';
import type { OvsdbClient } from '../../src/ovs/client';
import { toExternalIds } from '../../src/ovs/attachment';
import { map, set, uuid } from '../../src/ovs/values';
import { judgeAttachment } from '../../src/view/judge';
import { readOvs } from '../../src/view/read-ovs';
import { attachment } from './fixtures/node-facts';

/** A client that answers each select from the columns it asked for, as ovsdb-server does. */
function fakeClient(portRow: Record<string, unknown>): OvsdbClient {
  const transact = async (ops: { op: string; table: string; columns?: string[] }[]) =>
    ops.map((o) => {
      if (o.table !== 'Port' || o.op !== 'select') return { rows: [] };
      const row = Object.fromEntries(Object.entries(portRow).filter(([k]) => !o.columns || o.columns.includes(k)));
      return { rows: [row] };
    });
  return { transact } as unknown as OvsdbClient;
}

describe('readOvs', () => {
  it("reads a pod trunk port's trunks column: a healthy trunk port is not tag-differs", async () => {
    const a = { ...attachment({ pod: 'router-0', tag: 0 }), trunks: '100-110', vlan: undefined };
    delete a.vlan;
    const row = {
      _uuid: uuid('5f1b0000-0000-4000-8000-000000000001'),
      name: a.port,
      tag: set([]),
      trunks: set(Array.from({ length: 11 }, (_, i) => 100 + i)),
      external_ids: map(toExternalIds(a)),
    };
    const snapshot = await readOvs(fakeClient(row), []);
    const [{ attachment: read }] = snapshot.podPorts;
    expect(read).toMatchObject({ trunks: '100-110', recordedTrunks: '100-110' });
    expect(judgeAttachment(read, { port: { bridge: a.bridge, ofport: 2 } }).map((p) => p.code)).not.toContain(
      'tag-differs',
    );
  });
});
