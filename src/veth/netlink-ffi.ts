// The rtnetlink sockets through libc via bun:ffi that netlink-pairs.ts (the veth work of pair.ts)
// and netlink-query.ts use instead of spawning `ip` (and `nsenter ip`), which cost ~12 ms of a
// setup. Only bun loads this module (pair.ts imports netlink-pairs.ts dynamically after checking
// for Bun, then calls load()); if bun:ffi or libc cannot be loaded, or no netlink socket opened,
// it throws NetlinkUnavailable before touching anything, and pair.ts uses ip.
//
// Every call here is synchronous, on the JS thread. The pod's end is configured through a second
// socket created inside the pod's network namespace: setns(CLONE_NEWNET) moves only the calling
// thread, a netlink socket stays bound to the namespace it was created in, so the thread enters
// the pod's namespace, creates the socket and returns at once (in a finally), with no JS run in
// between. Bun's other threads never leave our namespace.
import { closeSync, openSync } from 'node:fs';
import { OperationError } from '../errors';
import { AF_NETLINK, EAGAIN, NetlinkUnavailable, type Reply, describeErrno, parseReply, sockaddrNl } from './netlink';
import { endsAnswer, type NlMessage, splitMessages } from './netlink-read';
import type { Sandbox } from '../runtime/sandbox';

export { NetlinkUnavailable };

const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20; // 64-bit: struct timeval of two longs
const SO_SNDTIMEO = 21;
const SOL_NETLINK = 270;
const NETLINK_EXT_ACK = 11; // the kernel's error text (e.g. "Nexthop has invalid gateway")
const CLONE_NEWNET = 0x40000000;

type Ffi = typeof import('bun:ffi');

function bindLibc(ffi: Ffi) {
  const { dlopen, FFIType } = ffi;
  return dlopen('libc.so.6', {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    send: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
    recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    setns: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  }).symbols;
}
let libc: ReturnType<typeof bindLibc>;
let readI32: Ffi['read']['i32'];

/** Load bun:ffi and bind libc, once. bun:ffi is imported dynamically here, not at the top: the
 * bundler hoists static imports of builtins to the start of the executable, where every command
 * would pay for it. Throws NetlinkUnavailable when either is missing. */
