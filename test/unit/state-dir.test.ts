// The state directory check on real directories (as root, like podvlan): ancestors, the directory, its parts.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkStateDir } from '../../src/state/state-dir';

describe('checkStateDir', () => {
  let top: string;
  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'podvlan-sd-'));
    chmodSync(top, 0o755);
  });
  afterEach(() => rmSync(top, { recursive: true, force: true }));

  it('creates a missing directory 0700 (and its missing ancestors), or reports it missing without creating', () => {
    expect(checkStateDir(join(top, 'a', 'state'), { create: false })).toBe('missing');
    expect(() => statSync(join(top, 'a'))).toThrow();
    expect(checkStateDir(join(top, 'a', 'state'), { create: true })).toBe('ok');
    expect(statSync(join(top, 'a', 'state')).mode & 0o777).toBe(0o700);
  });

  it('refuses an ancestor others can write unless it is sticky, and one owned by another user', () => {
    const open = join(top, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(() => checkStateDir(join(open, 'state'), { create: true })).toThrow(
      `ancestor ${open} of state directory ${open}/state` +
        ` is writable by group or others and not sticky (mode 777): chmod go-w ${open}, or move stateDir`,
    );
    chmodSync(open, 0o1777);
    expect(checkStateDir(join(open, 'state'), { create: true })).toBe('ok');
    const theirs = join(top, 'theirs');
    mkdirSync(theirs);
    chownSync(theirs, 65534, 65534);
    expect(() => checkStateDir(join(theirs, 'state'), { create: false })).toThrow(
      /ancestor .*theirs .* is owned by uid 65534, not root/,
    );
  });

  it('checks the path a root-owned link resolves to, and refuses a link owned by another user', () => {
    const real = join(top, 'real');
    mkdirSync(real);
    chmodSync(real, 0o777);
    symlinkSync(real, join(top, 'via'));
    expect(() => checkStateDir(join(top, 'via', 'state'), { create: false })).toThrow(/ancestor .*real .* not sticky/);
    chmodSync(real, 0o755);
    expect(checkStateDir(join(top, 'via', 'state'), { create: true })).toBe('ok');
    const sticky = join(top, 'sticky');
    mkdirSync(sticky, { mode: 0o1777 });
    chmodSync(sticky, 0o1777);
    symlinkSync(real, join(sticky, 'link'));
    execFileSync('chown', ['-h', '65534:65534', join(sticky, 'link')]);
    expect(() => checkStateDir(join(sticky, 'link', 'state'), { create: false })).toThrow(
      /is a symbolic link owned by uid 65534/,
    );
  });

  it('refuses the directory or a part of it as a link, owned by another user, or writable by others', () => {
    const state = join(top, 'state');
    checkStateDir(state, { create: true });
    symlinkSync(top, join(state, 'locks'));
    expect(() => checkStateDir(state, { create: true })).toThrow(
      `${state}/locks is a symbolic link: replace it with a real directory owned by root, mode 0700`,
    );
    rmSync(join(state, 'locks'));
    mkdirSync(join(state, 'ipam', 'net1'), { recursive: true });
    chmodSync(join(state, 'ipam', 'net1'), 0o770);
    expect(() => checkStateDir(state, { create: true })).toThrow(
      `${state}/ipam/net1 is writable by group or others (mode 770): chmod go-w ${state}/ipam/net1`,
    );
    chmodSync(join(state, 'ipam', 'net1'), 0o700);
    writeFileSync(join(state, '.config-cache.json'), '{}', { mode: 0o600 });
    chownSync(join(state, '.config-cache.json'), 65534, 65534);
    expect(() => checkStateDir(state, { create: true })).toThrow(
      /config cache .* is owned by uid 65534, not 0: remove it/,
    );
    rmSync(join(state, '.config-cache.json'));
    // metrics/: where every setup and teardown appends its line for `podvlan metrics`.
    mkdirSync(join(state, 'metrics'), { mode: 0o700 });
    chmodSync(join(state, 'metrics'), 0o777);
    expect(() => checkStateDir(state, { create: true })).toThrow(
      `${state}/metrics is writable by group or others (mode 777): chmod go-w ${state}/metrics`,
    );
    rmSync(join(state, 'metrics'), { recursive: true });
    symlinkSync(top, join(state, 'metrics'));
    expect(() => checkStateDir(state, { create: true })).toThrow(`${state}/metrics is a symbolic link`);
    rmSync(join(state, 'metrics'));
    expect(checkStateDir(state, { create: true })).toBe('ok');
    rmSync(state, { recursive: true });
    symlinkSync(top, state);
    expect(() => checkStateDir(state, { create: true })).toThrow(`state directory ${state} is a symbolic link`);
  });
});
