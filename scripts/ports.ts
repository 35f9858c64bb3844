/**
 * Port checks of `npm start`, made before anything starts: each port the local stack will listen on must be a
 * valid, distinct port that nothing else holds on any address, and a refusal names the variable to change.
 */
import net from 'node:net';

/** A port the stack needs, with the variable that sets it. */
export interface WantedPort {
  port: number;
  /** How the user names it: `PORT`, `S3_PORT`, `PORT+1`… */
  name: string;
  /** The variable to change (`PORT` for `PORT+1`). */
  variable: string;
  /** What listens there. */
  what: string;
}

/** A port the stack cannot use; the message names the variable to change. */
export class PortError extends Error {
  override readonly name = 'PortError';
  constructor(
    message: string,
    readonly variable: string,
  ) {
    super(message);
  }
}

/** Reads a port variable (`fallback` when unset); throws a {@link PortError} naming it when it is not a port. */
export function portSetting(env: NodeJS.ProcessEnv, variable: string, fallback: number): number {
  const raw = env[variable];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new PortError(`${variable}=${raw.slice(0, 20)} is not a TCP port (1-65535)`, variable);
  return n;
}

/** Tries to listen on `port` on `host`; resolves to the error code, or undefined when the port is free there. */
function tryListen(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'ERROR'));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/**
 * Is `port` free on every address? Listening on the IPv6 wildcard (dual stack, so IPv4 too) fails when anything
 * holds the port on any address, 127.0.0.1 and ::1 included; without IPv6 the IPv4 wildcard is tried.
 * @returns undefined when free, else the error code (`EADDRINUSE`, `EACCES`…).
 */
export async function portProblem(port: number): Promise<string | undefined> {
  const v6 = await tryListen(port, '::');
  if (v6 === 'EAFNOSUPPORT' || v6 === 'EADDRNOTAVAIL') return tryListen(port, '0.0.0.0');
  return v6;
}

/**
 * Checks every wanted port: distinct, and free.
 * @throws PortError naming the variable to change, e.g. "port 3000 (PORT) is in use by another program: …".
 */
export async function checkPorts(wanted: readonly WantedPort[]): Promise<void> {
  const seen = new Map<number, WantedPort>();
  for (const w of wanted) {
    const other = seen.get(w.port);
    if (other) throw new PortError(`${other.name} and ${w.name} are both port ${w.port}: give ${w.variable} another value`, w.variable);
    seen.set(w.port, w);
  }
  for (const w of wanted) {
    const problem = await portProblem(w.port);
    if (!problem) continue;
    const label = w.name === w.variable ? w.variable : `${w.name}, ${w.what}`;
    const example = `${w.variable}=${suggestion(w, wanted)} npm start`;
    if (problem === 'EADDRINUSE') {
      throw new PortError(`port ${w.port} (${label}) is in use by another program: stop it, or choose another port, e.g. ${example}`, w.variable);
    }
    throw new PortError(`cannot listen on port ${w.port} (${label}): ${problem}; choose another port, e.g. ${example}`, w.variable);
  }
}

/** A value to suggest for the variable of `w` (100 above, clear of the other ports). */
function suggestion(w: WantedPort, wanted: readonly WantedPort[]): number {
  const base = wanted.find((x) => x.name === w.variable)?.port ?? w.port;
  let p = base + 100;
  while (wanted.some((x) => x.port >= p - 2 && x.port <= p + 2)) p += 100;
  return p > 65535 ? base - 100 : p;
}
