// Which of podvlan's two CNI roles a config asks for, known without the schema (zod) so the
// main-plugin path keeps its cached config.

/** podvlan called as another main plugin's IPAM plugin: `ipam.type` is podvlan, the top-level `type` is not. */
export function isIpamCall(text: string): boolean {
  try {
    const c = JSON.parse(text) as { type?: unknown; ipam?: { type?: unknown } };
    return c.type !== 'podvlan' && c.ipam?.type === 'podvlan';
  } catch {
    return false;
  }
}
