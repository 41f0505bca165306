// The checks a HELLO must pass before anything is reserved for it: a valid candidate id, declared media within
// bounds, and a place on the server. Apart from server.ts's admit(), which then deals with tokens, ids in use,
// resumes and opening the recording.
import type { HelloMessage } from '../protocol';
import type { Admission } from './connection-host';
import { helloMediaProblem } from './hello-checks';
import { candidateIdProblem } from './ids';

export type Refusal = Extract<Admission, { ok: false }>;

/** What holds the server's places: connected candidates and sessions kept for a resume. */
export interface Places {
  max: number;
  /** Ids of connected candidates and of sessions kept for a resume. */
  held: ReadonlySet<string>;
  /** How many of those are kept for a resume. */
  detached: number;
}

export function helloRefusal(hello: HelloMessage, places: Places): Refusal | null {
  const idProblem = candidateIdProblem(hello.candidateId);
  if (idProblem) return { ok: false, reason: 'invalid_hello', text: `invalid candidate id ${JSON.stringify(hello.candidateId)}: ${idProblem}` };
  const mediaProblem = helloMediaProblem(hello);
  if (mediaProblem) return { ok: false, reason: 'invalid_hello', text: mediaProblem };
  // A session kept for a resume holds a place (and an open recording) like a connected one.
  if (places.held.size >= places.max && !places.held.has(hello.candidateId)) {
    const waiting = places.detached ? ` (${places.detached} of them disconnected, kept for a resume)` : '';
    return { ok: false, reason: 'server_full', text: `the server takes ${places.max} candidates at once${waiting}; try again later` };
  }
  return null;
}
