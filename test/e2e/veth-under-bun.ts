// The veth module and the namespace lookup run by bun, as the executable runs them (netlink
// through bun:ffi; PODVLAN_VETH=ip for the iproute2 fallback), on real namespaces. Prints one
// JSON line. Used by netns-handle.test.ts.
//   create {"netns": PATH, "recordedInode"?: INODE, "hostName", "podName"}: open a handle on PATH,
//     createPairs into it with the given recorded inode (default: the handle's own).
//   inode {"socket", "id", "times"}: containerNetnsInode `times` times (what gc does per container).
// Both report the namespace fds still open in this process afterwards (`netFds`).
import { readdirSync, readlinkSync } from 'node:fs';
import { containerNetnsInode } from '../../src/runtime/docker';
import { openSandbox } from '../../src/runtime/sandbox';
import { createPairs } from '../../src/veth/pair';

/** fds of this process that hold a network namespace ("net:[4026532177]"). */
function netFds(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith('net:[');
    } catch {
      return false; // the fd readdir itself used, closed by now
    }
  }).length;
}

const [mode, json] = process.argv.slice(2);
const args = JSON.parse(json);
try {
  if (mode === 'create') {
    const sandbox = openSandbox(args.netns, `test namespace ${args.netns}`);
    try {
      await createPairs(
        sandbox,
        args.recordedInode ?? sandbox.inode,
        [
          {
            hostName: args.hostName,
            podName: args.podName,
            mac: '0a:58:0a:fe:00:02',
            mtu: 1400,
            addresses: ['10.254.0.2/24'],
            routes: [],
          },
        ],
        5000,
      );
    } finally {
      sandbox.close();
    }
    console.log(JSON.stringify({ ok: true, inode: sandbox.inode, netFds: netFds() }));
  } else if (mode === 'inode') {
    const inodes = new Set<string>();
    for (let i = 0; i < args.times; i++) inodes.add(await containerNetnsInode(args.socket, args.id, 5000));
    console.log(JSON.stringify({ ok: true, inodes: [...inodes], netFds: netFds() }));
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} catch (err) {
  console.log(
    JSON.stringify({
      ok: false,
      kind: (err as Error).constructor.name,
      message: (err as Error).message,
      netFds: netFds(),
    }),
  );
}
