import { BncError, Model, ValueInfo, withFile } from '../ir/index.js';
import { RtTensor } from '../runtime/kernel.js';
import { RunOptions, RunResult, runModel } from '../runtime/engine.js';

// Size checks made before the runtime allocates anything a hostile file asks for. Initializers are bounded
// by the file's own size (the readers check every length against it); declared input shapes are not, so
// they are checked here before inputs are generated.

/** Largest input bnc generates: 2^27 elements (512 MiB as float32), far above any CNN's input. */
export const MAX_GENERATED_ELEMENTS = 2 ** 27;

/** Refuse inputs whose declared shape is too large to generate, before allocating them. */
export function checkGeneratedInputSizes(inputs: readonly ValueInfo[], file?: string, shapes?: ReadonlyMap<string, readonly number[]>): void {
  for (const vi of inputs) {
    const override = shapes?.get(vi.name);
    const shape = vi.type?.tensor?.shape;
    if (!shape && !override) continue;
    // Symbolic, unknown and negative dims are generated as 1 unless --input-shape says (see generateInputs).
    let elements = 1;
    if (override) for (const d of override) elements *= d;
    else for (const d of shape!) elements *= d.value !== undefined && d.value >= 0 ? d.value : 1;
    if (elements > MAX_GENERATED_ELEMENTS) {
      const dims = override ? override.join(', ') : shape!.map((d) => d.value ?? d.param ?? '?').join(', ');
      throw new BncError(
        `input '${vi.name}' declares shape [${dims}] (${elements.toExponential(2)} elements), more than bnc will generate ` +
          `(${MAX_GENERATED_ELEMENTS.toLocaleString('en-US')}); fix the shape in the model or feed the input from a .npy file`,
        { code: 'TOO_LARGE', ...(file ? { file } : {}) },
      );
    }
  }
}

/**
 * runModel with its errors tied to the model's file. A tensor the runtime cannot allocate (a shape or
 * attribute in the file asks for more memory than exists) becomes a BncError naming the file and the node;
 * other errors keep their class, so bugs still show as bugs.
 */
export function runModelOf(file: string, model: Model, inputs: Map<string, RtTensor>, options?: RunOptions): RunResult {
  return withFile(file, () => {
    try {
      return runModel(model, inputs, options);
    } catch (e) {
      if (e instanceof RangeError && /Array buffer allocation failed|Invalid typed array length: \d|Invalid array length/.test(e.message)) {
        throw new BncError(`${file}: ${e.message}: the model asks for a tensor larger than bnc can allocate (check its shapes and attributes)`, {
          file,
          code: 'TOO_LARGE',
          cause: e,
        });
      }
      throw e;
    }
  });
}
