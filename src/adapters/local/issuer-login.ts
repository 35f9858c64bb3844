/**
 * The local issuer's development login (see src/adapters/local/issuer.ts): OAuth 2.0 authorization code with PKCE
 * (RFC 6749 §4.1, RFC 7636 S256) for the web console. Codes live in memory for 60 s and are single-use;
 * `redirect_uri` must be a loopback http URL. The access token is minted with the issuer's key by the issuer's `mintToken`.
 */
import { createHash, randomBytes } from 'node:crypto';
import type * as http from 'node:http';

/** Roles of the development login and the scopes they get. */
export const DEV_ROLES: Record<string, string> = { operator: 'tributary/operator', writer: 'system/*.cu' };
/** Source claim of tokens issued through the development login. */
export const DEV_LOGIN_SOURCE = 'ops-console';

interface Pending {
  clientId: string;
  redirectUri: string;
  challenge: string;
  user: string;
  role: string;
  expires: number;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//;

function readBody(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let t = '';
    req.on('data', (d: Buffer) => {
      t += d.toString('utf8');
      if (t.length > 16384) req.destroy();
    });
    req.on('end', () => resolve(new URLSearchParams(t)));
    req.on('error', reject);
  });
}

function page(p: URLSearchParams): string {
  const hidden = ['client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method', 'scope']
    .map((k) => `<input type="hidden" name="${k}" value="${esc(p.get(k) ?? '')}">`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tributary development login</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}label{display:block;margin:.8rem 0 .3rem}
input,select,button{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}button{margin-top:1.2rem;background:#005eb8;color:#fff;border:0;border-radius:4px}
.note{color:#555;font-size:.9rem}</style></head><body><main><h1>Tributary development login</h1>
<p class="note">Local issuer: no password. Pick a role; the console needs the operator role.</p>
<form method="post" action="/authorize">${hidden}
<label for="user">User name</label><input id="user" name="user" value="ops-dev" required pattern="[A-Za-z0-9._\-]{1,64}" autocomplete="username">
<label for="role">Role</label><select id="role" name="role"><option value="operator">operator (tributary/operator)</option><option value="writer">writer (system/*.cu, no console access)</option></select>
<button type="submit" id="sign-in">Sign in</button></form></main></body></html>`;
}

/** The `/authorize` and `/token` handler of the local issuer. */
export function createDevLogin(
  mint: (o: { source: string; scope: string; clientId: string; subject: string; expiresIn: number }) => Promise<string>,
): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const codes = new Map<string, Pending>();
  const json = (res: http.ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'access-control-allow-origin': '*' });
    res.end(JSON.stringify(body));
  };
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/authorize' && req.method === 'GET') {
      const p = url.searchParams;
      if (p.get('response_type') !== 'code' || p.get('code_challenge_method') !== 'S256' || !p.get('code_challenge') || !LOOPBACK.test(p.get('redirect_uri') ?? '')) {
        return json(res, 400, { error: 'invalid_request', error_description: 'response_type=code, S256 PKCE and a loopback redirect_uri are required' });
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(page(p));
      return;
    }
    if (url.pathname === '/authorize' && req.method === 'POST') {
      const p = await readBody(req);
      const redirectUri = p.get('redirect_uri') ?? '';
      const user = p.get('user') ?? '';
      const role = p.get('role') ?? '';
      if (!LOOPBACK.test(redirectUri) || !/^[A-Za-z0-9._-]{1,64}$/.test(user) || !DEV_ROLES[role] || !p.get('code_challenge')) {
        return json(res, 400, { error: 'invalid_request' });
      }
      const code = randomBytes(24).toString('base64url');
      codes.set(code, { clientId: p.get('client_id') ?? '', redirectUri, challenge: p.get('code_challenge')!, user, role, expires: Date.now() + 60_000 });
      const to = new URL(redirectUri);
      to.searchParams.set('code', code);
      if (p.get('state')) to.searchParams.set('state', p.get('state')!);
      res.writeHead(302, { location: to.toString(), 'cache-control': 'no-store' });
      res.end();
      return;
    }
    if (url.pathname === '/token' && req.method === 'OPTIONS') {
      res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'POST', 'access-control-allow-headers': 'content-type' });
      res.end();
      return;
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      const p = await readBody(req);
      const code = p.get('code') ?? '';
      const pending = codes.get(code);
      codes.delete(code);
      if (p.get('grant_type') !== 'authorization_code' || !pending || pending.expires < Date.now()) return json(res, 400, { error: 'invalid_grant' });
      const challenge = createHash('sha256').update(p.get('code_verifier') ?? '').digest('base64url');
      if (challenge !== pending.challenge || p.get('redirect_uri') !== pending.redirectUri || (p.get('client_id') ?? '') !== pending.clientId) {
        return json(res, 400, { error: 'invalid_grant' });
      }
      const scope = DEV_ROLES[pending.role]!;
      const expiresIn = 3600;
      const token = await mint({ source: DEV_LOGIN_SOURCE, scope, clientId: pending.clientId || 'tributary-console', subject: pending.user, expiresIn });
      return json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: expiresIn, scope });
    }
    return json(res, 405, { error: 'method not allowed' });
  };
}
