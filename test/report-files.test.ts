import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csvField, csvText } from '../src/report/csv';
import { closeOpenIncidents, parseIncidents } from '../src/report/incidents-file';
import { Progress, ReportError, parseSince } from '../src/report/scan';
import { parseSessionJson, startFromSessionId } from '../src/report/session-json';
import { parseCsv } from './report-sessions';

test('csv: RFC 4180 quoting (comma, quote, line breaks), empty for null, CRLF records', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('two\nlines'), '"two\nlines"');
  assert.equal(csvField(null), '');
  assert.equal(csvField(NaN), '');
  assert.equal(csvField(1.5), '1.5');
  const text = csvText(['a', 'b'], [['x,y', 'q"'], [null, 'line\r\nbreak']]);
  assert.equal(text, 'a,b\r\n"x,y","q"""\r\n,"line\r\nbreak"\r\n');
  assert.deepEqual(parseCsv(text), [['a', 'b'], ['x,y', 'q"'], ['', 'line\r\nbreak']]);
});

test('incidents.jsonl: opens pair with closes, cut lines are counted by number, open ones end where told', () => {
  const text = [
    '{"event":"open","id":1,"kind":"speech","start_s":0,"end_s":null,"frames":5,"peak_confidence":0.7}',
    '{"event":"open","id":2,"kind":"no_face","start_s":6.1,"end_s":null,"frames":6,"peak_confidence":0.9,"faces":[{"x":1,"y":2,"w":3,"h":4}]}',
    '{"event":"close","id":1,"kind":"speech","start_s":0,"end_s":5.9,"frames":299,"peak_confidence":0.76}',
    'garbage',
    '{"event":"close","id":3,"kind":"misaligned","start_s":7,"end_s":9,"frames":3,"peak_confidence":0.5,"closed_by":"repair"}',
    '{"event":"open","id":4,"kind":"multiple_faces","start_s":"soon"}',
    '{"event":"open","id":5,"ki',
  ].join('\n');
  const { incidents, badLines } = parseIncidents(text);
  assert.deepEqual(badLines, [4, 6, 7]);
  assert.deepEqual(incidents.map((i) => [i.id, i.kind, i.start_s, i.end_s, i.closedBy]), [
    [1, 'speech', 0, 5.9, 'server'],
    [2, 'no_face', 6.1, null, 'server'],
    [3, 'misaligned', 7, 9, 'repair'],
  ]);
  assert.equal(incidents[0]!.frames, 299);
  assert.deepEqual(incidents[1]!.faces, [{ x: 1, y: 2, w: 3, h: 4 }]);
  assert.equal(incidents[0]!.faces, null, 'no boxes unless recorded');
  assert.equal(closeOpenIncidents(incidents, 20), 1);
  assert.deepEqual([incidents[1]!.end_s, incidents[1]!.closedBy], [20, 'report']);
  assert.deepEqual(parseIncidents('').incidents, []);
});

test('session.json: fields of the wrong type are null and the required ones named; garbage is refused', () => {
  const ok = parseSessionJson(JSON.stringify({ candidate_id: 'a', session_id: 's', started_at: 'not a date', ended: 'client_bye', frames_written: '12', audio_seconds: 3, write_errors: [{ file: 'recording.mkv', message: 'disk full' }, 7] }));
  assert.ok(ok.ok);
  assert.equal(ok.facts.framesWritten, null);
  assert.equal(ok.facts.startedAt, null);
  assert.deepEqual(ok.missing, ['started_at', 'frames_written']);
  assert.deepEqual(ok.facts.writeErrors, [{ file: 'recording.mkv', message: 'disk full' }, { file: '?', message: 'write failed' }]);
  const bad = parseSessionJson('{"candidate_id": "a", "sess');
  assert.ok(!bad.ok && /not valid JSON/.test(bad.why));
  const arr = parseSessionJson('[1,2]');
  assert.ok(!arr.ok && arr.why === 'not a JSON object');
  assert.equal(startFromSessionId('20261127T093124Z-cc779b')?.toISOString(), '2026-11-27T09:31:24.000Z');
  assert.equal(startFromSessionId('something-else'), null);
});

test('--since: durations back from now and ISO dates; anything else is a typed error (exit 2)', () => {
  const now = new Date('2026-11-27T12:00:00Z');
  assert.equal(parseSince('90s', now).toISOString(), '2026-11-27T11:58:30.000Z');
  assert.equal(parseSince('4h', now).toISOString(), '2026-11-27T08:00:00.000Z');
  assert.equal(parseSince('2d', now).toISOString(), '2026-11-25T12:00:00.000Z');
  assert.equal(parseSince('2026-11-27T08:00Z', now).toISOString(), '2026-11-27T08:00:00.000Z');
  for (const bad of ['yesterday', '4x', '', '12']) {
    assert.throws(() => parseSince(bad, now), (e: unknown) => e instanceof ReportError && e.code === 'VIGIL_ERR_BAD_SINCE' && e.exitCode === 2);
  }
});

test('progress: nothing for a run shorter than the interval; a line per tick when the interval has passed', () => {
  const lines: string[] = [];
  const err = { write: (s: string) => (lines.push(s), true), isTTY: false } as unknown as NodeJS.WritableStream;
  const quiet = new Progress(err, 60_000);
  for (let i = 1; i <= 5; i++) quiet.tick('reading sessions', i, 5);
  assert.deepEqual(lines, []);
  const busy = new Progress(err, 0);
  for (let i = 1; i <= 3; i++) busy.tick('reading sessions', i, 3);
  assert.deepEqual(lines, ['vigil report: reading sessions 1/3\n', 'vigil report: reading sessions 2/3\n', 'vigil report: reading sessions 3/3\n']);
});
