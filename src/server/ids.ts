import { randomBytes } from 'node:crypto';
import path from 'node:path';

/**
 * Candidate ids become directory names, so they are validated, not "cleaned": a rejected id gets a clear BYE,
 * where silent rewriting could merge two candidates into one folder.
 */
const CANDIDATE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function candidateIdProblem(id: string): string | null {
  if (!CANDIDATE_ID.test(id)) {
    return 'a candidate id is 1-64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit';
  }
  if (id.includes('..')) return 'a candidate id may not contain ".."';
  return null;
}

/** Sortable by start time, unique without coordination: 20261126T063000Z-9f2c1a. */
export function newSessionId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** The session folder, refusing anything that would resolve outside the record dir (defence in depth). */
export function sessionDir(recordDir: string, candidateId: string, sessionId: string): string {
  const root = path.resolve(recordDir);
  const dir = path.resolve(root, candidateId, sessionId);
  if (!dir.startsWith(root + path.sep)) throw new Error(`session path for ${JSON.stringify(candidateId)} escapes the record dir`);
  return dir;
}
