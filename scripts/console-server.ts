/**
 * The web console's local server (`npm start`): serves the built console (dist/console) and its
 * `console-config.json` (the local issuer), and forwards `/ops/...` to the API, so the console and the ops API
 * share one origin as they do behind CloudFront in AWS. Loopback only.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

/** A running console server. */
export interface ConsoleServer {
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json', '.png': 'image/png' };

/** Starts the console server on `port` (0: any free port). */
export async function startConsoleServer(o: { port: number; apiPort: number; issuer: string; assets: string }): Promise<ConsoleServer> {
  const config = JSON.stringify({ issuer: o.issuer, clientId: 'tributary-console' });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith('/ops/')) {
      const up = http.request(
        { host: '127.0.0.1', port: o.apiPort, path: req.url, method: req.method, headers: { ...req.headers, host: `localhost:${o.apiPort}` } },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', () => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'the API is not answering' }));
      });
      req.pipe(up);
      return;
    }
    if (url.pathname === '/console-config.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(config);
      return;
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    const name = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
    const file = path.join(o.assets, path.normalize(name));
    if (!file.startsWith(o.assets + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
      'content-security-policy': `default-src 'self'; connect-src 'self' ${o.issuer}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action ${o.issuer}`,
    });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
