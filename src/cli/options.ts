// Option parsers, defaults and signal handling every subcommand shares, so main.ts only builds the program.
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_THRESHOLDS, type DetectorName, type PoolOptions } from '../detect';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const VERSION: string = (require('../../../package.json') as { version: string }).version;
export const DEFAULT_RECORD_DIR = './recordings';
export const DEFAULT_PORT = 9996;

export function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

export function numArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number from ${min} to ${max}`);
    return n;
  };
}

export function hostPort(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new InvalidArgumentError('expected host:port, e.g. 127.0.0.1:9996');
  return { host: (m[1] ?? m[2])!, port };
}

/** Turns a subcommand's expected, typed errors into its one-line message and exit code; anything else is a bug. */
export function expected(command: string, code: number, ...types: Array<abstract new (...args: never[]) => Error>) {
  return (err: unknown): number => {
    if (!types.some((T) => err instanceof T)) throw err;
    process.stderr.write(`vigil ${command}: ${(err as Error).message}\n`);
    return code;
  };
}

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once, for a user whose shutdown hangs. */
export function onceInterrupted(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  let count = 0;
  const handler = (sig: NodeJS.Signals): void => {
    count++;
    if (count > 1) process.exit(sig === 'SIGINT' ? 130 : 143);
    ac.abort(sig);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

export interface DetectionFlags {
  detector: DetectorName | 'none';
  incidentAfter: number;
  minInside: number;
  minFace: number;
  maxFace: number;
  minOtherFace: number;
  minScore: number;
}

/** The options `serve` and `detect` share, so both judge frames by the same rules. */
export function addDetectionOptions(cmd: Command, allowNone: boolean): Command {
  const t = DEFAULT_THRESHOLDS;
  return cmd
    .addOption(new Option('--detector <name>', 'face detector: dnn (UltraFace + BlazeFace, ONNX) or haar (cascades + eye check)' + (allowNone ? '; none turns detection off' : ''))
      .choices(allowNone ? ['dnn', 'haar', 'none'] : ['dnn', 'haar']).default('dnn'))
    .option('--incident-after <s>', 'seconds a face state must hold to open or close an incident', numArg('--incident-after', 0, 60), 1.0)
    .option('--min-inside <f>', 'share of the face box that must be inside the picture', numArg('--min-inside', 0.05, 1), t.minInside)
    .option('--min-face <f>', 'narrowest face, as a fraction of the frame width', numArg('--min-face', 0, 1), t.minFaceWidth)
    .option('--max-face <f>', 'widest face, as a fraction of the frame width', numArg('--max-face', 0, 1), t.maxFaceWidth)
    .option('--min-other-face <f>', 'narrowest face (fraction of the frame width) that counts as a second person', numArg('--min-other-face', 0, 1), t.minOtherFace)
    .option('--min-score <f>', 'DNN confidence a face needs', numArg('--min-score', 0.05, 0.999), 0.75);
}

export function poolOptions(flags: DetectionFlags & { detector: DetectorName }): PoolOptions {
  return {
    detector: flags.detector,
    minScore: flags.minScore,
    thresholds: { minInside: flags.minInside, minFaceWidth: flags.minFace, maxFaceWidth: flags.maxFace, minOtherFace: flags.minOtherFace },
  };
}
