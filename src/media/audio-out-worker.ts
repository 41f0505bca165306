/**
 * Plays s16le PCM from stdin on the default output device through PortAudio (naudiodon), for `vigil listen`.
 * A child process for the same reasons as the microphone's: naudiodon's stdout chatter and crash.log stay here.
 *
 *   node audio-out-worker.js <rate> <channels>
 */
function fail(message: string): never {
  process.stderr.write(JSON.stringify({ error: message }) + '\n');
  process.exit(1);
}

function main(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const portAudio = require('naudiodon') as typeof import('naudiodon');
  const [rate, channels] = process.argv.slice(2).map(Number);
  if (!portAudio.getDevices().some((d) => d.maxOutputChannels > 0)) fail('no audio output device (PortAudio found none; is ALSA configured?)');
  let io;
  try {
    io = portAudio.AudioIO({ outOptions: { channelCount: channels!, sampleFormat: portAudio.SampleFormat16Bit, sampleRate: rate!, deviceId: -1, closeOnError: true } });
  } catch (err) {
    fail(`cannot open the audio output: ${(err as Error).message}`);
  }
  io.on('error', (err: Error) => fail(`audio output failed: ${err.message}`));
  // A pipe delivers bytes in whatever pieces it likes; the device needs whole sample frames.
  const frame = 2 * channels!;
  let carry: Buffer = Buffer.alloc(0);
  process.stdin.on('data', (d: Buffer) => {
    const all = carry.length ? Buffer.concat([carry, d]) : d;
    const whole = all.length - (all.length % frame);
    carry = Buffer.from(all.subarray(whole));
    if (whole > 0 && !io.write(all.subarray(0, whole))) {
      process.stdin.pause();
      io.once('drain', () => process.stdin.resume());
    }
  });
  process.stdin.on('end', () => io.end(() => setTimeout(() => process.exit(0), 200)));
  process.on('SIGTERM', () => {
    io.quit();
    process.exit(0);
  });
  io.start();
}

main();
