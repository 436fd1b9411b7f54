// The pod lock as the executable runs it (bun: flock through bun:ffi; vitest itself runs on Node,
// where the lock is in-process only). Modes, by argv[2]:
//   contend STATEDIR N: N times take the lock, bump a counter file with a read, a pause and a
//     write (two holders at once would lose a bump), and release, removing the lock file as a
//     teardown does. Prints the number of rounds.
//   hold STATEDIR: take the lock, print "held", wait to be killed.
//   try STATEDIR: print whether the lock was free.
import { readFileSync, writeFileSync } from 'node:fs';
import { lockPod, tryLockPod } from '../../src/state/lock';

const [mode, stateDir, n] = process.argv.slice(2);
const POD = 'p'.repeat(253); // the longest valid name: the lock file's name does not grow with it
const NS = 'n'.repeat(63);

if (mode === 'contend') {
  const counter = `${stateDir}/counter`;
  for (let i = 0; i < Number(n); i++) {
    const lock = await lockPod(stateDir, NS, POD, 20000);
    const value = Number(readFileSync(counter, 'utf8'));
    await new Promise((r) => setTimeout(r, Math.random() < 0.5 ? 0 : 1));
    writeFileSync(counter, String(value + 1));
    lock.release({ removeFile: i % 2 === 0 });
  }
  console.log(n);
} else if (mode === 'hold') {
  await lockPod(stateDir, NS, POD, 1000);
  console.log('held');
  setInterval(() => {}, 1000);
} else {
  const lock = await tryLockPod(stateDir, NS, POD);
  console.log(lock ? 'free' : 'busy');
  lock?.release();
}
