// One sandbox per test run (only one userspace ovs-vswitchd can run per namespace); each test
// file uses its own bridges, subnets and state directory.
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { existsSync } from 'node:fs';
import { BINARY } from '../support/plugin';
import { type SandboxInfo, startSandbox, stopSandbox } from '../support/sandbox';

declare module 'vitest' {
  export interface ProvidedContext {
    sandbox: SandboxInfo;
  }
}

export default async function setup(project: TestProject) {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`npm run build\` first`);
  const info = await startSandbox();
  project.provide('sandbox', info);
  return async () => stopSandbox(info);
}
