// Root acts on what it finds in the state directory: it writes records and leases where the
// directory's entries point, trusts its locks, its config cache and its agent socket. So the
// directory, each part of it and the path to it must be root's alone; every command checks that
// before it reads or writes anything there, and refuses with one line saying what to fix.
//
// The rules: the state directory and its parts (pods/, ipam/ and each network's directory in it,
// locks/, metrics/, the config cache) exist as real entries (no symbolic link), are owned by the effective
// uid, and are not writable by group or others. Every ancestor is a directory (or a symbolic link
// owned by root) owned by root or the effective uid, and not writable by group or others unless
// sticky (/tmp is fine: others cannot remove or rename what root made there). A path through a
// symbolic link is checked on both the path as written and the path it resolves to. The status
// hint directory (/run/podvlan) is held to the same rules, since status trusts what it finds there.
import { nodeFs } from '../builtins';
import { HINT_DIR } from '../config/state-dir-hint';
import { ConfigError, UnavailableError } from '../errors';

export const CONFIG_CACHE_NAME = '.config-cache.json';
const DIRECTORIES = ['pods', 'ipam', 'locks', 'metrics'];
const S_ISVTX = 0o1000;

type Stat = import('node:fs').Stats;

const euid = () => process.geteuid?.() ?? 0;
const mode = (st: Stat) => (st.mode & 0o7777).toString(8).padStart(3, '0');

/** 'ok', or 'missing' (only with create false: the directory does not exist, its ancestors are safe). */
export function checkStateDir(stateDir: string, opts: { create: boolean }): 'ok' | 'missing' {
  const dir = stateDir.replace(/\/+$/, '') || '/';
  // Not root: every rule below would read as advice to hand the directory to this user.
  if (euid() !== 0) {
    throw new UnavailableError(`state directory ${dir} is root's, this is uid ${euid()} (podvlan must run as root)`);
  }
  checkAncestors(dir, `state directory ${dir}`);
  let st = lstatOrUndefined(dir);
  if (!st) {
    if (!opts.create) return 'missing';
    try {
      nodeFs().mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new ConfigError(`cannot create state directory ${dir}: ${why}`);
    }
    // Made now, but maybe not by us alone (someone may have raced us to a missing ancestor): look again.
    checkAncestors(dir, `state directory ${dir}`);
    st = lstatOrUndefined(dir);
  }
  checkOwnEntry(dir, st, 'directory', `state directory ${dir}`);
  for (const name of DIRECTORIES) {
    const path = `${dir}/${name}`;
    checkOwnEntry(path, lstatOrUndefined(path), 'directory', path);
  }
  for (const network of listOrEmpty(`${dir}/ipam`)) {
    const path = `${dir}/ipam/${network}`;
    const entry = lstatOrUndefined(path);
    // Only directories and links matter: a stray file there is never used as a lease directory.
    if (entry && (entry.isDirectory() || entry.isSymbolicLink())) checkOwnEntry(path, entry, 'directory', path);
  }
  const cache = `${dir}/${CONFIG_CACHE_NAME}`;
  const fixCache = 'remove it (podvlan writes a new one)';
  checkOwnEntry(cache, lstatOrUndefined(cache), 'file', `config cache ${cache}`, fixCache);
  const hints = lstatOrUndefined(HINT_DIR);
  const fixHints = 'remove it (podvlan makes a new one, 0700)';
  if (hints) checkOwnEntry(HINT_DIR, hints, 'directory', `status hint directory ${HINT_DIR}`, fixHints);
  return st ? 'ok' : 'missing';
}

/** One entry of podvlan's own: a real file or directory of the effective uid that only it can write. */
function checkOwnEntry(path: string, st: Stat | undefined, kind: 'file' | 'directory', what: string, fix?: string) {
  if (!st) return;
  const real = `a real ${kind} owned by root, mode ${kind === 'file' ? '0600' : '0700'}`;
  if (st.isSymbolicLink()) throw unsafe(what, 'is a symbolic link', fix ?? `replace it with ${real}`);
  const isKind = kind === 'directory' ? st.isDirectory() : st.isFile();
  if (!isKind) throw unsafe(what, `is not a ${kind}`, fix ?? `replace it with ${real}`);
  const chown = `chown ${euid()} ${path} (and check what is in it)`;
  if (st.uid !== euid()) throw unsafe(what, `is owned by uid ${st.uid}, not ${euid()}`, fix ?? chown);
  const writable = `is writable by group or others (mode ${mode(st)})`;
  if (st.mode & 0o022) throw unsafe(what, writable, fix ?? `chmod go-w ${path}`);
}

/** Every existing ancestor of dir, on the path as written and, if it passes a link, as resolved. */
function checkAncestors(dir: string, what: string): void {
  let deepest = '/';
  let linked = false;
  for (const p of prefixes(dir)) {
    const st = lstatOrUndefined(p);
    if (!st) break; // the rest is made by us, 0700
    deepest = p;
    if (st.isSymbolicLink()) {
      if (st.uid !== 0 && st.uid !== euid()) {
        const fix = 'point stateDir at a path only root controls';
        throw unsafe(`ancestor ${p} of ${what}`, `is a symbolic link owned by uid ${st.uid}`, fix);
      }
      linked = true;
      continue;
    }
    checkAncestor(p, st, what);
  }
  if (!linked) return;
  let real: string;
  try {
    real = nodeFs().realpathSync(deepest);
  } catch {
    throw unsafe(`ancestor ${deepest} of ${what}`, 'does not resolve', 'point stateDir at a real directory');
  }
  for (const p of [...prefixes(real), real]) {
    const st = lstatOrUndefined(p);
    if (st) checkAncestor(p, st, what);
  }
}

/** '/', '/a', '/a/b' for '/a/b/c' (a plain loop: array helpers cost setup ~0.1 ms when cold). */
function prefixes(path: string): string[] {
  const out = ['/'];
  for (let i = path.indexOf('/', 1); i > 0; i = path.indexOf('/', i + 1)) {
    if (path[i - 1] !== '/') out.push(path.slice(0, i));
  }
  return out;
}

function checkAncestor(path: string, st: Stat, what: string): void {
  const it = `ancestor ${path} of ${what}`;
  if (!st.isDirectory() && !st.isSymbolicLink()) throw unsafe(it, 'is not a directory', 'point stateDir elsewhere');
  if (st.uid !== 0 && st.uid !== euid()) {
    throw unsafe(it, `is owned by uid ${st.uid}, not root`, 'move stateDir to a path that only root controls');
  }
  if (st.mode & 0o022 && !(st.mode & S_ISVTX)) {
    const writable = `is writable by group or others and not sticky (mode ${mode(st)})`;
    throw unsafe(it, writable, `chmod go-w ${path}, or move stateDir`);
  }
}

function unsafe(what: string, problem: string, fix: string): ConfigError {
  return new ConfigError(`${what} ${problem}: ${fix}`);
}

function lstatOrUndefined(path: string): Stat | undefined {
  try {
    return nodeFs().lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(`cannot check ${path}: ${why}`);
  }
}

function listOrEmpty(dir: string): string[] {
  try {
    return nodeFs().readdirSync(dir);
  } catch {
    return [];
  }
}
