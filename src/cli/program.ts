// The command line: argument parsing, validation at the edge, output, and the one place that
// turns errors into a single line and an exit code. `status` never writes to stderr: the
// kubelet reads stdout and stderr together and fails the pod on any stray byte.
import { Command, CommanderError, Option } from 'commander';
import pkg from '../../package.json';
import { failureExitCode, InvalidInputError, oneLine } from '../errors';
import { parsePodArgs } from '../names';
import { loadNodeContext, setupCall, teardownCall } from './calls';
import { checkArgLengths, failure, type Io } from './edge';
import { locateConfig, statusCall } from './status-call';
import { type OutputFormat, table } from './output';
import type { GcResult } from '../commands/gc';

export type { Io } from './edge';

/** The subcommand: the first argument that is neither an option nor an option's value. */
function subcommandOf(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-c' || argv[i] === '--config') {
      i++;
      continue;
    }
    if (!argv[i].startsWith('-')) return argv[i];
  }
  return undefined;
}

function buildProgram(io: Io): { program: Command; exitCode: () => number } {
  let exitCode = 0; // an action's own exit code, when it is not an error
  const program = new Command('podvlan')
    .description('Kubelet exec network plugin: puts pods on VLANs of an Open vSwitch bridge')
    .option(
      '-c, --config <path>',
      'config file (default: $PODVLAN_CONFIG, podvlan.yaml beside the executable, /etc/podvlan/podvlan.yaml)',
    )
    .version(pkg.version, '-V, --version')
    .showHelpAfterError(false)
    .exitOverride()
    // Help asked for goes to stdout; usage shown for a missing command to stderr; errors are
    // printed by run() as one line, so commander's own are dropped.
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      outputError: () => {},
    });
  const cfg = () => program.opts<{ config?: string }>().config;
  const podCommand = (name: string, summary: string) =>
    program
      .command(name)
      .description(summary)
      .argument('<namespace>', 'pod namespace (DNS-1123 label)')
      .argument('<pod>', 'pod name (DNS-1123 subdomain)')
      .argument('<container-id>', "infra container's Docker id (hex)")
      .argument('[runtime]', 'container runtime name passed by some kubelets (ignored)');
  // init, the views, gc and ipam see the node whole: a CNI node's podvlan.yaml holds node keys and bridges,
  // its networks are the podvlan entries of the conflists (src/cni/conf-dir.ts).
  const cniConfDirOption = () =>
    new Option(
      '--cni-conf-dir <dir>',
      'also take the podvlan networks of the CNI configs in this dir (default: /etc/cni/net.d, when it exists)',
    );
  const nodeContext = async (cniConfDir: string | undefined) => {
    const { ctx, cni } = await loadNodeContext(cfg(), cniConfDir);
    for (const line of cni.skipped) io.err(line);
    return ctx;
  };

  program
    .command('init')
    .description(
      "validate the config, make sure every OVS bridge of the node's networks exists, make the uplinks trunk ports",
    )
    .option('--dry-run', 'print what init would change, and change nothing')
    .addOption(cniConfDirOption())
    .action(async (opts: { dryRun?: boolean; cniConfDir?: string }) => {
      const { init } = await import('../commands/init');
      const { ctx, cni } = await loadNodeContext(cfg(), opts.cniConfDir);
      const r = await init(ctx, { dryRun: opts.dryRun === true, cni });
      if (r.cniNetworks.length > 0) io.out(`CNI networks: ${r.cniNetworks.join(', ')}`);
      for (const line of r.notes) io.out(line);
      const mark = opts.dryRun ? ' (would create)' : ' (created)';
      io.out(`bridges ready: ${r.bridges.map((b) => `${b}${r.created.includes(b) ? mark : ''}`).join(', ')}`);
      for (const line of r.uplinks) io.out(line);
    });

  podCommand('setup', "attach the pod's infra container to every network that selects it").action(
    (ns: string, pod: string, id: string, runtime?: string) => setupCall(parsePodArgs(ns, pod, id, runtime), cfg(), io),
  );
  podCommand('teardown', "remove the pod's ports and veths and release its addresses").action(
    (ns: string, pod: string, id: string, runtime?: string) =>
      teardownCall(parsePodArgs(ns, pod, id, runtime), cfg(), io),
  );
  podCommand('status', "print the pod's primary address as the kubelet expects it").action(
    (ns: string, pod: string, id: string, runtime?: string) =>
      statusCall(parsePodArgs(ns, pod, id, runtime), locateConfig(cfg()), io),
  );

  program
    .command('agent')
    .description(
      "stay resident and run the kubelet's setup and teardown calls for the executable (optional; calls fall back to doing the work themselves)",
    )
    .action(async () => {
      const { runAgent } = await import('../agent/server');
      await runAgent(cfg(), io);
    });

  program
    .command('list')
    .description('every attachment on this node, read back from OVSDB, with its state (ok or what is wrong)')
    .option('--container <id>', "only this container's attachments (full id or a unique prefix of at least 12 digits)")
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .addOption(cniConfDirOption())
    .action(async (opts: { output: OutputFormat; container?: string; cniConfDir?: string }) => {
      const { list, listJson, listRow, problemLines, LIST_COLUMNS } = await import('../commands/list');
      const rows = await list(await nodeContext(opts.cniConfDir), { container: opts.container });
      if (opts.output === 'json') {
        io.out(JSON.stringify(rows.map(listJson), null, 2));
        return;
      }
      io.out(table(LIST_COLUMNS, rows.map(listRow)));
      const problems = problemLines(rows);
      if (problems.length > 0) io.out(['', ...problems].join('\n'));
    });

  program
    .command('networks')
    .description('per network: bridge, VLANs in use, uplinks carrying them, address pool usage, problems')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .addOption(cniConfDirOption())
    .action(async (opts: { output: OutputFormat; cniConfDir?: string }) => {
      const { networks, networkRow, networksJson, problemLines, NETWORK_COLUMNS } = await import(
        '../commands/networks'
      );
      const view = await networks(await nodeContext(opts.cniConfDir));
      if (opts.output === 'json') {
        io.out(JSON.stringify(networksJson(view), null, 2));
        return;
      }
      io.out(
        table(
          NETWORK_COLUMNS,
          view.networks.map((n) => networkRow(n, view.bridges)),
        ),
      );
      const problems = problemLines(view);
      if (problems.length > 0) io.out(['', ...problems].join('\n'));
    });

  program
    .command('topology')
    .description('draw the node: uplinks, bridges, ports, pods; problems in red')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['svg', 'dot']).default('svg'))
    .addOption(cniConfDirOption())
    .action(async (opts: { output: 'svg' | 'dot'; cniConfDir?: string }) => {
      const { topology } = await import('../commands/topology');
      io.out((await topology(await nodeContext(opts.cniConfDir), opts.output)).trimEnd());
    });

  program
    .command('diagnose')
    .description('the path from one pod to another on this node, hop by hop, with what looks wrong at each')
    .argument('[src]', 'namespace/pod attached on this node')
    .argument('[dst]', 'namespace/pod, or an address (IPv4 or IPv6: the path is followed in its family)')
    .option('--network <name>', 'the network to follow (default: the first both pods are on)')
    .option('--probe', 'also ping from the source (small, then the MTU with DF) and count packets per port')
    .option('--peer <file>', "the other node's `podvlan collect` snapshot: judge the far half of the path too")
    .option('--vlan <n>', "on a trunk network: the trunk's VLAN to follow (default: the one both ends share)")
    .option('--all', 'every attachment of this node, each checked for local faults (no SRC, DST)')
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['text', 'json', 'dot', 'svg']).default('text'),
    )
    .addOption(cniConfDirOption())
    .action(
      async (
        src: string | undefined,
        dst: string | undefined,
        opts: {
          network?: string;
          probe?: boolean;
          peer?: string;
          vlan?: string;
          all?: boolean;
          output: 'text' | 'json' | 'dot' | 'svg';
          cniConfDir?: string;
        },
      ) => {
        if (opts.all) {
          exitCode = await diagnoseAllAction(src, opts);
          return;
        }
        if (src === undefined || dst === undefined)
          throw new InvalidInputError('diagnose needs SRC and DST (or --all)');
        const { diagnose } = await import('../commands/diagnose');
        const { exitCodeOf } = await import('../diagnose/model');
        const result = await diagnose(await nodeContext(opts.cniConfDir), src, dst, {
          network: opts.network,
          probe: opts.probe,
          peer: opts.peer,
          vlan: opts.vlan,
        });
        if (opts.output === 'json') io.out(JSON.stringify(result, null, 2));
        else if (opts.output === 'text') io.out((await import('../diagnose/render')).renderText(result));
        else io.out((await import('../diagnose/draw')).drawDiagnosis(result, opts.output).trimEnd());
        exitCode = exitCodeOf(result.hops); // 0 clean, 1 warnings, 2 critical or fatal
      },
    );

  program
    .command('collect')
    .description("this node's facts about pods and its uplinks, for `diagnose --peer` on another node")
    .argument('[pods...]', 'namespace/pod attached on this node (default: every one)')
    .option(
      '--from <address>',
      "the source's address on the other node: each pod's route, neighbour and datapath towards it",
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(['json']).default('json'))
    .addOption(cniConfDirOption())
    .action(async (pods: string[], opts: { from?: string; cniConfDir?: string }) => {
      const { collect } = await import('../commands/collect');
      const snapshot = await collect(await nodeContext(opts.cniConfDir), pods, { from: opts.from });
      io.out(JSON.stringify(snapshot, null, 2));
    });

  /** diagnose --all: text or json; its exit status is the worst attachment's. */
  async function diagnoseAllAction(
    src: string | undefined,
    opts: { network?: string; output: string; cniConfDir?: string },
  ) {
    if (src !== undefined || opts.network !== undefined)
      throw new InvalidInputError('diagnose --all takes no SRC, DST or --network');
    if (opts.output !== 'text' && opts.output !== 'json')
      throw new InvalidInputError('diagnose --all prints text or json');
    const { diagnoseAll, exitCodeOfAll } = await import('../commands/diagnose-all');
    const result = await diagnoseAll(await nodeContext(opts.cniConfDir));
    if (opts.output === 'json') io.out(JSON.stringify(result, null, 2));
    else io.out((await import('../diagnose/render')).renderAllText(result));
    return exitCodeOfAll(result);
  }

  program
    .command('gc')
    .description('remove what dead containers and interrupted calls left behind (ports, veths, addresses, records)')
    .option('--dry-run', 'report what would be removed, change nothing')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .addOption(cniConfDirOption())
    .action(async (opts: { dryRun?: boolean; output: OutputFormat; cniConfDir?: string }) => {
      const { gc } = await import('../commands/gc');
      const r = await gc(await nodeContext(opts.cniConfDir), { dryRun: opts.dryRun === true });
      if (opts.output === 'json') {
        io.out(JSON.stringify(gcJsonView(r), null, 2));
        return;
      }
      if (r.actions.length === 0) io.out(opts.dryRun ? 'nothing to remove' : 'nothing removed');
      else
        io.out(
          table(
            ['ACTION', 'TARGET', 'POD', 'CONTAINER', 'REASON'],
            r.actions.map((a) => [a.action, a.target, a.pod ?? '-', a.container?.slice(0, 12) ?? '-', a.reason]),
          ),
        );
      if (r.busy.length > 0) io.out(`skipped (a call for the pod was running): ${r.busy.join(', ')}`);
    });

  program
    .command('metrics')
    .description("the node's attachments, pools, VLANs, uplinks and the calls' counters, in the Prometheus text format")
    .option(
      '--textfile <dir>',
      "write <dir>/podvlan.prom atomically (node_exporter's textfile collector), print nothing",
    )
    .addOption(cniConfDirOption())
    .action(async (opts: { textfile?: string; cniConfDir?: string }) => {
      const { metrics, writeTextfile } = await import('../commands/metrics');
      const r = await metrics(await nodeContext(opts.cniConfDir));
      if (opts.textfile !== undefined) writeTextfile(opts.textfile, r.text);
      else io.out(r.text.replace(/\n$/, ''));
      if (r.viewError !== undefined) throw r.viewError; // written all the same, with podvlan_node_view_ok 0
    });

  const ipam = program.command('ipam').description('addresses and VLANs allocated on this node and in the cluster');
  const outputOption = () =>
    new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table');
  const printIpam = (view: import('../commands/ipam').IpamView, format: OutputFormat) => {
    if (format === 'json') {
      io.out(JSON.stringify(view, null, 2));
      return;
    }
    io.out(
      table(
        ['SCOPE', 'NETWORK', 'ADDRESS', 'NAMESPACE', 'POD', 'CONTAINER', 'INTERFACE', 'NODE', 'SINCE'],
        view.addresses.map((a) => [
          a.scope,
          a.network,
          a.address,
          a.namespace,
          a.pod,
          a.containerId.slice(0, 12),
          a.interface,
          a.node ?? '-',
          a.since,
        ]),
      ),
    );
    if (view.vlans.length > 0) {
      io.out('');
      io.out(
        table(
          ['NETWORK', 'VLAN', 'HOLDER', 'MEMBERS'],
          view.vlans.map((v) => [
            v.network,
            String(v.tag),
            v.holder,
            v.members.map((m) => `${m.pod}@${m.node}`).join(','),
          ]),
        ),
      );
    }
  };
  ipam
    .command('list')
    .description('every allocation: node-local leases and cluster-wide addresses and VLANs')
    .option('--network <name>', 'only this network')
    .addOption(outputOption())
    .addOption(cniConfDirOption())
    .action(async (opts: { network?: string; output: OutputFormat; cniConfDir?: string }) => {
      const { ipamList } = await import('../commands/ipam');
      printIpam(await ipamList(await nodeContext(opts.cniConfDir), opts.network), opts.output);
    });
  ipam
    .command('show')
    .description('what one address, one pod (namespace/pod) or one container (id or unique prefix) holds')
    .argument('<address|namespace/pod|container-id>')
    .addOption(outputOption())
    .addOption(cniConfDirOption())
    .action(async (what: string, opts: { output: OutputFormat; cniConfDir?: string }) => {
      const { ipamShow } = await import('../commands/ipam');
      const view = await ipamShow(await nodeContext(opts.cniConfDir), what);
      if (view.addresses.length === 0 && view.vlans.length === 0) {
        // Like grep finding nothing: a script can test for it (docs/operating.md).
        if (opts.output === 'json') printIpam(view, opts.output);
        else io.out(`nothing is allocated to ${what}`);
        exitCode = NOTHING_FOUND_EXIT_CODE;
        return;
      }
      printIpam(view, opts.output);
    });
  ipam
    .command('release')
    .description('free an address by hand (refused while a port on this node uses it)')
    .argument('<network>')
    .argument('<address>')
    .option('--force', 'free it even if a port on this node still uses it')
    .addOption(cniConfDirOption())
    .action(async (network: string, address: string, opts: { force?: boolean; cniConfDir?: string }) => {
      const { ipamRelease } = await import('../commands/ipam');
      const r = await ipamRelease(await nodeContext(opts.cniConfDir), network, address, opts.force === true);
      io.out(
        `released ${r.network}/${r.address} (held by ${r.namespace}/${r.pod}, container ${r.containerId.slice(0, 12)}${r.node ? `, node ${r.node}` : ''})`,
      );
    });

  ipam
    .command('release-vlan')
    .description(
      "take a pod out of a network's cluster-wide VLAN by hand, e.g. for a node that is gone (refused while a port on this node uses it)",
    )
    .argument('<network>')
    .argument('<namespace/pod>')
    .option('--force', 'release even if a port on this node still uses it')
    .addOption(cniConfDirOption())
    .action(async (network: string, target: string, opts: { force?: boolean; cniConfDir?: string }) => {
      const { ipamReleaseVlan } = await import('../commands/ipam');
      const ctx = await nodeContext(opts.cniConfDir);
      for (const l of await ipamReleaseVlan(ctx, network, target, opts.force === true)) {
        io.out(
          `left ${l.network} vlan ${l.tag} (member ${l.namespace}/${l.pod}, container ${l.containerId.slice(0, 12)}, node ${l.node})${l.freed ? ', tag freed' : ''}`,
        );
      }
    });

  program
    .command('version')
    .description('print the version')
    .action(() => io.out(`podvlan ${pkg.version}`));
  return { program, exitCode: () => exitCode };
}

