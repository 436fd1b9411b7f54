// diagnose on a trunk network (`vlan: {trunk: ...}`): which VLAN of the trunk the path follows,
// and which network each end is on (a trunk pod and an access pod share a bridge and a VLAN, not a
// network). The VLAN is `--vlan N`, or the one VLAN both ends share; anything else is refused in
// one line before anything is read, since a guess would judge the wrong path.
import type { Network } from '../config/schema';
import type { EndFacts } from '../diagnose/facts';
import { InvalidInputError } from '../errors';
import { isTrunkVlan, trunkText, parseVlanTrunk, vlanListText, vlansOf } from '../ipam/vlan';
import { isOwnRecordedPort } from '../state/pod-record';
import type { Known } from './diagnose';

const name = (k: Known) => `${k.ref.namespace}/${k.ref.pod}`;
const isTrunk = (n: Network) => isTrunkVlan(n.vlan);

/** `--vlan N`: a VLAN number 1-4094, else refused. */
export function parseVlanOption(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = /^[1-9]\d{0,3}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= 4094)) throw new InvalidInputError(`--vlan ${JSON.stringify(text)} is not a VLAN (1-4094)`);
  return n;
}

/** The trunk an end's port was made with on `n` (podvlan/trunks), else the config's, as VLANs. */
function trunkVlans(k: Known, n: Network): number[] {
  const made = k.attachments.find((a) => a.network === n.name)?.recordedTrunks ?? trunkText(n.vlan) ?? '';
  return made === '' ? [] : vlansOf(parseVlanTrunk(made));
}

/** The VLANs an end is on through network `n`: a trunk's list, or its access port's one tag. */
function vlansOn(k: Known, n: Network): number[] {
  if (isTrunk(n)) return trunkVlans(k, n);
  const a = k.attachments.find((x) => x.network === n.name);
  const rec = k.record?.attachments.find((x) => x.network === n.name && isOwnRecordedPort(k.ref, x));
  const tag = a?.vlan ?? (a?.tag || undefined) ?? (rec?.tag || undefined) ?? ('id' in n.vlan ? n.vlan.id : undefined);
  return tag === undefined ? [] : [tag];
}

export interface TrunkPair {
  src: Network;
  dst: Network;
  vlan: number;
}

/**
 * For two pods of this node where one (or both) is on a trunk network: the networks and the VLAN
 * to follow. Undefined when no trunk is involved (the plain path: one shared network), or when
 * the ends share an access network and no --vlan asks for a trunk's VLAN.
 */
export function trunkPair(
  networks: Network[],
  src: Known,
  dst: Known,
  on: [Set<string>, Set<string>],
  asked: { network?: string; vlan?: number },
): TrunkPair | undefined {
  const [a, b] = on.map((s) => networks.filter((n) => s.has(n.name)));
  if (![...a, ...b].some(isTrunk)) {
    if (asked.vlan !== undefined)
      throw new InvalidInputError(
        `--vlan is for a pod on a trunk network: neither ${name(src)} nor ${name(dst)} is on one`,
      );
    return undefined;
  }
  const plain = networks.find((n) => on[0].has(n.name) && on[1].has(n.name) && (asked.network ?? n.name) === n.name);
  if (asked.vlan === undefined && plain && !isTrunk(plain)) return undefined;
  for (const s of a)
    for (const d of b) {
      if (s.bridge !== d.bridge || !(isTrunk(s) || isTrunk(d))) continue;
      if (asked.network !== undefined && s.name !== asked.network && d.name !== asked.network) continue;
      const other = new Set(vlansOn(dst, d));
      const shared = vlansOn(src, s).filter((v) => other.has(v));
      if (asked.vlan !== undefined) {
        if (shared.includes(asked.vlan)) return { src: s, dst: d, vlan: asked.vlan };
        continue;
      }
      if (shared.length === 1) return { src: s, dst: d, vlan: shared[0] };
      if (shared.length > 1)
        throw new InvalidInputError(
          `${name(src)} and ${name(dst)} share VLANs ${vlanListText(shared)} on bridge ${s.bridge}: say which with --vlan`,
        );
    }
  if (asked.vlan === undefined) return undefined; // no VLAN in common: chooseNetwork says so
  const offered = [...a.map((n) => [src, n] as const), ...b.map((n) => [dst, n] as const)]
    .map(([k, n]) => `${name(k)} ${vlanListText(vlansOn(k, n)) || 'none'} on ${n.name}`)
    .join(', ');
  throw new InvalidInputError(`--vlan ${asked.vlan} is not a VLAN both ends are on (${offered})`);
}

/** Towards another node: the VLAN of the source's trunk to follow (none for an access network). */
export function trunkTowards(network: Network, src: Known, vlan: number | undefined): number | undefined {
  if (!isTrunk(network)) {
    if (vlan !== undefined)
      throw new InvalidInputError(
        `--vlan is for a pod on a trunk network: ${name(src)} is on ${network.name}, VLAN-tagged by its port`,
      );
    return undefined;
  }
  const list = trunkVlans(src, network);
  if (vlan !== undefined) {
    if (list.includes(vlan)) return vlan;
    throw new InvalidInputError(
      `--vlan ${vlan} is not on ${name(src)}'s trunk port (${vlanListText(list)} on ${network.name})`,
    );
  }
  if (list.length === 1) return list[0];
  throw new InvalidInputError(
    `${name(src)} is on trunk ${vlanListText(list)} of ${network.name}: say which VLAN with --vlan`,
  );
}

/** An end on a trunk network follows `vlan`: its hops judge that VLAN, not a tag of the port. */
export function followTrunkVlan(end: EndFacts, k: Known, network: Network, vlan: number | undefined): EndFacts {
  if (!isTrunk(network) || vlan === undefined) return end;
  const recorded = k.attachments.find((a) => a.network === network.name)?.recordedTrunks ?? trunkText(network.vlan);
  return { ...end, recordedTag: vlan, trunk: { vlan, ...(recorded !== undefined ? { recorded } : {}) } };
}
