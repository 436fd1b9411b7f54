// Entry point of the single executable. The kubelet's own calls take a path that loads no
// argument parser (fast.ts); everything else loads the full CLI. Modules behind a dynamic
// import cost nothing until used (the bundle is compiled to bytecode).
import { parseKubeletArgv, runKubeletCall } from './cli/fast';

// console.log/error, not process.stdout/stderr: in bun the latter build Node streams at first
// use, which costs more than the rest of a status call.
// Runtime and library warnings must not reach stderr either: the kubelet reads it as output.
process.emitWarning = () => {};

const io = { out: (text: string) => console.log(text), err: (text: string) => console.error(text) };
const argv = process.argv.slice(2);
// A CNI runtime sets CNI_COMMAND: the whole CNI front end sits behind this import, so the exec
// calls pay one environment lookup for it.
const call = process.env.CNI_COMMAND === undefined ? parseKubeletArgv(argv) : undefined;

const done =
  process.env.CNI_COMMAND !== undefined
    ? import('./cni').then((cni) => cni.runCni(process.env, cni.readStdin(), { out: io.out }))
    : call
      ? runKubeletCall(call, argv, io)
      : import('./cli/program').then((cli) => cli.run(argv, io));
// Exit as soon as the command is answered: a connection attempt that timed out (bun cannot
// cancel a pending connect) must not keep the process, and the kubelet, waiting. console.log
// output is flushed by then.
done.then((code) => process.exit(code));
