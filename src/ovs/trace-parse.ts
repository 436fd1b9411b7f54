// The texts ovs-vswitchd's unixctl commands answer with, parsed. Pure: no I/O. The forms are
// those of OVS 3.x (ofproto/trace, dpif/show, fdb/show); fixtures captured from a real
// ovs-vswitchd are in test/unit/fixtures/trace.

/** One output of the datapath, with the VLAN the packet carries there (undefined: untagged). */
export interface TraceOutput {
  port: number; // datapath (odp) port number, as dpif/show numbers it
  vlan?: number;
}

export interface Trace {
  /** The final "Datapath actions:" text, e.g. "push_vlan(vid=22,pcp=0),1,pop_vlan,5". */
  actions: string;
  drop: boolean; // the datapath drops the packet (no output at all)
  outputs: TraceOutput[];
  pushedVlans: number[]; // every vid a push_vlan action adds
  /** The first OpenFlow rule the packet matched in table 0, e.g. "in_port=2, priority 100". */
  rule?: string;
  /** What NORMAL or a rule said about the packet (">>>> dropping VLAN 22 tagged packet ..."). */
  notes: string[];
  other: string[]; // actions this parser does not model (ct, recirc, set, userspace, ...)
}

/** Split "a(b,c),d" at the commas outside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = text.slice(start).trim();
  if (last !== '') parts.push(last);
  return parts;
}

/** The datapath's action list: outputs with the VLAN stack at that point, pushes, the rest.
 * `inputVlan`: the packet came in tagged (a trunk port's), so the stack starts with it. */
export function parseActions(
  actions: string,
  inputVlan?: number,
): Pick<Trace, 'drop' | 'outputs' | 'pushedVlans' | 'other'> {
  const outputs: TraceOutput[] = [];
  const pushedVlans: number[] = [];
  const other: string[] = [];
  const stack: number[] = inputVlan === undefined ? [] : [inputVlan]; // outermost VLAN last
  let drop = false;
  for (const action of splitTopLevel(actions)) {
    if (action === 'drop') drop = true;
    else if (/^\d+$/.test(action)) {
      const vlan = stack[stack.length - 1];
      outputs.push(vlan === undefined ? { port: Number(action) } : { port: Number(action), vlan });
    } else if (action.startsWith('push_vlan(')) {
      const vid = /vid=(\d+)/.exec(action);
      if (vid) {
        stack.push(Number(vid[1]));
        pushedVlans.push(Number(vid[1]));
      } else other.push(action);
    } else if (action === 'pop_vlan') stack.pop();
    else other.push(action);
  }
  return { drop: drop && outputs.length === 0, outputs, pushedVlans, other };
}

/** The whole ofproto/trace text. Throws when it has no "Datapath actions:" line. */
export function parseTrace(text: string): Trace {
  const lines = text.split('\n');
  const actionLines = lines.filter((l) => l.startsWith('Datapath actions:'));
  if (actionLines.length === 0) throw new Error(`ofproto/trace printed no "Datapath actions:" line: ${lines[0]}`);
  const actions = actionLines[actionLines.length - 1].slice('Datapath actions:'.length).trim();
  // Table 0's rule: " 0. in_port=2, priority 100" (the first numbered line after the bridge).
  const rule = lines.map((l) => /^\s*0\.\s+(.+)$/.exec(l)?.[1]).find((r) => r !== undefined);
  const notes = lines.map((l) => l.trim()).filter((l) => l.startsWith('>>'));
  return { actions, ...parseActions(actions), ...(rule ? { rule } : {}), notes };
}

/** Bridge -> datapath port number -> port name (and its OpenFlow port). */
export type DpifPorts = Map<string, Map<number, { name: string; ofport: number }>>;

/**
 * dpif/show:
 *   netdev@ovs-netdev: hit:13 missed:18
 *     br0:
 *       pva 2/3: (system)        <- name ofport/odp-port: (type)
 */
export function parseDpifShow(text: string): DpifPorts {
  const out: DpifPorts = new Map();
  let bridge: Map<number, { name: string; ofport: number }> | undefined;
  for (const line of text.split('\n')) {
    const br = /^ {2}(\S+):$/.exec(line);
    if (br) {
      bridge = new Map();
      out.set(br[1], bridge);
      continue;
    }
    const port = /^ {4}(\S+) (\d+)\/(\d+):/.exec(line);
    if (port && bridge) bridge.set(Number(port[3]), { name: port[1], ofport: Number(port[2]) });
  }
  return out;
}

export interface FdbEntry {
  port: number | 'LOCAL'; // OpenFlow port
  vlan: number;
  mac: string;
  age: number; // seconds
}

/** fdb/show: " port  VLAN  MAC                Age" then one line per learned MAC. */
export function parseFdbShow(text: string): FdbEntry[] {
  const out: FdbEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+|LOCAL)\s+(\d+)\s+([0-9a-f:]{17})\s+(\d+)\s*$/.exec(line);
    if (m)
      out.push({ port: m[1] === 'LOCAL' ? 'LOCAL' : Number(m[1]), vlan: Number(m[2]), mac: m[3], age: Number(m[4]) });
  }
  return out;
}
