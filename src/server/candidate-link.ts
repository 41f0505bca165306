// The link a candidate opens: the page of `serve --web-port` with the id and token in the fragment, which the
// browser never sends to any server (not in requests, logs or a Referer).
import { AuthError } from './auth';

/** Checks `--url` and returns it with one trailing slash; throws VIGIL_ERR_URL for anything but http(s). */
export function candidateLinkBase(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AuthError('VIGIL_ERR_URL', `--url ${JSON.stringify(url)} is not a URL; give the page's address, e.g. https://exam.example.org:8443/`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new AuthError('VIGIL_ERR_URL', `--url must be http:// or https://, not ${u.protocol}`);
  if (u.hash || u.search) throw new AuthError('VIGIL_ERR_URL', '--url takes the page\'s address only, without ? or #');
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u;
}

export function candidateLink(base: URL, id: string, token: string): string {
  const params = new URLSearchParams({ id, token });
  return `${base.href}#${params.toString()}`;
}
