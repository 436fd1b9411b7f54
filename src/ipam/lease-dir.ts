// Node-local leases: one file per address in <stateDir>/ipam/<network>/, named by the address
// (its canonical text: IPv6 in RFC 5952 form) and holding its owner. A dual-stack network's two
// pools share the directory; each sees only its own family's files (only()). A file appears atomically with its content (written aside, then
// hard-linked into place, which fails if the name exists), so concurrent setups never share an
// address and a killed call never leaves a lease without an owner. No fsync (it cost up to
// 130 ms on a busy disk): only a crash of the whole node can leave an empty lease behind, every
// pod dies with it, and gc removes unreadable leases that no live port uses.
import { linkSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { UnavailableError } from '../errors';
import { readOwnFile, writeFreshFile } from '../state/own-file';
import { type Family, formatIp, tryParseIp } from './ip';
import { type Owner, sameOwner } from './pool';

export interface LeaseRecord extends Owner {
  address: string;
  since: string;
}

/** A lease file's name: an address in canonical text (of `family` when given). Anything else in
 * the directory (temp and dot files, a forged name) is not a lease and never a path of its own. */
export function isLeaseName(name: string, family?: Family): boolean {
  const ip = tryParseIp(name);
  return ip !== undefined && (family === undefined || ip.family === family) && formatIp(ip) === name;
}

export class LeaseDir {
  /** `family`: this view's leases are that family's only; none: every lease (gc, the views). */
  constructor(
    readonly dir: string,
    readonly family?: Family,
  ) {}

  /** The same directory seen by a pool of one family. */
  only(family: Family): LeaseDir {
    return new LeaseDir(this.dir, family);
  }

  private isMine(name: string): boolean {
    return isLeaseName(name, this.family);
  }

  ensure(): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new UnavailableError(`cannot create lease directory ${this.dir}: ${(err as NodeJS.ErrnoException).code}`);
    }
  }

  /** Try to take `ip`; false if someone holds it. */
  tryTake(ip: string, record: LeaseRecord): boolean {
    if (!this.isMine(ip))
      throw new UnavailableError(`not taking lease ${JSON.stringify(ip)} under ${this.dir}: not an address`);
    const final = join(this.dir, ip);
    const temp = join(this.dir, `.tmp-${process.pid}-${ip}`);
    try {
      writeFreshFile(temp, `${JSON.stringify(record)}\n`);
      linkSync(temp, final);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new UnavailableError(
        `cannot write lease ${final}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    } finally {
      try {
        unlinkSync(temp);
      } catch {
        /* already gone */
      }
    }
  }

  /** The lease of `ip`, written any way (FD00::05 reads fd00::5's file); none for the other family. */
  read(ip: string): LeaseRecord | undefined {
    // A hint read back from a record or port is never a path of its own: only the canonical
    // text of a parsed address is.
    const parsed = tryParseIp(ip);
    if (!parsed || (this.family !== undefined && parsed.family !== this.family)) return undefined;
    try {
      return JSON.parse(readOwnFile(join(this.dir, formatIp(parsed)))) as LeaseRecord;
    } catch {
      return undefined;
    }
  }

  /** Addresses with a lease file (sorted names, temp files excluded). */
  taken(): Set<string> {
    try {
      return new Set(readdirSync(this.dir).filter((n) => !n.startsWith('.') && this.isMine(n)));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return new Set();
      throw new UnavailableError(`cannot read lease directory ${this.dir}: ${code ?? (err as Error).message}`);
    }
  }

  /** The addresses this owner holds: the hint first (cheap), else a scan. */
  heldBy(owner: Owner, hint?: string): string[] {
    const canonical = hint === undefined ? undefined : tryParseIp(hint);
    if (canonical && (this.family === undefined || canonical.family === this.family)) {
      const name = formatIp(canonical);
      const rec = this.read(name);
      if (rec && sameOwner(rec, owner)) return [name];
    }
    return [...this.taken()].filter((ip) => {
      const rec = this.read(ip);
      return rec !== undefined && sameOwner(rec, owner);
    });
  }

  remove(ip: string): void {
    if (!this.isMine(ip)) {
      const what = this.family ? `not an IPv${this.family} address in canonical form` : 'not an address';
      throw new UnavailableError(`not removing lease ${JSON.stringify(ip)} under ${this.dir}: ${what}`);
    }
    try {
      unlinkSync(join(this.dir, ip));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT')
        throw new UnavailableError(`cannot remove lease ${join(this.dir, ip)}: ${code ?? (err as Error).message}`);
    }
  }

  all(): LeaseRecord[] {
    return [...this.taken()].flatMap((ip) => this.read(ip) ?? []);
  }

  /** Lease files without a readable owner: what a crash of the node left half-written. */
  unreadable(): string[] {
    return [...this.taken()].filter((ip) => {
      let text: string;
      try {
        text = readOwnFile(join(this.dir, ip));
      } catch (err) {
        return (err as NodeJS.ErrnoException).code !== 'ENOENT'; // released meanwhile
      }
      try {
        JSON.parse(text);
        return false;
      } catch {
        return true;
      }
    });
  }
}
