/**
 * The microphone process: opens a PortAudio input (naudiodon) and writes raw s16le PCM to fd 3. naudiodon prints
 * to stdout and writes crash.log into the working directory, so it runs here, in a child whose stdout is
 * discarded and whose working directory is a private temporary folder, and only PCM comes back.
 *
 *   node mic-worker.js capture <device|default> <rate> <channels>   PCM on fd 3, errors as JSON lines on stderr
 *   node mic-worker.js list                                          device list as JSON on fd 3
 */
import { createWriteStream } from 'node:fs';

/** Most audio held here while the parent is not reading: past it the oldest is dropped and counted. */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

function fail(message: string): never {
  process.stderr.write(JSON.stringify({ error: message }) + '\n');
  process.exit(1);
}

async function main(): Promise<void> {
  const out = createWriteStream('', { fd: 3 });
  out.on('error', () => process.exit(0)); // the parent went away
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const portAudio = require('naudiodon') as typeof import('naudiodon');
  const [mode, device, rate, channels] = process.argv.slice(2);
  const inputs = portAudio.getDevices().filter((d) => d.maxInputChannels > 0);
  if (mode === 'list') {
    out.end(JSON.stringify(inputs.map((d) => ({ id: d.id, name: d.name, channels: d.maxInputChannels, rate: d.defaultSampleRate, host: d.hostAPIName }))));
    return;
  }
  let deviceId = -1;
  if (device && device !== 'default') {
    const found = inputs.find((d) => String(d.id) === device || d.name === device);
    if (!found) fail(`no audio input "${device}"; inputs here: ${inputs.map((d) => `${d.id} (${d.name})`).join(', ') || 'none'}`);
    deviceId = found.id;
  } else if (inputs.length === 0) {
    fail('no audio input device (PortAudio found none; is ALSA configured?)');
  }
  let io;
  try {
    io = portAudio.AudioIO({
      inOptions: { channelCount: Number(channels), sampleFormat: portAudio.SampleFormat16Bit, sampleRate: Number(rate), deviceId, closeOnError: true },
    });
  } catch (err) {
    fail(`cannot open the audio input: ${(err as Error).message}`);
  }
  const queue: Buffer[] = [];
  let queued = 0;
  let dropped = 0;
  let writing = true;
  let ended = false;
  const pump = (): void => {
    while (queue.length > 0 && writing) {
      const b = queue.shift()!;
      queued -= b.length;
      writing = out.write(b);
    }
    if (ended && queue.length === 0) {
      if (dropped) process.stderr.write(JSON.stringify({ dropped }) + '\n');
      out.end(() => process.exit(0));
    }
  };
  out.on('drain', () => {
    writing = true;
    pump();
  });
  io.on('data', (d: Buffer) => {
    queue.push(d);
    queued += d.length;
    while (queued > MAX_QUEUED_BYTES) {
      const old = queue.shift()!;
      queued -= old.length;
      dropped += old.length;
    }
    pump();
  });
  io.on('error', (err: Error) => fail(`audio input failed: ${err.message}`));
  io.on('end', () => {
    ended = true;
    pump();
  });
  process.on('SIGTERM', () => {
    io.quit();
    process.exit(0);
  });
  io.start();
}

main().catch((err: unknown) => fail((err as Error).message));
