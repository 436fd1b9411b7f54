// Entry point of the single executable. `status` takes a path that loads almost nothing; every
// other command loads the full CLI on demand (the bundle is compiled to bytecode, so modules
// behind a dynamic import cost nothing until used).
import { parseStatusArgv, runStatus } from './cli/status-fast';

// console.log/error, not process.stdout/stderr: in bun the latter build Node streams at first
// use, which costs more than the rest of a status call.
const out = (text: string) => console.log(text);
const err = (text: string) => console.error(text);
const argv = process.argv.slice(2);
const status = parseStatusArgv(argv);

const done = status
  ? runStatus(status, out)
  : import('./cli/program').then((cli) => cli.run(argv, { out, err }));
done.then((code) => { process.exitCode = code; });
