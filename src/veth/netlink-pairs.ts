// The veth work of pair.ts over the rtnetlink sockets of netlink-ffi.ts: create the pairs and
// configure the pod ends, announce them, delete host ends. pair.ts loads this module (and so
// netlink-ffi.ts) only under bun; it throws NetlinkUnavailable only before any change.
import { writeFileSync } from 'node:fs';
import { OperationError } from '../errors';
import { familyOfText } from '../ipam/ip';
import { isInterfaceName } from '../names';
import type { Sandbox } from '../runtime/sandbox';
import {
  addrAdd,
  addrAddWords,
  arpNotifyOn,
  ENODEV,
  linkDel,
  linkGet,
  linkSetAddress,
  linkUpByIndex,
  linkUpByName,
  routeAdd,
  routeAddWords,
  vethAdd,
  vethAddWords,
} from './netlink';
import { fsError, inNetns, openHostSocket, openPodSocket, run } from './netlink-ffi';
import type { VethPlan } from './pair';

export { load, NetlinkUnavailable } from './netlink-ffi';

/** createPairs of pair.ts through netlink, the pod ends into `sandbox` (pair.ts has checked its
 * inode). Throws NetlinkUnavailable only before any change. Returns why an addressed pod end
 * will not announce itself (arp_notify or ndisc_notify refused), which does not fail the call. */
export function createPairs(sandbox: Sandbox, plans: VethPlan[], timeoutMs: number): string[] {
  const unannounced: string[] = [];
  const host = openHostSocket(timeoutMs);
  try {
    // The pod's socket first: a namespace we cannot enter fails the call before anything exists.
    const pod = openPodSocket(sandbox, timeoutMs);
    try {
      for (const p of plans) {
        run(
          host,
          {
            words: vethAddWords(p, `/proc/self/fd/${sandbox.fd}`),
            build: (seq) => vethAdd(seq, { ...p, netnsFd: sandbox.fd }),
          },
          '',
        );
        run(host, { words: ['link', 'set', p.hostName, 'up'], build: (seq) => linkUpByName(seq, p.hostName) }, '');
      }
      for (const p of plans) {
        const reply = run(
          pod,
          { words: ['link', 'show', p.podName], build: (seq) => linkGet(seq, p.podName) },
          'in the pod: ',
        );
        if (reply.kind !== 'link')
          throw new OperationError(`in the pod: netlink link show ${p.podName} failed: unexpected reply`);
        const index = reply.index;
        if (p.addresses.some((a) => familyOfText(a) === 6)) ipv6OnIn(sandbox, p.podName);
        for (const a of p.addresses)
          run(pod, { words: addrAddWords(a, p.podName), build: (seq) => addrAdd(seq, index, a) }, 'in the pod: ');
        run(
          pod,
          { words: ['link', 'set', p.podName, 'up'], build: (seq) => linkUpByIndex(seq, index) },
          'in the pod: ',
        );
        // After the link is up: its NETDEV_UP announce would only reach a host end not yet in OVS.
        if (p.addresses.some((a) => familyOfText(a) === 4)) {
          const words = ['sysctl', `net/ipv4/conf/${p.podName}/arp_notify=1`];
          try {
            run(pod, { words, build: (seq) => arpNotifyOn(seq, index) }, 'in the pod: ');
          } catch (err) {
            unannounced.push(err instanceof Error ? err.message : String(err));
          }
        }
        for (const r of p.routes) {
          run(
            pod,
            { words: routeAddWords(r.dst, r.via, p.podName), build: (seq) => routeAdd(seq, index, r.dst, r.via) },
            'in the pod: ',
          );
        }
      }
      const ndisc = plans.filter((p) => p.addresses.some((a) => familyOfText(a) === 6)).map((p) => p.podName);
      if (ndisc.length > 0) {
        try {
          ndiscNotifyOn(sandbox, ndisc);
        } catch (err) {
          unannounced.push(err instanceof Error ? err.message : String(err));
        }
      }
    } finally {
      pod.close();
    }
  } finally {
    host.close();
  }
  return unannounced;
}

/** `sysctl -w net.ipv6.conf.IF.disable_ipv6=0` on this one pod end, before its IPv6 addresses: a
 * runtime may turn IPv6 off in the namespace (Docker does in a --net=none container: default.
 * disable_ipv6=1), and an interface born there inherits it, so the kernel would refuse the address
 * the network's pool gave. Only podvlan's own interface is changed; the pod's others and the
 * namespace's defaults are left as the runtime set them. Throws: without it the address fails. */
function ipv6OnIn(sandbox: Sandbox, name: string): void {
  if (!isInterfaceName(name)) throw new OperationError(`invalid interface name ${JSON.stringify(name)}`);
  inNetns(sandbox, () => {
    try {
      writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '0');
    } catch (err) {
      throw new OperationError(`in the pod: sysctl net/ipv6/conf/${name}/disable_ipv6=0 failed: ${fsError(err)}`);
    }
  });
}

/** `sysctl -w net.ipv6.conf.IF.ndisc_notify=1` for each interface, in the pod's namespace: from
 * then on a MAC set makes the kernel send an unsolicited neighbour advertisement for each of the
 * interface's (non-tentative) IPv6 addresses. rtnetlink cannot set it (IFLA_AF_SPEC > AF_INET6
 * takes only the token and the address generation mode, EINVAL for the rest), so the thread
 * enters the namespace again, as for the pod's socket, and writes the /proc/sys file there (a
 * /proc/sys/net file is the namespace of the thread that opens it): one write per interface. */
function ndiscNotifyOn(sandbox: Sandbox, interfaces: string[]): void {
  inNetns(sandbox, () => {
    for (const name of interfaces) {
      if (!isInterfaceName(name)) throw new OperationError(`invalid interface name ${JSON.stringify(name)}`);
      try {
        writeFileSync(`/proc/sys/net/ipv6/conf/${name}/ndisc_notify`, '1');
      } catch (err) {
        throw new OperationError(`in the pod: sysctl net/ipv6/conf/${name}/ndisc_notify=1 failed: ${fsError(err)}`);
      }
    }
  });
}

/** announceAddresses of pair.ts: set each pod end's MAC to the one it has, in the pod's namespace. */
export function announce(sandbox: Sandbox, targets: { podName: string; mac: string }[], timeoutMs: number): void {
  const pod = openPodSocket(sandbox, timeoutMs);
  try {
    for (const t of targets) {
      run(
        pod,
        { words: ['link', 'set', t.podName, 'address', t.mac], build: (seq) => linkSetAddress(seq, t.podName, t.mac) },
        'in the pod: ',
      );
    }
  } finally {
    pod.close();
  }
}

/** deleteHostLinks of pair.ts through netlink: best effort, like `ip -batch - -force` whose
 * failures pair.ts never reported; a missing link is the expected case. */
export function deleteLinks(names: string[], timeoutMs: number): void {
  const host = openHostSocket(timeoutMs);
  try {
    for (const name of names) {
      try {
        run(
          host,
          { words: ['link', 'del', name], build: (seq) => linkDel(seq, name), ignore: (e) => e === ENODEV },
          '',
        );
      } catch {
        // as with ip -force: go on with the next name
      }
    }
  } finally {
    host.close();
  }
}
