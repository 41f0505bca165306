import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LineSplitter } from '../src/protocol';

describe('admin line splitter', () => {
  it('keeps a multi-byte UTF-8 character cut across two chunks', () => {
    const bytes = Buffer.from('{"id":"zoë","note":"👀"}\n', 'utf8');
    const eAt = bytes.indexOf(Buffer.from('ë')) + 1; // between the two bytes of ë
    const eyesAt = bytes.indexOf(Buffer.from('👀')) + 2; // in the middle of a four-byte character
    const s = new LineSplitter();
    const lines = [...s.push(bytes.subarray(0, eAt)), ...s.push(bytes.subarray(eAt, eyesAt)), ...s.push(bytes.subarray(eyesAt))];
    assert.deepEqual(lines, ['{"id":"zoë","note":"👀"}']);
  });

  it('gives the same lines however the bytes are chunked', () => {
    const text = 'première ligne\nzweite Zeile 𝄞\n第三行\n';
    const bytes = Buffer.from(text, 'utf8');
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: bytes.length }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const s = new LineSplitter();
        const lines: string[] = [];
        let from = 0;
        for (const p of [...points, bytes.length]) {
          lines.push(...s.push(bytes.subarray(from, p)));
          from = p;
        }
        assert.deepEqual(lines, ['première ligne', 'zweite Zeile 𝄞', '第三行']);
      }),
    );
  });
});
