// CNI_NETNS opened once as a namespace handle; every later step uses the handle, not the path.
import { openSandbox, type Sandbox } from '../runtime/sandbox';
import { CniCode, CniError } from './spec';

export function openNetns(path: string): Sandbox {
  try {
    return openSandbox(path, `CNI_NETNS ${path}`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new CniError(
      CniCode.invalidEnvironment,
      `CNI_NETNS ${path} cannot be opened (${code}): no such network namespace`,
    );
  }
}
