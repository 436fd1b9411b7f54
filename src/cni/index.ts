// The CNI front end: one call of the executable with CNI_COMMAND set. Parses the environment and
// the network config, runs the verb through the core, and prints the spec's result or error
// object on stdout (never anything on stderr: runtimes read it as the plugin's output).
import { readFileSync } from 'node:fs';
import type { Context } from '../commands/context';
import { type CallName, callStart, type Failure, recordCall } from '../state/call-log';
import { parseEnv, parseVerb } from './env';
import { isSupportedVersion, LATEST_VERSION, SUPPORTED_VERSIONS, toErrorObject } from './spec';

export interface CniIo {
  out: (text: string) => void;
}

/** stdin as text; '' when there is none (VERSION may come with a closed or empty stdin). */
export function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

/** Only the cniVersion of a config text, without the schema: VERSION and error objects need no more. */
function peekVersion(text: string): string | undefined {
  try {
    const v = (JSON.parse(text) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

export async function runCni(env: Record<string, string | undefined>, stdin: string, io: CniIo): Promise<number> {
  const requested = peekVersion(stdin);
  // Errors come in the config's version when podvlan speaks it, else in the newest it speaks.
  const errorVersion = requested && isSupportedVersion(requested) ? requested : LATEST_VERSION;
  let ctx: Context | undefined;
  const started = callStart();
  // Set once the state directory passed its check: ADD, DEL and CHECK are recorded there for `metrics`.
  let record: { stateDir: string; verb: CallName } | undefined;
  let failed: Failure;
  try {
    const verb = parseVerb(env);
    if (verb === 'VERSION') {
      io.out(JSON.stringify({ cniVersion: errorVersion, supportedVersions: SUPPORTED_VERSIONS }));
      return 0;
    }
    const cni = parseEnv(env);
    // Loaded past VERSION only. The config comes validated from its cache when it can (conf-cache.ts),
    // which loads the schema (zod) and YAML only on a miss; this call's runtimeConfig, args and
    // prevResult are in conf.perCall, from stdin. podvlan as another plugin's IPAM is not cached.
    const [{ loadNetConf }, { invokedName, isIpamCall }, { Logger }, { checkStateDir }] = await Promise.all([
      import('./conf-cache'),
      import('./ipam-call'),
      import('../log'),
      import('../state/state-dir'),
    ]);
    // Another main plugin (bridge, macvlan, ...) delegating its IPAM to podvlan.
    if (isIpamCall(stdin, invokedName()))
      return await (await import('./ipam-plugin')).runIpamPlugin(verb, cni, stdin, io);
    // STATUS and GC have no CNI_IFNAME; the interface is irrelevant to them.
    const conf = await loadNetConf(stdin, cni.ifname || 'eth0');
    // Which Kubernetes pod a call is for (CRI's K8S_POD_* in CNI_ARGS): the container id alone
    // does not say, and an operator reading the log looks for the pod.
    const k8s = Object.fromEntries(Object.entries(cni.args).filter(([k]) => k.startsWith('K8S_POD_')));
    const log = new Logger(conf.config.logFile);
    ctx = { config: conf.config, log: Object.keys(k8s).length ? log.with({ k8s }) : log };
    if (verb === 'STATUS') {
      const { status } = await import('./status');
      await status(ctx);
      return 0;
    }
    checkStateDir(conf.config.stateDir, { create: true });
    if (verb !== 'GC') record = { stateDir: conf.config.stateDir, verb };
    const delegate = conf.ipamPlugin
      ? { plugin: conf.ipamPlugin, stdin, env, timeoutMs: conf.config.timeoutMs, log: ctx.log }
      : undefined;
    if (verb === 'GC') {
      const { gc, validAttachments } = await import('./gc');
      await gc(ctx, conf.network, validAttachments(stdin), delegate);
    } else if (verb === 'ADD') {
      const [{ add }, { buildResult }, { readLink }, { parsePrevResult }] = await Promise.all([
        import('./add'),
        import('./result'),
        import('./host'),
        import('./prev-result'),
      ]);
      // Read before anything changes: a prevResult podvlan cannot carry on fails the ADD untouched.
      const prevResult = parsePrevResult(conf.prevResult, conf.cniVersion);
      const added = await add(ctx, cni, conf.network, conf.runtimeConfig, delegate);
      io.out(
        JSON.stringify(
          buildResult({
            cniVersion: conf.cniVersion,
            attachment: added.attachment,
            hostMac: readLink(added.attachment.port, 'address'),
            sandboxPath: cni.netns,
            leases: added.leases,
            prevResult,
          }),
        ),
      );
    } else if (verb === 'DEL') {
      const { del } = await import('./del');
      await del(ctx, cni, conf.network, delegate);
    } else {
      const { check } = await import('./check');
      await check(ctx, cni, conf);
      // SPEC.md: CHECK also runs the delegated plugins' CHECK.
      if (delegate) await (await import('./delegate')).delegateCheck(delegate);
    }
    return 0;
  } catch (err) {
    failed = { error: err };
    const obj = toErrorObject(err, errorVersion);
    ctx?.log.error('cni call failed', { command: env.CNI_COMMAND, container: env.CNI_CONTAINERID, ...obj });
    io.out(JSON.stringify(obj));
    return 1;
  } finally {
    const lost = record ? recordCall(record.stateDir, record.verb, started, failed) : undefined;
    if (lost) ctx?.log.warn('call not recorded for metrics', { error: lost });
    ctx?.cluster?.client.close();
  }
}
