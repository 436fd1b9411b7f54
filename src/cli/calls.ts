// What the CLI does around setup and teardown, shared by the kubelet's fast path (fast.ts) and
// the full commander program (program.ts): load the context, run, print.
import type { NodeNetworks } from '../cni/conf-dir';
import type { Context } from '../commands/context';
import { type LoadOptions, loadConfigCached } from '../config/cached';
import { Logger } from '../log';
import type { PodRef } from '../names';
import { callStart, type Failure, recordCall } from '../state/call-log';
import { type Io, setFailureLog } from './edge';

export type { Io } from './edge';

export async function loadContext(
  configFlag: string | undefined,
  opts: LoadOptions = { createStateDir: true },
): Promise<Context> {
  const { config } = await loadConfigCached(configFlag, opts);
  const log = new Logger(config.logFile);
  setFailureLog(log);
  return { config, log };
}

/** The context of a command that looks at the whole node (init and the views): podvlan.yaml, whose
 * networks are optional, joined with the podvlan networks of the CNI conf dir (a CNI node's, where
 * the conflists hold the networks). cniConfDir given: it must exist; default /etc/cni/net.d, read
 * when it exists. A conflist that cannot be taken fails the command in one line naming the file. */
export async function loadNodeContext(
  configFlag: string | undefined,
  cniConfDir: string | undefined,
): Promise<{ ctx: Context; cni: Pick<NodeNetworks, 'read' | 'skipped'> }> {
  const { DEFAULT_CNI_CONF_DIR, nodeNetworks, readCniNetworks } = await import('../cni/conf-dir'); // off the fast path
  const ctx = await loadContext(configFlag, { createStateDir: true, networks: 'optional' });
  const dir = cniConfDir ?? DEFAULT_CNI_CONF_DIR;
  const node = nodeNetworks(ctx.config, readCniNetworks(dir, cniConfDir !== undefined), dir);
  ctx.config = { ...ctx.config, networks: node.networks };
  return { ctx, cni: { read: node.read, skipped: node.skipped } };
}

/** Run with a fresh context, record the call's outcome and time for `metrics` (once the state
 * directory is known and checked: a call whose config cannot be read is not counted), and close
 * the etcd client it may have opened. */
async function withContext<T>(
  call: 'setup' | 'teardown',
  configFlag: string | undefined,
  run: (ctx: Context) => Promise<T>,
): Promise<T> {
  const started = callStart();
  const ctx = await loadContext(configFlag);
  let failed: Failure;
  try {
    return await run(ctx);
  } catch (error) {
    failed = { error };
    throw error;
  } finally {
    const lost = recordCall(ctx.config.stateDir, call, started, failed);
    if (lost) ctx.log.warn('call not recorded for metrics', { error: lost });
    ctx.cluster?.client.close();
  }
}

export async function setupCall(ref: PodRef, configFlag: string | undefined, io: Io): Promise<void> {
  const { setup } = await import('../commands/setup');
  const r = await withContext('setup', configFlag, (ctx) => setup(ctx, ref));
  const who = `${ref.namespace}/${ref.pod}`;
  if (r.attachments.length === 0) io.out(`${who}: no network selects this pod`);
  for (const a of r.attachments) {
    const vlan = a.trunks === undefined ? `vlan ${a.tag}` : `trunk ${a.trunks}`;
    io.out(
      `${who}: ${a.interface} ${a.ips.join(',') || '(no address)'} ${vlan} on ${a.bridge} port ${a.port}${r.changed ? '' : ' (unchanged)'}`,
    );
  }
}

export async function teardownCall(ref: PodRef, configFlag: string | undefined, io: Io): Promise<void> {
  const { teardown } = await import('../commands/teardown');
  const r = await withContext('teardown', configFlag, (ctx) => teardown(ctx, ref));
  io.out(
    `${ref.namespace}/${ref.pod}: removed ${r.ports.length} port(s)${r.ports.length ? ` (${r.ports.join(', ')})` : ''}, released ${r.addresses.length} address(es)`,
  );
}
