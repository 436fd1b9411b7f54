// Files written aside and renamed or linked into place carry their writer's pid
// (`*.tmp-<pid>` or `.tmp-<pid>-*`); a writer killed in between leaves one behind.
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

const TEMP = /(?:\.tmp-(\d+)$|^\.tmp-(\d+)-)/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove (or with dryRun, only list) temp files under stateDir whose writer is dead. */
export function removeStaleTempFiles(stateDir: string, dryRun: boolean): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        if (depth < 3) walk(path, depth + 1);
        continue;
      }
      const m = TEMP.exec(e.name);
      if (!m || alive(Number(m[1] ?? m[2]))) continue;
      found.push(path);
      if (!dryRun)
        try {
          unlinkSync(path);
        } catch {
          /* already gone */
        }
    }
  };
  walk(stateDir, 0);
  return found;
}
