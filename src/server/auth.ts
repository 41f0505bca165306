import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';

/**
 * Per-candidate access tokens: JWTs (HS256) whose subject is the candidate id, signed with the server's secret.
 * jose does the signing and the constant-time signature check; this file keeps the secret and turns every
 * failure into a sentence a candidate can act on.
 */
const ISSUER = 'vigil';
const SECRET_BYTES = 32;

export class AuthError extends Error {
  constructor(
    readonly code: 'VIGIL_ERR_SECRET' | 'VIGIL_ERR_TTL' | 'VIGIL_ERR_URL',
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

/** Why a token was refused; the text goes to the candidate in the BYE and to the log. */
export type TokenProblem = 'missing' | 'malformed' | 'bad_signature' | 'expired' | 'other_id';

export type TokenCheck = { ok: true; expiresAt: Date | null } | { ok: false; problem: TokenProblem; text: string };

/** Loads the secret, creating it (mode 0600) when absent; refuses one that others can read. */
export async function loadSecret(file: string, create = true): Promise<Uint8Array> {
  try {
    const st = await stat(file);
    if (st.mode & 0o077) {
      throw new AuthError('VIGIL_ERR_SECRET', `secret file ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
    }
    const text = (await readFile(file, 'utf8')).trim();
    const secret = Buffer.from(text, 'base64url');
    if (secret.length < SECRET_BYTES) throw new AuthError('VIGIL_ERR_SECRET', `secret file ${file} holds fewer than ${SECRET_BYTES} bytes`);
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (!create) throw new AuthError('VIGIL_ERR_SECRET', `no secret file at ${file}; start \`vigil serve --auth tokens\` once, or pass --secret-file`);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o750 });
    const secret = randomBytes(SECRET_BYTES);
    await writeFile(file, secret.toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
    await chmod(file, 0o600);
    return secret;
  }
}

/** "4h", "30m", "90s", "2d" -> seconds. */
export function parseTtl(ttl: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhd])$/.exec(ttl.trim());
  if (!m) throw new AuthError('VIGIL_ERR_TTL', `cannot read the TTL "${ttl}"; write e.g. 90s, 30m, 4h or 2d`);
  const n = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  if (!(n >= 1)) throw new AuthError('VIGIL_ERR_TTL', 'a TTL must be at least 1 s');
  return Math.round(n);
}

export async function issueToken(secret: Uint8Array, candidateId: string, ttlSeconds: number, now = Date.now()): Promise<string> {
  const iat = Math.floor(now / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setSubject(candidateId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlSeconds)
    .sign(secret);
}

export async function checkToken(secret: Uint8Array, token: string, candidateId: string): Promise<TokenCheck> {
  if (!token) return { ok: false, problem: 'missing', text: 'no token: ask the proctor for one and pass it with --token' };
  try {
    const { payload } = await jwtVerify(token, secret, { issuer: ISSUER, algorithms: ['HS256'] });
    if (payload.sub !== candidateId) {
      return { ok: false, problem: 'other_id', text: `this token is for candidate ${JSON.stringify(payload.sub ?? '')}, not ${JSON.stringify(candidateId)}` };
    }
    return { ok: true, expiresAt: payload.exp ? new Date(payload.exp * 1000) : null };
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) {
      const exp = typeof err.payload.exp === 'number' ? new Date(err.payload.exp * 1000).toISOString() : 'earlier';
      return { ok: false, problem: 'expired', text: `the token expired at ${exp}: ask the proctor for a new one` };
    }
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
      return { ok: false, problem: 'bad_signature', text: 'the token was not issued by this server (bad signature)' };
    }
    return { ok: false, problem: 'malformed', text: 'the token is malformed: copy it again, whole' };
  }
}
