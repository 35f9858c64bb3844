/**
 * Tributary's operations console (issue 16, docs/console.md): a small Preact app over the read-only ops API
 * (`/ops/...`, same origin), with uPlot charts. Login: OAuth 2.0 authorization code + PKCE (S256) against the
 * deployment's OIDC issuer (locally, the development login of the local issuer). The token is kept in
 * sessionStorage only. Everything is bundled by esbuild: nothing is fetched from the internet at run time.
 */
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import './style.css';

interface ConsoleConfig {
  issuer: string;
  clientId: string;
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
}

const TOKEN_KEY = 'tributary.console.token';
const PKCE_KEY = 'tributary.console.pkce';

const b64url = (b: ArrayBuffer | Uint8Array): string =>
  btoa(String.fromCharCode(...new Uint8Array(b as ArrayBuffer)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

async function startLogin(cfg: ConsoleConfig): Promise<void> {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  const u = new URL(cfg.authorizationEndpoint ?? `${cfg.issuer}/authorize`);
  u.searchParams.set('response_type', 'code');
  u.searchParams.set('client_id', cfg.clientId);
  u.searchParams.set('redirect_uri', `${location.origin}${location.pathname}`);
  u.searchParams.set('scope', 'tributary/operator');
  u.searchParams.set('state', state);
  u.searchParams.set('code_challenge', challenge);
  u.searchParams.set('code_challenge_method', 'S256');
  location.assign(u.toString());
}

async function finishLogin(cfg: ConsoleConfig): Promise<string | undefined> {
  const p = new URLSearchParams(location.search);
  const code = p.get('code');
  if (!code) return undefined;
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) ?? '{}') as { verifier?: string; state?: string };
  sessionStorage.removeItem(PKCE_KEY);
  history.replaceState(null, '', `${location.pathname}${location.hash || '#/overview'}`);
  if (!saved.verifier || saved.state !== p.get('state')) throw new Error('login state mismatch: sign in again');
  const r = await fetch(cfg.tokenEndpoint ?? `${cfg.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: saved.verifier, redirect_uri: `${location.origin}${location.pathname}`, client_id: cfg.clientId }),
  });
  const body = await r.json();
  if (!r.ok || !body.access_token) throw new Error(`token endpoint refused: ${body.error ?? r.status}`);
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
  return body.access_token;
}

class AuthRequired extends Error {}

async function api<T = any>(path: string, method: 'GET' | 'POST' = 'GET'): Promise<T> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) throw new AuthRequired('not signed in');
  const r = await fetch(path, { method, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  if (r.status === 401 || r.status === 403) {
    sessionStorage.removeItem(TOKEN_KEY);
    throw new AuthRequired(r.status === 403 ? 'this account does not have the operator role (tributary/operator)' : 'session expired');
  }
  const body = await r.json();
  if (!r.ok) throw new Error(body?.issue?.[0]?.diagnostics ?? `HTTP ${r.status}`);
  return body as T;
}

/** Polls an ops endpoint; `reload()` refetches now. */
function useApi<T>(path: string, onAuth: (msg: string) => void, everyMs = 10000): { data?: T; error?: string; reload: () => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    const load = () =>
      api<T>(path).then(
        (d) => live && (setData(d), setError(undefined)),
        (e) => (e instanceof AuthRequired ? onAuth(e.message) : live && setError(String(e.message ?? e))),
      );
    load();
    const t = setInterval(load, everyMs);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [path, n]);
  return { data, error, reload: () => setN((x) => x + 1) };
}

const PALETTE = ['#005eb8', '#b3261e', '#1b7f3b', '#8a4baf', '#d97706', '#0f766e', '#5f6368'];

function Chart(props: { title: string; t: number[]; series: { label: string; values: (number | null)[] }[]; id: string; unit?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    ref.current.innerHTML = '';
    if (props.t.length === 0) {
      ref.current.textContent = 'No data yet.';
      return;
    }
    const plot = new uPlot(
      {
        title: props.title,
        width: 540,
        height: 220,
        series: [{}, ...props.series.map((s, i) => ({ label: s.label, stroke: PALETTE[i % PALETTE.length], width: 2, points: { show: true } }))],
        axes: [{}, { label: props.unit ?? '' }],
      },
      [props.t, ...props.series.map((s) => s.values)] as uPlot.AlignedData,
      ref.current,
    );
    return () => plot.destroy();
  }, [JSON.stringify(props)]);
  return <div class="panel" data-testid={props.id} role="img" aria-label={props.title} ref={ref} />;
}

const fmtMs = (ms?: number) => (ms === undefined || ms === null ? '–' : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const Card = (p: { k: string; v: string | number; id?: string }) => (
  <div class="card" data-testid={p.id}>
    <div class={String(p.v).length > 12 ? 'v long' : 'v'}>{p.v}</div>
    <div class="k">{p.k}</div>
  </div>
);

function Overview({ onAuth }: { onAuth: (m: string) => void }) {
  const { data, error } = useApi<any>('/ops/overview', onAuth);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p>Loading…</p>;
  const ingest = data.ingest;
  return (
    <section>
      <h2>Overview</h2>
      <div class="cards">
        <Card id="ov-jobs" k="ETL jobs" v={data.etl.jobs} />
        <Card id="ov-failed" k="failed ETL jobs" v={data.etl.failed} />
        <Card id="ov-dead" k="dead-lettered jobs" v={data.etl.deadLettered} />
        {data.deadLetterQueueDepth !== null && <Card id="ov-dlq" k="messages in the ETL dead-letter queue" v={data.deadLetterQueueDepth} />}
        <Card id="ov-p50" k="ETL lag p50 (commit → mart)" v={fmtMs(data.etl.lagP50Ms)} />
        <Card id="ov-p99" k="ETL lag p99" v={fmtMs(data.etl.lagP99Ms)} />
        <Card id="ov-held" k="triage held" v={data.triage.held} />
      </div>
      <div class="charts">
        <Chart id="chart-ingest" title="Resources accepted by source" unit="resources" t={ingest.t} series={Object.entries(ingest.bySource).map(([label, values]) => ({ label, values: values as number[] }))} />
        <Chart id="chart-lag" title="ETL lag, commit → mart (ms)" unit="ms" t={data.etl.lag.t} series={[{ label: 'p50', values: data.etl.lag.p50 }, { label: 'p99', values: data.etl.lag.p99 }]} />
      </div>
      <div class="panel">
        <table>
          <caption>Requests by source</caption>
          <thead><tr><th>source</th><th>requests</th><th>accepted</th><th>refused</th><th>acceptance</th></tr></thead>
          <tbody>
            {data.sources.map((s: any) => (
              <tr key={s.source}><td>{s.source}</td><td>{s.requests}</td><td>{s.accepted}</td><td>{s.refused}</td><td>{pct(s.acceptanceRate)}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Jobs({ onAuth }: { onAuth: (m: string) => void }) {
  const [status, setStatus] = useState('');
  const [source, setSource] = useState('');
  const [view, setView] = useState('');
  const [since, setSince] = useState('');
  const [selected, setSelected] = useState<string>();
  const [msg, setMsg] = useState<string>();
  const qs = new URLSearchParams(Object.entries({ status, source, view, since: since ? new Date(since).toISOString() : '' }).filter(([, v]) => v) as [string, string][]).toString();
  const { data, error, reload } = useApi<any>(`/ops/etl/jobs${qs ? `?${qs}` : ''}`, onAuth);
  const job = data?.jobs.find((j: any) => j.id === selected);
  const retry = async (id: string) => {
    try {
      const r = await api(`/ops/etl/jobs/${encodeURIComponent(id)}/retry`, 'POST');
      setMsg(`Retry queued for ${r.id}`);
      reload();
    } catch (e: any) {
      if (e instanceof AuthRequired) onAuth(e.message);
      else setMsg(`Retry refused: ${e.message}`);
    }
  };
  return (
    <section>
      <h2>ETL jobs</h2>
      <div class="filters">
        <label>Status<select id="f-status" value={status} onChange={(e: any) => setStatus(e.currentTarget.value)}><option value="">any</option><option value="succeeded">succeeded</option><option value="failed">failed</option><option value="dead-lettered">dead-lettered</option></select></label>
        <label>Source<input id="f-source" value={source} onInput={(e: any) => setSource(e.currentTarget.value)} /></label>
        <label>View / table<input id="f-view" value={view} onInput={(e: any) => setView(e.currentTarget.value)} /></label>
        <label>Since<input id="f-since" type="datetime-local" value={since} onInput={(e: any) => setSince(e.currentTarget.value)} /></label>
      </div>
      {msg && <p role="status" data-testid="jobs-msg">{msg}</p>}
      {error && <p class="error">{error}</p>}
      {job && (
        <div class="panel" data-testid="job-detail">
          <h3>Job {job.id}</h3>
          <p>Object <code>{job.objectKey}</code> · source {job.source} · {job.resourceType} · attempts {job.attempts} ({job.attempts - 1} retries) · trigger {job.trigger} · {fmtMs(job.durationMs)} · lag {fmtMs(job.lagMs)}</p>
          <p>Status <span class={job.status}>{job.status}</span>{job.deadLettered ? ' · dead-lettered' : ''}{job.error ? ` · ${job.error.name}: ${job.error.message}` : ''}</p>
          <table><thead><tr><th>table</th><th>rows</th></tr></thead><tbody>{Object.entries(job.rows).map(([t, n]) => <tr key={t}><td>{t}</td><td>{n as number}</td></tr>)}</tbody></table>
          {job.status === 'failed' && <p><button id="retry" onClick={() => retry(job.id)}>Retry job</button></p>}
        </div>
      )}
      <div class="panel">
        <p>{data ? `${data.total} job(s)` : 'Loading…'}</p>
        <table data-testid="jobs-table">
          <thead><tr><th>job</th><th>source</th><th>type</th><th>status</th><th>rows</th><th>attempts</th><th>finished</th></tr></thead>
          <tbody>
            {(data?.jobs ?? []).map((j: any) => (
              <tr key={j.id} data-job={j.id} data-status={j.status}>
                <td><button class="link" onClick={() => setSelected(j.id)}>{j.id}</button></td>
                <td>{j.source}</td><td>{j.resourceType}</td>
                <td class={j.status}>{j.status}{j.deadLettered ? ' (DLQ)' : ''}</td>
                <td data-rows>{Object.values(j.rows).reduce((a: number, b: any) => a + (b as number), 0)}</td>
                <td>{j.attempts}</td><td>{j.finishedAt}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Triage({ onAuth }: { onAuth: (m: string) => void }) {
  const { data, error, reload } = useApi<any>('/ops/triage', onAuth);
  const [msg, setMsg] = useState<string>();
  const recheck = async (id: string) => {
    try {
      const r = await api(`/ops/triage/${encodeURIComponent(id)}/recheck`, 'POST');
      setMsg(r.ingested ? `Item ${id} passed and was ingested` : `Item ${id} still fails (${r.item?.lastCheckIssues ?? '?'} issues)`);
      reload();
    } catch (e: any) {
      if (e instanceof AuthRequired) onAuth(e.message);
      else setMsg(`Recheck refused: ${e.message}`);
    }
  };
  return (
    <section>
      <h2>Triage</h2>
      {error && <p class="error">{error}</p>}
      {msg && <p role="status" data-testid="triage-msg">{msg}</p>}
      <div class="cards">{Object.entries(data?.bySource ?? {}).map(([s, n]) => <Card key={s} k={`held from ${s}`} v={n as number} />)}</div>
      <div class="panel">
        <table data-testid="triage-table">
          <thead><tr><th>item</th><th>source</th><th>held</th><th>types</th><th>issues (expressions)</th><th>state</th><th>last check</th><th></th></tr></thead>
          <tbody>
            {(data?.items ?? []).map((i: any) => (
              <tr key={i.id} data-item={i.id} data-state={i.state}>
                <td>{i.id}</td><td>{i.source}</td><td>{i.heldAt}</td>
                <td>{Object.entries(i.resourceTypes).map(([t, n]) => `${t}×${n}`).join(' ')}</td>
                <td>{i.issues}: {i.expressions.map((e: string) => <code key={e}>{e}</code>)}</td>
                <td>{i.state}</td><td>{i.lastCheckedAt ? `${i.lastCheckedAt} (${i.lastCheckIssues ?? '?'} issues)` : '–'}</td>
                <td>{i.state === 'held' && <button data-recheck={i.id} onClick={() => recheck(i.id)}>Recheck</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Quality({ onAuth }: { onAuth: (m: string) => void }) {
  const { data, error } = useApi<any>('/ops/quality', onAuth);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p>Loading…</p>;
  return (
    <section>
      <h2>Data quality per source</h2>
      {data.sources.map((s: any) => (
        <div class="panel" key={s.source} data-source={s.source}>
          <h3>{s.source}</h3>
          <div class="cards">
            <Card k="acceptance rate" v={pct(s.acceptanceRate)} id={`acc-${s.source}`} />
            <Card k="write requests" v={s.writes} />
            <Card k="refused" v={s.refused} />
          </div>
          <p>Refusals by status: {Object.entries(s.refusalsByStatus).map(([k, n]) => `${k}×${n}`).join(', ') || 'none'}</p>
          <p>Top issues by expression: {s.topIssues.length ? s.topIssues.map((t: any) => <span key={t.expression}><code>{t.expression}</code>×{t.count} </span>) : 'none held in triage'}</p>
          <Chart id={`trend-${s.source}`} title={`Acceptance rate, ${s.source}`} unit="rate" t={s.trend.t} series={[{ label: 'acceptance', values: s.trend.rate }]} />
        </div>
      ))}
    </section>
  );
}

function Catalogue({ onAuth }: { onAuth: (m: string) => void }) {
  const [q, setQ] = useState('');
  const { data, error } = useApi<any>(`/ops/catalogue${q ? `?q=${encodeURIComponent(q)}` : ''}`, onAuth, 15000);
  return (
    <section>
      <h2>Catalogue</h2>
      <div class="filters">
        <label>Search tables, columns, resource types<input id="cat-search" type="search" value={q} onInput={(e: any) => setQ(e.currentTarget.value)} /></label>
      </div>
      {error && <p class="error">{error}</p>}
      {(data?.tables ?? []).map((t: any) => (
        <div class="panel" key={t.name} data-table={t.name}>
          <h3>{t.name} <small>({t.kind}; {t.resourceTypes.join(', ')})</small></h3>
          <p>{t.description} · {t.rows} rows · {t.partitions.length} partition(s) · fresh {t.freshness ?? 'never written'}{t.matched?.length ? ` · matched: ${t.matched.join(', ')}` : ''}</p>
          <table>
            <thead><tr><th>column</th><th>type</th><th>description</th></tr></thead>
            <tbody>{t.columns.map((c: any) => <tr key={c.name} data-column={c.name}><td>{c.name}</td><td>{c.type}</td><td>{c.description ?? ''}</td></tr>)}</tbody>
          </table>
        </div>
      ))}
    </section>
  );
}

function Audit({ onAuth }: { onAuth: (m: string) => void }) {
  const { data, error, reload } = useApi<any>('/ops/audit', onAuth);
  const [result, setResult] = useState<any>();
  const verify = async () => {
    try {
      setResult(await api('/ops/audit/verify', 'POST'));
      reload();
    } catch (e: any) {
      if (e instanceof AuthRequired) onAuth(e.message);
      else setResult({ ok: false, problems: [e.message] });
    }
  };
  return (
    <section>
      <h2>Audit trail</h2>
      {error && <p class="error">{error}</p>}
      <div class="cards">
        <Card k="records" v={data?.records ?? '…'} />
        <Card k="last record" v={data?.lastRecorded ?? '–'} />
        <Card k="last verification" v={data?.lastVerification ? `${data.lastVerification.ok ? 'intact' : 'BROKEN'} at ${data.lastVerification.at}` : 'not yet'} />
      </div>
      <p><button id="verify" onClick={verify}>Verify the chain now</button></p>
      {result && (
        <p role="status" data-testid="verify-result" class={result.ok ? 'succeeded' : 'failed'}>
          {result.ok
            ? `Chain intact: ${result.records} records in ${result.chains} writer chain(s), ${result.anchors} anchor(s)${result.lastAnchorHash ? `, last anchor sha256:${result.lastAnchorHash}` : ''}${result.unanchored ? `, ${result.unanchored} record(s) after the last anchor` : ''}`
            : `Chain broken: ${(result.problems ?? [result.reason]).join('; ')}`}
        </p>
      )}
    </section>
  );
}

const PAGES: Record<string, [string, (p: { onAuth: (m: string) => void }) => any]> = {
  overview: ['Overview', Overview],
  jobs: ['ETL jobs', Jobs],
  triage: ['Triage', Triage],
  quality: ['Data quality', Quality],
  catalogue: ['Catalogue', Catalogue],
  audit: ['Audit', Audit],
};

function App({ cfg }: { cfg: ConsoleConfig }) {
  const [signedIn, setSignedIn] = useState(Boolean(sessionStorage.getItem(TOKEN_KEY)));
  const [why, setWhy] = useState<string>();
  const [page, setPage] = useState((location.hash.replace('#/', '') || 'overview').split('?')[0]!);
  useEffect(() => {
    const on = () => setPage(location.hash.replace('#/', '') || 'overview');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  const onAuth = (m: string) => {
    setWhy(m);
    setSignedIn(false);
  };
  if (!signedIn) {
    return (
      <div class="login" data-testid="login">
        <h1>Tributary operations console</h1>
        <p>Sign in with your organisation's identity provider. The console needs the operator role.</p>
        {why && <p class="error" role="alert">{why}</p>}
        <button id="login" onClick={() => startLogin(cfg)}>Sign in</button>
      </div>
    );
  }
  const [title, Page] = PAGES[page] ?? PAGES.overview!;
  return (
    <>
      <header>
        <h1>Tributary</h1>
        <nav aria-label="Console pages">
          {Object.entries(PAGES).map(([k, [t]]) => (
            <a key={k} href={`#/${k}`} aria-current={k === page ? 'page' : undefined}>{t}</a>
          ))}
        </nav>
        <span class="who"><button class="link" style="color:#fff" onClick={() => (sessionStorage.removeItem(TOKEN_KEY), onAuth('signed out'))}>Sign out</button></span>
      </header>
      <main aria-label={title}>
        <Page onAuth={onAuth} />
      </main>
    </>
  );
}

async function boot(): Promise<void> {
  const root = document.getElementById('app')!;
  const cfg = (await (await fetch('./console-config.json')).json()) as ConsoleConfig;
  try {
    await finishLogin(cfg);
  } catch (e: any) {
    root.textContent = String(e.message ?? e);
  }
  render(<App cfg={cfg} />, root);
}

void boot();
