/**
 * bench/fuzz: the decoder's fuzz properties run long (the suite runs 110 000 cases; this runs millions):
 * random chunks, and valid headers with random payloads, must only ever yield messages or a ProtocolError,
 * and the decoder never holds more than one header and one maximal payload.
 *
 *   node dist/bench/fuzz.js [--runs 2000000]
 */
import fc from 'fast-check';
import { Decoder, ProtocolError } from '../src/protocol';
import { cpuTimeS, machineInfo, machineLine, writeResult } from './lib/report';

const i = process.argv.indexOf('--runs');
const RUNS = i >= 0 ? Number(process.argv[i + 1]) : 2_000_000;
const machine = machineInfo();
const t0 = performance.now();
const cpu0 = cpuTimeS();
let errors = 0;
let messages = 0;
fc.assert(
  fc.property(fc.array(fc.uint8Array({ maxLength: 96 }), { maxLength: 8 }), fc.integer({ min: 0, max: 9 }), (chunks, kind) => {
    const d = new Decoder({ video: 4096, audio: 4096, control: 256 });
    for (const [n, c] of chunks.entries()) {
      const buf = Buffer.from(c);
      if (n === 0 && buf.length >= 2 && kind > 0) {
        buf[0] = 0x56; // a valid magic and kind, so the fuzz reaches the payload decoders
        buf[1] = kind;
      }
      const r = d.push(buf);
      messages += r.messages.length;
      if (r.error) {
        if (!(r.error instanceof ProtocolError)) throw new Error('untyped error');
        errors++;
        break;
      }
      if (d.bufferedBytes > 6 + 4096) throw new Error('decoder held more than one frame');
    }
  }),
  { numRuns: RUNS },
);
const s = (performance.now() - t0) / 1000;
const cpuS = cpuTimeS() - cpu0;
const line = `${RUNS.toLocaleString('en-US')} random decoder inputs in ${s.toFixed(1)} s of wall time, ${cpuS.toFixed(1)} s of CPU time (${Math.round(RUNS / cpuS).toLocaleString('en-US')} per CPU second): ${errors.toLocaleString('en-US')} typed errors, ${messages.toLocaleString('en-US')} messages decoded, and nothing else (the suite runs 110,000 such cases).`;
console.log(`bench/fuzz: ${machineLine(machine)}\n${line}`);
writeResult('fuzz', machine, line);
