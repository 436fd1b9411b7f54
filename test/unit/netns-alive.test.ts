// The netns liveness scan over a fake /proc tree (symlinks whose targets are what the kernel shows):
// each kind of reference keeps a namespace alive, and anything unreadable makes every one alive.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scanNetnsHolders } from '../../src/runtime/netns-alive';

interface FakeProcess {
  net: string;
  mnt: string;
  threads?: Record<string, string>;
  fds?: Record<string, string>;
  fdinfo?: Record<string, string>;
  mountinfo?: string;
}

function fakeProc(root: string, processes: Record<string, FakeProcess>): void {
  for (const [pid, p] of Object.entries(processes)) {
    const base = join(root, pid);
    mkdirSync(join(base, 'ns'), { recursive: true });
    mkdirSync(join(base, 'fd'));
    mkdirSync(join(base, 'fdinfo'));
    symlinkSync(p.net, join(base, 'ns', 'net'));
    symlinkSync(p.mnt, join(base, 'ns', 'mnt'));
    for (const [tid, net] of Object.entries({ [pid]: p.net, ...p.threads })) {
      mkdirSync(join(base, 'task', tid, 'ns'), { recursive: true });
      symlinkSync(net, join(base, 'task', tid, 'ns', 'net'));
    }
    for (const [fd, target] of Object.entries(p.fds ?? {})) symlinkSync(target, join(base, 'fd', fd));
    for (const [fd, text] of Object.entries(p.fdinfo ?? {})) writeFileSync(join(base, 'fdinfo', fd), text);
    writeFileSync(join(base, 'comm'), 'fake\n');
    writeFileSync(join(base, 'mountinfo'), p.mountinfo ?? '22 1 0:21 / /proc rw - proc proc rw\n');
  }
}

const mountLine = (inode: string, at: string) => `50 42 0:4 net:[${inode}] ${at} rw shared:4 - nsfs nsfs rw\n`;

describe('scanNetnsHolders', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'podvlan-proc-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('finds a process, a thread, an open descriptor and a bind mount; the rest is gone', () => {
    fakeProc(root, {
      '10': { net: 'net:[111]', mnt: 'mnt:[1]', threads: { '11': 'net:[222]' }, fds: { '3': 'net:[555]' } },
      '20': { net: 'net:[1]', mnt: 'mnt:[2]', mountinfo: mountLine('333', '/run/keep\\040me') },
      '21': { net: 'net:[1]', mnt: 'mnt:[2]', fds: { '0': 'socket:[42]', '1': 'pipe:[7]' } },
      // Opened through a bind mount since unmounted: the link shows "/", fdinfo the inode.
      '22': {
        net: 'net:[1]',
        mnt: 'mnt:[2]',
        fds: { '4': '/', '5': '/etc/hosts' },
        fdinfo: { '4': 'pos:\t0\nflags:\t0100000\nmnt_id:\t9\nino:\t666\n', '5': 'pos:\t0\nino:\t12\n' },
      },
    });
    const scan = scanNetnsHolders(['111', '222', '333', '555', '666', '999'], root);
    expect(scan.verdict('111')).toEqual({ alive: true, why: 'netns 111: process 10 (fake) is in it' });
    expect(scan.verdict('222')).toEqual({ alive: true, why: 'netns 222: thread 11 of process 10 (fake) is in it' });
    expect(scan.verdict('333')).toEqual({
      alive: true,
      why: 'netns 333: bind-mounted at /run/keep me (mount namespace of process 20)',
    });
    expect(scan.verdict('555')).toEqual({ alive: true, why: 'netns 555: process 10 (fake) holds it open (fd 3)' });
    expect(scan.verdict('666')).toEqual({ alive: true, why: 'netns 666: process 22 (fake) holds it open (fd 4)' });
    expect(scan.verdict('999')).toEqual({
      alive: false,
      why: 'netns 999 is gone: no process, thread or open file in it, not mounted',
    });
    expect(scan.hidden).toEqual([]);
    // Where each can be opened for a read inside it (a view reads the pod end there).
    expect(['111', '222', '333', '555', '666', '999'].map((i) => scan.pathsTo(i))).toEqual([
      [join(root, '10/ns/net')],
      [join(root, '10/task/11/ns/net')],
      ['/run/keep me', join(root, '20/root/run/keep me')],
      [join(root, '10/fd/3')],
      [join(root, '22/fd/4')],
      [],
    ]);
  });

  it('offers a process holder before a bind mount found earlier (nsfs mounts refuse an open through /proc/PID/root)', () => {
    fakeProc(root, {
      '10': { net: 'net:[1]', mnt: 'mnt:[1]', mountinfo: mountLine('777', '/run/docker/netns/x') },
      '40': { net: 'net:[777]', mnt: 'mnt:[9]' },
    });
    const scan = scanNetnsHolders(['777'], root);
    expect(scan.verdict('777').why).toContain('bind-mounted at /run/docker/netns/x'); // the first found, as before
    expect(scan.pathsTo('777')).toEqual([
      join(root, '40/ns/net'),
      '/run/docker/netns/x',
      join(root, '10/root/run/docker/netns/x'),
    ]);
  });

  it('counts every namespace alive when something cannot be read, and says what', () => {
    fakeProc(root, { '10': { net: 'net:[1]', mnt: 'mnt:[1]' } });
    mkdirSync(join(root, '30', 'ns'), { recursive: true });
    mkdirSync(join(root, '30', 'ns', 'net')); // readlink fails with EINVAL: not a gone process
    const v = scanNetnsHolders(['999'], root).verdict('999');
    expect(v.alive).toBe(true);
    expect(v.why).toMatch(/^netns 999 counts as alive: cannot tell \(cannot read .*\/30\/ns\/net: EINVAL\)$/);
  });

  it('counts every namespace alive when a mount table cannot be read', () => {
    fakeProc(root, { '10': { net: 'net:[1]', mnt: 'mnt:[1]' } });
    rmSync(join(root, '10', 'mountinfo'));
    mkdirSync(join(root, '10', 'mountinfo')); // EISDIR
    expect(scanNetnsHolders(['999'], root).verdict('999').alive).toBe(true);
  });

  it('counts every namespace alive when /proc lists no process or cannot be listed', () => {
    expect(scanNetnsHolders(['999'], root).verdict('999').alive).toBe(true);
    expect(scanNetnsHolders(['999'], join(root, 'nonesuch')).verdict('999').alive).toBe(true);
  });

  it('skips a process that exited during the scan (its links are gone)', () => {
    fakeProc(root, { '10': { net: 'net:[1]', mnt: 'mnt:[1]' } });
    mkdirSync(join(root, '40')); // listed, then gone: no ns/ at all
    expect(scanNetnsHolders(['999'], root).verdict('999').alive).toBe(false);
  });
});
