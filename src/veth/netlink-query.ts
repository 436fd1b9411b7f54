// The socket side of the read-only rtnetlink requests of netlink-read.ts, shared by diagnose and
// the views: loading the in-process netlink module, one request and its answer, and a whole
// namespace's links with their addresses. Read only: nothing here changes a namespace.
import type { Sandbox } from '../runtime/sandbox';
import { describeErrno } from './netlink';
import {
  type AddrFacts,
  type AddrFamily,
  addrDump,
  errnoOf,
  type LinkFacts,
  linkDump,
  type NlMessage,
  parseAddr,
  parseLink,
} from './netlink-read';

export type Netlink = typeof import('./netlink-ffi');
type Socket = import('./netlink-ffi').RouteSocket;

/** The in-process netlink module, or why there is none (Node, no libc). */
export async function loadNetlink(): Promise<Netlink | string> {
  if (typeof (globalThis as { Bun?: unknown }).Bun === 'undefined')
    return 'reading a namespace needs the podvlan executable (bun)';
  try {
    const m = await import('./netlink-ffi');
    await m.load();
    return m;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** One request; its messages (all of a dump), or the errno of a refusal, thrown with `errno` set. */
export function ask(sock: Socket, build: (seq: number) => Uint8Array): NlMessage[] {
  const seq = sock.nextSeq();
  const messages = sock.query(seq, build(seq));
  const errno = messages.length === 1 ? errnoOf(messages[0]) : undefined;
  if (errno) throw Object.assign(new Error(describeErrno(errno)), { errno });
  return messages;
}

/** Every link of the namespace `sandbox` holds, and every address of `family` (IPv4 unless said
 * otherwise; IPv6 link-local ones included) there by link index: two dumps on one socket made
 * inside it (the thread is in the namespace only while it is made). */
export function readNetnsLinks(
  nl: Netlink,
  sandbox: Pick<Sandbox, 'fd' | 'source'>,
  timeoutMs: number,
  family: AddrFamily = 4,
): { links: LinkFacts[]; addresses: AddrFacts[] } {
  const sock = nl.inNetns(sandbox, () => nl.RouteSocket.open(timeoutMs));
  try {
    const links = ask(sock, linkDump).flatMap((m) => parseLink(m) ?? []);
    const addresses = ask(sock, (seq) => addrDump(seq, family)).flatMap((m) => parseAddr(m) ?? []);
    return { links, addresses };
  } finally {
    sock.close();
  }
}
