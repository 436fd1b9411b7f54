// `status`, the kubelet's most frequent call: it reads only stateDir from the config (no YAML
// parser, no schema) and the pod record, and makes no OVSDB, Docker or etcd round trip.
import { statusOutput } from '../commands/status';
import { findConfigPathQuick, quickStateDir, readConfigTextQuick } from '../config/locate';
import type { PodRef } from '../names';
import type { Io } from './edge';

export async function statusCall(ref: PodRef, configFlag: string | undefined, io: Io): Promise<void> {
  const path = await findConfigPathQuick(configFlag);
  const stateDir = quickStateDir(await readConfigTextQuick(path)) ?? (await (await import('./calls')).loadContext(path)).config.stateDir;
  const line = statusOutput(stateDir, ref);
  if (line) io.out(line);
}

