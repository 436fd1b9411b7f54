// A bench file run alone: it starts a private sandbox, runs itself again inside the node's
// network namespace with the sandbox in `envKey`, and stops the sandbox whatever happens.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { type SandboxInfo, startSandbox, stopSandbox } from '../test/support/sandbox';

/** The sandbox when this is the inner run; else runs `file` inside one and exits with its status. */
export async function insideSandbox(file: string, envKey: string): Promise<SandboxInfo> {
  const given = process.env[envKey];
  if (given) return JSON.parse(given) as SandboxInfo;
  const info = await startSandbox();
  let code = 1;
  try {
    const bun = resolve(__dirname, '../node_modules/.bin/bun');
    const r = spawnSync('ip', ['netns', 'exec', info.netns, bun, file], {
      stdio: 'inherit',
      env: { ...process.env, [envKey]: JSON.stringify(info) },
    });
    code = r.status ?? 1;
  } finally {
    await stopSandbox(info);
  }
  process.exit(code);
}
