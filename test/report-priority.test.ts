import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kindStats, priorityParts, priorityScore, type PriorityFacts } from '../src/report/priority';

const clean: PriorityFacts = { incidents: {}, ended: 'client_bye', lostMediaS: 0, recordingErrors: 0, damage: 0 };

test('priority: a clean session scores 0; each term of the documented formula adds what it says', () => {
  assert.equal(priorityScore(clean), 0);
  assert.deepEqual(priorityParts(clean), []);
  // One 30 s no_face: 3 * (1 + 30/60 + 30/30) = 7.5
  assert.equal(priorityScore({ ...clean, incidents: { no_face: { count: 1, totalS: 30, longestS: 30 } } }), 7.5);
  // Two 3 s multiple_faces: 4 * (2 + 6/60 + 3/30) = 8.8
  assert.equal(priorityScore({ ...clean, incidents: { multiple_faces: { count: 2, totalS: 6, longestS: 3 } } }), 8.8);
  // misaligned weighs 1, an unknown kind 1 too.
  assert.equal(priorityScore({ ...clean, incidents: { misaligned: { count: 1, totalS: 0, longestS: 0 } } }), 1);
  assert.equal(priorityScore({ ...clean, incidents: { gaze_away: { count: 2, totalS: 0, longestS: 0 } } }), 2);
  // Ends.
  assert.equal(priorityScore({ ...clean, ended: 'in_progress' }), 5);
  assert.equal(priorityScore({ ...clean, ended: 'server_crashed' }), 5);
  assert.equal(priorityScore({ ...clean, ended: 'disconnected' }), 3);
  assert.equal(priorityScore({ ...clean, ended: 'recording_failed' }), 10);
  assert.equal(priorityScore({ ...clean, ended: 'kicked' }), 2);
  assert.equal(priorityScore({ ...clean, ended: 'server_shutdown' }), 0);
  assert.equal(priorityScore({ ...clean, ended: null }), 5);
  // Lost media: 10 + 12/6.
  assert.equal(priorityScore({ ...clean, lostMediaS: 12 }), 12);
  // Recording errors: 10 + 2 * min(n, 5).
  assert.equal(priorityScore({ ...clean, recordingErrors: 1 }), 12);
  assert.equal(priorityScore({ ...clean, recordingErrors: 40 }), 20);
  // Damage: 5 per problem, at most 4 counted.
  assert.equal(priorityScore({ ...clean, damage: 2 }), 10);
  assert.equal(priorityScore({ ...clean, damage: 9 }), 20);
});

test('priority: the terms come largest first, named', () => {
  const parts = priorityParts({
    incidents: { misaligned: { count: 1, totalS: 2, longestS: 2 }, multiple_faces: { count: 1, totalS: 90, longestS: 90 } },
    ended: 'server_crashed',
    lostMediaS: 0,
    recordingErrors: 0,
    damage: 1,
  });
  assert.deepEqual(parts.map((p) => p.what), ['1 multiple_faces (1m30s in all, longest 1m30s)', 'ended server_crashed', '1 problem(s) in its files', '1 misaligned (2.0 s in all, longest 2.0 s)']);
});

test('priority: the same time in one long stretch outranks it in pieces; lost evidence outranks a short incident', () => {
  const one = kindStats([{ kind: 'no_face', start_s: 10, end_s: 70 }]);
  const pieces = kindStats(Array.from({ length: 6 }, (_, i) => ({ kind: 'no_face', start_s: i * 20, end_s: i * 20 + 10 })));
  assert.deepEqual(one['no_face'], { count: 1, totalS: 60, longestS: 60 });
  assert.deepEqual(pieces['no_face'], { count: 6, totalS: 60, longestS: 10 });
  // Six separate incidents still count more (each is a moment to look at) ...
  assert.ok(priorityScore({ ...clean, incidents: pieces }) > priorityScore({ ...clean, incidents: one }));
  // ... but between equal counts, the longer stretch wins.
  const shortOne = kindStats([{ kind: 'no_face', start_s: 0, end_s: 5 }]);
  assert.ok(priorityScore({ ...clean, incidents: one }) > priorityScore({ ...clean, incidents: shortOne }));
  assert.ok(priorityScore({ ...clean, lostMediaS: 1 }) > priorityScore({ ...clean, incidents: shortOne }));
});

test('kindStats: an incident still open is counted to the given end (or as 0 s without one)', () => {
  const open = [{ kind: 'speech', start_s: 4, end_s: null }];
  assert.deepEqual(kindStats(open, 10)['speech'], { count: 1, totalS: 6, longestS: 6 });
  assert.deepEqual(kindStats(open)['speech'], { count: 1, totalS: 0, longestS: 0 });
});
