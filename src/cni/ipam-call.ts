// Which of podvlan's two CNI roles a config asks for, known without the schema (zod) so the
// main-plugin path keeps its cached config. A runtime runs a plugin as `<bin dir>/<type>`, and a
// main plugin its IPAM plugin as `<bin dir>/<ipam.type>`, so the name this executable was started
// under says which of the two `type`s is its own: installed as `acme-podvlan`, a config of type
// `acme-podvlan` is a main-plugin call, whatever its `ipam.type`.

/** The file name this executable was started under ("podvlan" when it cannot tell). */
export function invokedName(argv0: string | undefined = process.argv0): string {
  const name = (argv0 ?? '').split('/').pop() ?? '';
  return name === '' || name === 'bun' || name === 'node' ? 'podvlan' : name;
}

/** podvlan called as another main plugin's IPAM plugin: `ipam.type` is its name, the top-level `type` is not. */
export function isIpamCall(text: string, self = 'podvlan'): boolean {
  try {
    const c = JSON.parse(text) as { type?: unknown; ipam?: { type?: unknown } };
    return c.type !== self && c.ipam?.type === self;
  } catch {
    return false;
  }
}