/** `ipam show` of something nothing is allocated to. */
const NOTHING_FOUND_EXIT_CODE = 1;

/**
 * gc's result in the one vocabulary of every `-o json` (docs/operating.md): a pod is `namespace`
 * and `pod`, its container `containerId` (full), as in list and ipam.
 */
function gcJsonView(r: GcResult) {
  const podOf = (who: string) => ({ namespace: who.slice(0, who.indexOf('/')), pod: who.slice(who.indexOf('/') + 1) });
  return {
    actions: r.actions.map(({ action, target, pod, container, reason }) => ({
      action,
      target,
      ...(pod ? podOf(pod) : {}),
      ...(container ? { containerId: container } : {}),
      reason,
    })),
    busy: r.busy.map(podOf),
  };
}

/** Run the CLI; returns the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  const cmd = subcommandOf(argv);
  const isStatus = cmd === 'status';
  // `status` errors go to stdout with a non-zero exit: the kubelet fails the call either way,
  // and stderr must stay silent.
  const report = isStatus ? io.out : io.err;
  try {
    checkArgLengths(argv);
    const { program, exitCode } = buildProgram(io);
    await program.parseAsync(argv, { from: 'user' });
    return exitCode();
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      // No command (`podvlan`, `podvlan ipam`): the usage was printed on stderr.
      const usage = failureExitCode(new InvalidInputError(''), cmd); // diagnose's differs (errors.ts)
      if (err.code === 'commander.help') return usage;
      report(`podvlan: ${oneLine(err).replace(/^error: /, '')}`);
      return usage;
    }
    return failure(err, report, argv);
  }
}