export async function load(): Promise<void> {
  if (libc) return;
  try {
    const ffi = await import('bun:ffi');
    libc = bindLibc(ffi);
    readI32 = ffi.read.i32;
  } catch (err) {
    throw new NetlinkUnavailable(
      `cannot load libc through bun:ffi: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

const errno = (): number => readI32(libc.__errno_location(), 0);

class SysError extends Error {
  constructor(
    what: string,
    readonly errno: number,
  ) {
    super(`${what}: ${describeErrno(errno)}`);
  }
}

/** One NETLINK_ROUTE socket, in the namespace of the thread that made it. */
export class RouteSocket {
  private seq = Math.floor(Date.now() / 1000) & 0x7fffffff;
  private readonly buf = new Uint8Array(65536);

  private constructor(private readonly fd: number) {}

  static open(timeoutMs: number): RouteSocket {
    const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw new SysError('cannot open a netlink socket', errno());
    const sock = new RouteSocket(fd);
    try {
      const ms = Math.max(1, Math.floor(timeoutMs)); // 0 would mean no timeout at all
      const timeout = new BigInt64Array([BigInt(Math.floor(ms / 1000)), BigInt((ms % 1000) * 1000)]); // struct timeval
      if (libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, 16) < 0)
        throw new SysError('cannot set SO_RCVTIMEO', errno());
      if (libc.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, timeout, 16) < 0)
        throw new SysError('cannot set SO_SNDTIMEO', errno());
      libc.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, new Int32Array([1]), 4); // optional (Linux 4.12+)
      const addr = sockaddrNl();
      if (libc.bind(fd, addr, addr.length) < 0) throw new SysError('cannot bind a netlink socket', errno());
    } catch (err) {
      sock.close();
      throw err;
    }
    return sock;
  }

  nextSeq(): number {
    this.seq = (this.seq + 1) & 0x7fffffff;
    return this.seq;
  }

  /** Send one request and wait for its reply (an ACK, an error, or the requested object). */
  exchange(seq: number, request: Uint8Array): Reply {
    this.send(request);
    for (;;) {
      const reply = parseReply(this.buf, this.receive(), seq);
      if (reply) return reply; // anything else is a late answer to an earlier request: skip it
    }
  }

  /** Send one request and return its answer's messages: the one of a get, all of a dump to DONE. */
  query(seq: number, request: Uint8Array): NlMessage[] {
    this.send(request);
    const out: NlMessage[] = [];
    for (;;) {
      for (const m of splitMessages(this.buf, this.receive())) {
        if (m.seq !== seq) continue; // a late answer to an earlier request
        out.push(m);
        if (endsAnswer(m)) return out;
      }
    }
  }

  private send(request: Uint8Array): void {
    for (;;) {
      const sent = Number(libc.send(this.fd, request, request.length, 0));
      if (sent >= 0) return;
      const e = errno();
      if (e !== 4) throw new SysError('netlink send failed', e); // retry on EINTR
    }
  }

  /** One datagram into this.buf; its length. */
  private receive(): number {
    for (;;) {
      const n = Number(libc.recv(this.fd, this.buf, this.buf.length, 0));
      if (n >= 0) return n;
      const e = errno();
      if (e !== 4) throw new SysError(e === EAGAIN ? 'no netlink answer in time' : 'netlink recv failed', e);
    }
  }

  close(): void {
    libc.close(this.fd);
  }
}

/** A request with the `ip` words it stands for, for the error message. */
export interface Step {
  words: string[];
  build: (seq: number) => Uint8Array;
  ignore?: (errno: number) => boolean;
}

export function run(sock: RouteSocket, step: Step, where: string): Reply {
  const seq = sock.nextSeq();
  let reply: Reply;
  try {
    reply = sock.exchange(seq, step.build(seq));
  } catch (err) {
    throw new OperationError(
      `${where}netlink ${step.words.join(' ')} failed: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  if (reply.kind === 'error' && !step.ignore?.(reply.errno)) {
    throw new OperationError(
      `${where}netlink ${step.words.join(' ')} failed: ${describeErrno(reply.errno)}${reply.detail ? `: ${reply.detail}` : ''}`,
    );
  }
  return reply;
}

export function openHostSocket(timeoutMs: number): RouteSocket {
  try {
    return RouteSocket.open(timeoutMs);
  } catch (err) {
    throw new NetlinkUnavailable(err instanceof Error ? err.message : String(err));
  }
}

/** A netlink socket inside the pod's namespace, entered by its open handle (setns on the fd: no
 * path is looked up again, so the namespace is the one the lookup opened). */
export function openPodSocket(sandbox: Sandbox, timeoutMs: number): RouteSocket {
  return inNetns(sandbox, () => {
    try {
      return RouteSocket.open(timeoutMs);
    } catch (err) {
      throw new OperationError(`in the pod: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  });
}

/** Run `fn` (synchronous: no JS of anyone else runs meanwhile) with this thread in the namespace
 * `sandbox` holds, and come back. What `fn` opens there (a netlink socket, a /proc/sys/net file)
 * stays bound to that namespace. */
export function inNetns<T>(sandbox: Pick<Sandbox, 'fd' | 'source'>, fn: () => T): T {
  let home: number;
  try {
    // This thread's namespace (/proc/self would be the main thread's), to come back to.
    home = openSync('/proc/thread-self/ns/net', 'r');
  } catch (err) {
    throw new NetlinkUnavailable(`cannot open /proc/thread-self/ns/net: ${fsError(err)}`);
  }
  try {
    if (libc.setns(sandbox.fd, CLONE_NEWNET) < 0) {
      const why = describeErrno(errno());
      throw new OperationError(`in the pod: cannot enter the namespace of ${sandbox.source}: ${why}`);
    }
    try {
      return fn();
    } finally {
      if (libc.setns(home, CLONE_NEWNET) < 0) {
        // Cannot happen short of a kernel bug (we hold the fd, we are root). Carrying on would
        // run host-side work, rollback included, in the pod's namespace: stop the process.
        process.stderr.write(`podvlan: cannot return to the host network namespace: ${describeErrno(errno())}\n`);
        process.exit(1);
      }
    }
  } finally {
    closeSync(home);
  }
}

/** "No such file or directory (ENOENT)" from a node:fs error, as for the socket calls. */
export function fsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return typeof e?.errno === 'number' && e.errno !== 0
    ? describeErrno(Math.abs(e.errno))
    : err instanceof Error
      ? err.message
      : String(err);
}
