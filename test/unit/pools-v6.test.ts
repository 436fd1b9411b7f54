// The node-local pools with IPv6 (issue 13): bigint arithmetic, canonical lease names, a /64 never
// walked, and a dual-stack owner's two leases in one directory kept apart by family.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, ExhaustedError, InvalidInputError, UnavailableError } from '../../src/errors';
import { HostLocalPool, type HostLocalSpec } from '../../src/ipam/host-local';
import { isLeaseName, LeaseDir } from '../../src/ipam/lease-dir';
import type { Owner } from '../../src/ipam/pool';
import { StaticPool } from '../../src/ipam/static';

const owner = (containerId: string, iface = 'eth1'): Owner => ({
  network: 'n',
  namespace: 'ns',
  pod: `pod-${containerId}`,
  containerId,
  interface: iface,
});
const v6: HostLocalSpec = {
  subnet: 'fd00:20::/64',
  gateway: 'FD00:20::0001',
  exclude: ['fd00:20::3'],
  routes: [{ dst: '::/0' }, { dst: 'FD00:99::/48', via: 'fd00:20::00fe' }],
};
const v4: HostLocalSpec = { subnet: '10.20.0.0/24', gateway: '10.20.0.1', exclude: [], routes: [] };

describe('node-local pools with IPv6', () => {
  let root: string;
  let leases: LeaseDir;
  const files = () =>
    readdirSync(leases.dir)
      .filter((n) => !n.startsWith('.'))
      .sort();
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'podvlan-v6-'));
    leases = new LeaseDir(join(root, 'ipam', 'n'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('hands out canonical IPv6 leases past the gateway and excludes, files named by canonical text', async () => {
    const pool = new HostLocalPool(leases, v6);
    expect(await pool.acquire(owner('c1'))).toEqual({
      address: 'fd00:20::2/64',
      gateway: 'fd00:20::1',
      routes: [
        { dst: '::/0', via: 'fd00:20::1' },
        { dst: 'fd00:99::/48', via: 'fd00:20::fe' },
      ],
    });
    expect((await pool.acquire(owner('c2'))).address).toBe('fd00:20::4/64');
    expect(files()).toEqual(['fd00:20::2', 'fd00:20::4']);
    expect(leases.read('fd00:20::2')).toMatchObject({ containerId: 'c1', address: 'fd00:20::2' });
    expect(readFileSync(join(leases.dir, '.last6'), 'utf8')).toBe('fd00:20::4');
  });

  it('never walks a /64: the last reserved address at the very end wraps to the start at once', async () => {
    const pool = new HostLocalPool(leases, { ...v6, gateway: undefined, exclude: [] });
    leases.ensure();
    writeFileSync(join(leases.dir, '.last6'), 'fd00:20::ffff:ffff:ffff:fffe');
    expect((await pool.acquire(owner('c1'))).address).toBe('fd00:20::ffff:ffff:ffff:ffff/64');
    const started = performance.now();
    expect((await pool.acquire(owner('c2'))).address).toBe('fd00:20::1/64');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('exhausts a /126 (three addresses past the Subnet-Router anycast one), naming the range', async () => {
    const pool = new HostLocalPool(leases, { subnet: 'fd00:20::/126', gateway: 'fd00:20::1', exclude: [], routes: [] });
    expect((await pool.acquire(owner('a'))).address).toBe('fd00:20::2/126');
    expect((await pool.acquire(owner('b'))).address).toBe('fd00:20::3/126');
    const err = await pool.acquire(owner('c')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExhaustedError);
    expect((err as Error).message).toBe('address range fd00:20::1-fd00:20::3 of network n is exhausted');
  });

  it("keeps a dual-stack owner's two leases apart: each pool holds, frees and remembers its own family", async () => {
    const four = new HostLocalPool(leases, v4);
    const six = new HostLocalPool(leases, v6);
    expect((await four.acquire(owner('c1'))).address).toBe('10.20.0.2/24');
    expect((await six.acquire(owner('c1'))).address).toBe('fd00:20::2/64');
    // Each finds the owner's own-family lease again, whatever hint it is given.
    expect((await four.acquire(owner('c1'), 'fd00:20::2')).address).toBe('10.20.0.2/24');
    expect((await six.acquire(owner('c1'), '10.20.0.2')).address).toBe('fd00:20::2/64');
    expect(readFileSync(join(leases.dir, '.last'), 'utf8')).toBe('10.20.0.2');
    expect(readFileSync(join(leases.dir, '.last6'), 'utf8')).toBe('fd00:20::2');
    expect(await six.release(owner('c1'))).toEqual(['fd00:20::2']);
    expect(files()).toEqual(['10.20.0.2']);
    expect(await six.release(owner('c1'), '10.20.0.2')).toEqual([]);
    expect(await four.release(owner('c1'))).toEqual(['10.20.0.2']);
    expect(files()).toEqual([]);
  });

  it('compares a requested IPv6 address canonically and refuses the other family', async () => {
    const pool = new HostLocalPool(leases, v6);
    expect((await pool.acquireRequested(owner('c1'), { address: 'FD00:20::05' })).address).toBe('fd00:20::5/64');
    expect(files()).toEqual(['fd00:20::5']);
    expect((await pool.acquireRequested(owner('c1'), { address: 'fd00:20:0:0::5', prefixLength: 64 })).address).toBe(
      'fd00:20::5/64',
    );
    await expect(pool.acquireRequested(owner('c2'), { address: 'fd00:20::5' })).rejects.toThrow(ConflictError);
    await expect(pool.acquireRequested(owner('c3'), { address: 'fd00:20::0003' })).rejects.toThrow(/excluded/);
    await expect(pool.acquireRequested(owner('c3'), { address: 'fd00:21::5' })).rejects.toThrow(/outside range/);
    const err = await pool.acquireRequested(owner('c3'), { address: '10.20.0.5' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toBe(
      "requested address 10.20.0.5 is IPv4 but network n's pool fd00:20::/64 is IPv6",
    );
  });

  it('leases a static IPv6 address under its canonical name, beside an IPv4 one', async () => {
    const six = new StaticPool(leases, {
      address: 'FD00:30::0005/64',
      gateway: 'fd00:30::1',
      routes: [{ dst: '::/0' }],
    });
    const four = new StaticPool(leases, { address: '10.30.0.5/24', routes: [] });
    expect(await six.acquire(owner('c1'))).toEqual({
      address: 'fd00:30::5/64',
      gateway: 'fd00:30::1',
      routes: [{ dst: '::/0', via: 'fd00:30::1' }],
    });
    await four.acquire(owner('c1'));
    expect(files()).toEqual(['10.30.0.5', 'fd00:30::5']);
    expect((await six.acquireRequested(owner('c1'), { address: 'fd00:30:0::5' })).address).toBe('fd00:30::5/64');
    await expect(six.acquireRequested(owner('c1'), { address: 'fd00:30::6' })).rejects.toThrow(InvalidInputError);
    await expect(six.acquire(owner('c2'))).rejects.toThrow(ConflictError);
    expect(await six.release(owner('c1'))).toEqual(['fd00:30::5']);
    expect(files()).toEqual(['10.30.0.5']);
  });

  it('names leases only by canonical text, and a one-family view neither sees nor removes the other', () => {
    expect(isLeaseName('fd00:20::5')).toBe(true);
    expect(isLeaseName('FD00:20::5')).toBe(false);
    expect(isLeaseName('fd00:20:0::5')).toBe(false);
    expect(isLeaseName('10.0.0.5', 6)).toBe(false);
    expect(isLeaseName('..')).toBe(false);
    leases.ensure();
    writeFileSync(join(leases.dir, 'FD00:20::9'), '{}'); // not podvlan's: never a lease
    leases.tryTake('10.20.0.9', { ...owner('c1'), address: '10.20.0.9', since: '' });
    leases.tryTake('fd00:20::9', { ...owner('c1'), address: 'fd00:20::9', since: '' });
    expect(leases.taken()).toEqual(new Set(['10.20.0.9', 'fd00:20::9']));
    expect(leases.only(6).taken()).toEqual(new Set(['fd00:20::9']));
    expect(leases.only(4).heldBy(owner('c1'))).toEqual(['10.20.0.9']);
    expect(leases.only(6).read('10.20.0.9')).toBeUndefined();
    expect(leases.only(6).read('FD00:20:0::09')?.address).toBe('fd00:20::9');
    expect(leases.read('../../etc/passwd')).toBeUndefined();
    expect(() => leases.only(6).remove('10.20.0.9')).toThrow(UnavailableError);
    expect(() => leases.tryTake('FD00:20::9', { ...owner('c2'), address: 'x', since: '' })).toThrow(UnavailableError);
  });
});
