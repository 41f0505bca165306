import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fillSections } from '../bench/readme';

test('the README generator replaces only the sections it has results for, markers kept', () => {
  const readme = ['# x', '<!-- bench:ingest -->', '| old | table |', '<!-- /bench:ingest -->', 'between', '<!-- bench:detect -->', 'hand-made', '<!-- /bench:detect -->', ''].join('\n');
  const results: Record<string, string> = { ingest: 'Machine: test\n\n| new | table |\n' };
  const { text, filled, kept } = fillSections(readme, (name) => results[name] ?? null);
  assert.deepEqual(filled, ['ingest']);
  assert.deepEqual(kept, ['detect']);
  assert.equal(text, ['# x', '<!-- bench:ingest -->', 'Machine: test', '', '| new | table |', '<!-- /bench:ingest -->', 'between', '<!-- bench:detect -->', 'hand-made', '<!-- /bench:detect -->', ''].join('\n'));
  // Filling again with the same results changes nothing.
  assert.equal(fillSections(text, (name) => results[name] ?? null).text, text);
});
