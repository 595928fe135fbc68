import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { HAVE_SHARED, SHARED_MODELS, SKIP_SHARED_MESSAGE } from '../helpers/shared.js';
import { Judgement, fixtureSeeds, fuzzMutant, sharedSeeds, tally, writeSeed } from './harness.js';
import { runInProcess } from './inProcess.js';
import { Seed, mutantsOf } from './mutants.js';

// The seeded slice of the fuzz harness that runs with every `npm test`: every mutation family on the
// fixtures and a few small shared models, every command, in-process (npm run fuzz spawns the CLI per
// mutant and adds time and memory bounds). A failing mutant is reproducible from its name and seed.

const SEED = 20240611;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-fuzz-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const all: Judgement[] = [];

function describeFailures(judgements: Judgement[]): string {
  return judgements
    .filter((j) => j.verdict === 'crash' || j.verdict === 'hang')
    .map((j) => `${j.mutant} / ${j.command} (exit ${j.exitCode}): ${j.problems.join('; ')}\n    bnc ${j.args.join(' ')}`)
    .join('\n');
}

async function fuzzSeed(seed: Seed, randomPerFile: number): Promise<Judgement[]> {
  const original = writeSeed(seed, path.join(work, 'originals', seed.name));
  const judgements: Judgement[] = [];
  for (const mutant of mutantsOf(seed, { seed: SEED, randomPerFile })) {
    judgements.push(...(await fuzzMutant(mutant, original, path.join(work, 'm'), (args) => runInProcess(args, { CI: '1', NO_COLOR: '1' }))));
  }
  all.push(...judgements);
  return judgements;
}

describe('fuzz: fixtures', () => {
  for (const seed of fixtureSeeds(REPO)) {
    it(`${seed.name}: every mutant and command ends in exit 0/1/2 with a clean one-line message`, async () => {
      const judgements = await fuzzSeed(seed, 6);
      expect(judgements.length).toBeGreaterThan(100);
      expect(describeFailures(judgements)).toBe('');
    });
  }
});

describe.skipIf(!HAVE_SHARED)(`fuzz: shared models${HAVE_SHARED ? '' : ` (${SKIP_SHARED_MESSAGE})`}`, () => {
  const seeds = sharedSeeds(SHARED_MODELS, 100_000, ['conv_fanout', 'convtranspose_bn', 'residual_eltwise', 'shapes_misc']);
  it('has the chosen small cases', () => expect(seeds.length).toBe(4));
  for (const seed of seeds) {
    it(`${seed.format}/${seed.name}: every mutant and command ends cleanly`, async () => {
      const judgements = await fuzzSeed(seed, 2);
      expect(describeFailures(judgements)).toBe('');
    });
  }
});

describe('fuzz: report', () => {
  it('tried mutants of both formats and saw clean errors as well as accepted files', () => {
    const byFormat = tally(all, (j) => j.format);
    const lines = [...tally(all, (j) => `${j.format} ${j.command}`)].map(
      ([k, c]) => `${k.padEnd(16)} mutants ${c.mutants}, clean errors ${c.cleanErrors}, accepted ${c.accepted}, verify failed ${c.verifyFailed}, crashes ${c.crashes}, hangs ${c.hangs}`,
    );
    console.log(`fuzz slice (seed ${SEED}):\n${lines.join('\n')}`);
    for (const f of ['onnx', 'caffe']) {
      const c = byFormat.get(f)!;
      expect(c.cleanErrors).toBeGreaterThan(0);
      expect(c.accepted).toBeGreaterThan(0);
      expect(c.crashes + c.hangs).toBe(0);
    }
  });
});
