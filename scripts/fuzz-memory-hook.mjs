// Loaded with `node --import` by `npm run fuzz` into every bnc process it spawns: at exit, writes the
// process's peak resident memory (bytes) to the file named by BNC_FUZZ_RSS_FILE, so the fuzzer can hold
// each run to a memory bound.
import { writeFileSync } from 'node:fs';

const target = process.env.BNC_FUZZ_RSS_FILE;
if (target) {
  process.on('exit', () => {
    writeFileSync(target, String(process.resourceUsage().maxRSS * 1024));
  });
}
