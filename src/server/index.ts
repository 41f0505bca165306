export { VigilServer, ServerError, isLoopback, type ServerOptions } from './server';
export { AdminSocketError } from './admin-server';
export type { FrameAnalyzer, FrameAnalysis } from './frame-slot';
export { candidateIdProblem } from './ids';
export { RECORDING_FILE, SESSION_FILE, INCIDENTS_FILE, type SessionRecord } from './session';
export { AuthError, checkToken, issueToken, loadSecret, parseTtl } from './auth';
export { candidateLink, candidateLinkBase } from './candidate-link';
export { WebListener, WEB_SOCKET_PATH } from './web-listener';
