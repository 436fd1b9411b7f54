// Reading a host link's attributes from sysfs (the host end's MAC for the ADD result).
import { readFileSync } from 'node:fs';
import { isInterfaceName } from '../names';

export function readLink(name: string, attribute: 'address' | 'ifindex' | 'iflink'): string | undefined {
  if (!isInterfaceName(name)) return undefined;
  try {
    return readFileSync(`/sys/class/net/${name}/${attribute}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}
