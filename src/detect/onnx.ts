/**
 * The one place onnxruntime is loaded. OpenCV 4.6's dnn module runs these models too, but about twice as slowly
 * on one core (measured here: UltraFace 5.5 ms against 2.7 ms, BlazeFace 2.5 ms against 1.3 ms), and the detector
 * has a budget of a few milliseconds per frame. One intra-op thread: the pool already runs one process per core,
 * and more threads per process would only fight over the same cores.
 */
import type * as Ort from 'onnxruntime-node';
import { resolveOptional } from './optional-package';
import { DetectError } from './types';

export type OrtModule = typeof Ort;

let loaded: OrtModule | null = null;

function ort(): OrtModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded ??= require(resolveOptional('onnxruntime-node', 'the dnn face detector')) as OrtModule;
  return loaded;
}

/** A float32 output tensor: its data and its shape. */
export interface Output {
  data: Float32Array;
  dims: readonly number[];
}

/** One ONNX model with a single float32 input. */
export class OnnxModel {
  private constructor(
    private readonly session: Ort.InferenceSession,
    readonly inputName: string,
  ) {}

  static async load(file: string): Promise<OnnxModel> {
    try {
      const session = await ort().InferenceSession.create(file, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // Warnings about unused initialisers in the converted models are noise on stderr, not problems.
        logSeverityLevel: 3,
      });
      const input = session.inputNames[0];
      if (input === undefined) throw new Error('the model has no input');
      return new OnnxModel(session, input);
    } catch (err) {
      throw new DetectError('VIGIL_ERR_DETECTOR_LOAD', `cannot load the face model ${file}: ${(err as Error).message}`);
    }
  }

  /** Runs the model on one input of the given shape; outputs by name. */
  async run(input: Float32Array, dims: readonly number[]): Promise<Map<string, Output>> {
    const o = ort();
    const results = await this.session.run({ [this.inputName]: new o.Tensor('float32', input, dims) });
    const out = new Map<string, Output>();
    for (const [name, t] of Object.entries(results)) {
      if (!(t.data instanceof Float32Array)) throw new DetectError('VIGIL_ERR_DETECTOR_CRASH', `model output ${name} is ${t.type}, not float32`);
      out.set(name, { data: t.data, dims: t.dims });
    }
    return out;
  }
}
