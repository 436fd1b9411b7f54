// A client for ovs-vswitchd's unixctl socket: the questions `ovs-appctl` asks, answered in one
// connection instead of one process per question. The socket speaks JSON-RPC 1.0 with the same
// framing as OVSDB (rpc.ts); each command's answer is the text ovs-appctl would print, parsed
// here (trace-parse.ts) into what diagnose judges.
import { nodeFs } from '../builtins';
import { NotFoundError, OperationError } from '../errors';
import { RpcConnection, RpcError } from './rpc';
import { type DpifPorts, type FdbEntry, parseDpifShow, parseFdbShow, parseTrace, type Trace } from './trace-parse';

export type { DpifPorts, FdbEntry, Trace, TraceOutput } from './trace-parse';

const PEER = 'ovs-vswitchd unixctl';
const DEFAULT_RUNDIR = '/var/run/openvswitch';

/**
 * Where ovs-appctl finds ovs-vswitchd: `<rundir>/ovs-vswitchd.<pid>.ctl`, the pid read from
 * `<rundir>/ovs-vswitchd.pid` (rundir: $OVS_RUNDIR, else /var/run/openvswitch, as ovs-appctl does).
 */
export function defaultVswitchdCtl(rundir = process.env.OVS_RUNDIR || DEFAULT_RUNDIR): string {
  const pidFile = `${rundir}/ovs-vswitchd.pid`;
  let text: string;
  try {
    text = nodeFs().readFileSync(pidFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new NotFoundError(
      `cannot read ${pidFile} (${code}): is ovs-vswitchd running? (or set vswitchdCtl in the config)`,
    );
  }
  const pid = text.trim();
  if (!/^\d{1,10}$/.test(pid)) throw new OperationError(`${pidFile} does not hold a process id`);
  return `${rundir}/ovs-vswitchd.${pid}.ctl`;
}

export class UnixctlClient {
  private constructor(
    private readonly rpc: RpcConnection,
    readonly path: string,
  ) {}

  static async connect(path: string, timeoutMs: number): Promise<UnixctlClient> {
    return new UnixctlClient(await RpcConnection.connect(`unix:${path}`, timeoutMs, PEER, `${PEER} at ${path}`), path);
  }

  /** One command, as `ovs-appctl COMMAND ARGS...`; its text. A refusal is an OperationError
   * carrying ovs-vswitchd's own first line ("bad value for in_port ..."). */
  async call(command: string, args: string[] = []): Promise<string> {
    try {
      const result = await this.rpc.call(command, args);
      return typeof result === 'string' ? result : JSON.stringify(result);
    } catch (err) {
      if (!(err instanceof RpcError)) throw err;
      const detail = typeof err.detail === 'string' ? err.detail.trim().split('\n')[0] : JSON.stringify(err.detail);
      throw new OperationError(`${PEER} at ${this.path}: ${[command, ...args].join(' ')} failed: ${detail}`);
    }
  }

  /** ofproto/trace: what the bridge does with a packet described as an OpenFlow match. */
  async trace(bridge: string, flow: string): Promise<Trace> {
    return parseTrace(await this.call('ofproto/trace', [bridge, flow]));
  }

  /** dpif/show: each bridge's ports by datapath port number (trace actions name those). */
  async dpifPorts(): Promise<DpifPorts> {
    return parseDpifShow(await this.call('dpif/show'));
  }

  /** fdb/show: the MAC addresses the bridge has learned, by OpenFlow port and VLAN. */
  async fdb(bridge: string): Promise<FdbEntry[]> {
    return parseFdbShow(await this.call('fdb/show', [bridge]));
  }

  close(): void {
    this.rpc.close();
  }
}
