// metrics [--textfile DIR]: the node's state (the shared node view) and the calls' counters (the
// call log, folded) in the Prometheus text format, printed, or written to DIR/podvlan.prom for
// node_exporter's textfile collector: a temporary file in DIR renamed over it, so a scrape reads
// the old file or the new one, never half of one.
import pkg from '../../package.json';
import { nodeFs } from '../builtins';
import { NotFoundError, OperationError } from '../errors';
import { foldCallLog } from '../state/call-fold';
import { metricsText } from '../view/metrics';
import { readNodeView } from '../view/node-view';
import type { Context } from './context';

export const TEXTFILE_NAME = 'podvlan.prom';

export interface MetricsResult {
  text: string;
  // Why the node could not be read: the text then has the counters and podvlan_node_view_ok 0,
  // which is still worth writing (a scrape sees the failure), and the command then fails with it.
  viewError?: unknown;
}

export async function metrics(ctx: Context): Promise<MetricsResult> {
  const { stateDir, timeoutMs } = ctx.config;
  const [calls, view] = await Promise.all([
    foldCallLog(stateDir, timeoutMs),
    readNodeView(ctx).then(
      (v) => ({ v }),
      (error: unknown) => ({ error }),
    ),
  ]);
  if ('error' in view) {
    ctx.log.warn('metrics without the node view', { error: String(view.error) });
    return { text: metricsText(undefined, calls, pkg.version), viewError: view.error };
  }
  return { text: metricsText(view.v, calls, pkg.version) };
}

/** Write text to dir/podvlan.prom by rename; dir must exist. Readable by all (0644): node_exporter
 * rarely runs as root. The temporary name does not end in .prom, so the collector never reads it. */
export function writeTextfile(dir: string, text: string): string {
  const fs = nodeFs();
  let isDir: boolean;
  try {
    isDir = fs.statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw new NotFoundError(
      `textfile directory ${dir} does not exist: create it, or give node_exporter's --collector.textfile.directory`,
    );
  }
  const path = `${dir.replace(/\/+$/, '')}/${TEXTFILE_NAME}`;
  const temp = `${path}.tmp-${process.pid}`;
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const create = () => fs.openSync(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
  try {
    let fd: number;
    try {
      fd = create();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      fs.unlinkSync(temp); // a dead writer's, that had our pid
      fd = create();
    }
    try {
      fs.fchmodSync(fd, 0o644); // whatever the umask
      fs.writeSync(fd, text);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, path);
    return path;
  } catch (err) {
    try {
      fs.unlinkSync(temp);
    } catch {
      /* never made, or not ours to remove */
    }
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new OperationError(`cannot write ${path}: ${why}`);
  }
}
