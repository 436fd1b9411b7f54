// Entry point of the single executable.
import { run } from './cli/program';

const write = (fd: 1 | 2) => (text: string) => {
  (fd === 1 ? process.stdout : process.stderr).write(text + '\n');
};

run(process.argv.slice(2), { out: write(1), err: write(2) }).then((code) => {
  process.exitCode = code;
});
