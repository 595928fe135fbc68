// Section "parse": load throughput of the ONNX and Caffe readers against the memory-bandwidth bound.
import * as fs from 'node:fs';
import { fmtMs, log, mb } from '../context.mjs';
import { timeRuns, timeRunsAlternating } from '../measure.mjs';

/**
 * Memory-bandwidth bound for loading a file: read it and copy every byte once more (what a decoder that
 * copies tensor payloads does at best). bnc's reader views 4-byte-aligned payloads in place and copies
 * only the others, so it can land slightly above this bound.
 */
function readAndCopy(file) {
  const bytes = fs.readFileSync(file);
  const copy = Buffer.allocUnsafe(bytes.length);
  bytes.copy(copy);
  return copy;
}

export async function run({ bnc, models, row, skip, fail }) {
  const section = 'parse';
  const { file: resnetFile, bytes: resnetBytes } = models.resnet50();
  log('parse throughput...');
  // Bound and reader timed in alternation, so a moment when this shared machine copies memory fast (or
  // slowly) falls on both.
  const [bound, parse] = await timeRunsAlternating([() => readAndCopy(resnetFile), () => bnc.readOnnxFile(resnetFile)], {
    warmup: 1,
    maxRuns: 7,
    budgetMs: 12000,
  });
  const bytesInMemory = fs.readFileSync(resnetFile);
  const parseOnly = await timeRuns(() => bnc.parseOnnx(bytesInMemory), { warmup: 1, maxRuns: 7, budgetMs: 8000 });
  const boundRate = mb(resnetBytes) / (bound.bestMs / 1000);
  const parseRate = mb(resnetBytes) / (parse.bestMs / 1000);
  const parseOnlyRate = mb(resnetBytes) / (parseOnly.bestMs / 1000);
  const size = `${mb(resnetBytes).toFixed(1)} MB`;
  row(section, `bound: readFileSync + Buffer.copy, ResNet-50 .onnx (${size})`, `${boundRate.toFixed(0)} MB/s`, `best of ${bound.runs}: ${fmtMs(bound.bestMs)}`, {
    mbPerS: boundRate,
    bestMs: bound.bestMs,
    bytes: resnetBytes,
  });
  row(section, `bnc readOnnxFile, ResNet-50 .onnx (${size})`, `${parseRate.toFixed(0)} MB/s`, `${(parseRate / boundRate).toFixed(2)}x the bound; best of ${parse.runs}: ${fmtMs(parse.bestMs)}`, {
    mbPerS: parseRate,
    ratioToBound: parseRate / boundRate,
    bestMs: parse.bestMs,
    bytes: resnetBytes,
  });
  row(section, `bnc parseOnnx (bytes in memory), ResNet-50`, `${parseOnlyRate.toFixed(0)} MB/s`, `best of ${parseOnly.runs}: ${fmtMs(parseOnly.bestMs)}`, {
    mbPerS: parseOnlyRate,
    bestMs: parseOnly.bestMs,
    bytes: resnetBytes,
  });

  const name = 'bnc readCaffeFiles, ResNet-50 prototxt + .caffemodel';
  try {
    const caffemodel = await models.resnetCaffemodel();
    if (caffemodel.missing) {
      skip(section, name, caffemodel.missing);
      return;
    }
    const { file, caffe } = caffemodel;
    const bytes = fs.statSync(file).size;
    const [caffeBound, load] = await timeRunsAlternating(
      [() => readAndCopy(file), () => caffe.readCaffeFiles(models.caffePrototxt, file)],
      { warmup: 1, maxRuns: 7, budgetMs: 12000 },
    );
    const rate = mb(bytes) / (load.bestMs / 1000);
    const caffeBoundRate = mb(bytes) / (caffeBound.bestMs / 1000);
    row(section, `${name} (${mb(bytes).toFixed(1)} MB)`, `${rate.toFixed(0)} MB/s`, `${(rate / caffeBoundRate).toFixed(2)}x the bound (${caffeBoundRate.toFixed(0)} MB/s); best of ${load.runs}: ${fmtMs(load.bestMs)}; includes conversion to ONNX IR`, {
      mbPerS: rate,
      boundMbPerS: caffeBoundRate,
      ratioToBound: rate / caffeBoundRate,
      bestMs: load.bestMs,
      bytes,
    });
  } catch (e) {
    fail(section, name, e);
  }
}
