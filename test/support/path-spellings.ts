/**
 * Path spellings for the split-auth bypass check, the raw clients that send them exactly as written,
 * and the judge that says what a response IS.
 *
 * Why generated: a proxy picks its location by its own reading of the path (nginx: percent-decoded,
 * dot segments resolved, slashes merged; `\` an ordinary byte), and whatever sits behind it reads the
 * raw path again by other rules (configurable-http-proxy's http-proxy-3 re-parses it as a WHATWG
 * URL: `\` becomes `/`, `..`/`%2e%2e` segments are resolved, tab and newline dropped). Every
 * difference between two readings is a way past the password, so the set crosses separators,
 * encodings, dot segments, letter case, request-target forms and starting points that climb back
 * from the paths left open (`<base>user/<name>/`, `<base>hub/api/`), instead of listing tricks.
 *
 * Why judged by content: a 200, 302 or 404 says nothing by itself (the hub answers 404 with one of
 * its own pages, and redirects into itself). A bypass is a response, to a request without Basic
 * credentials, that is a hub page (its login form or its page template), or a redirect to a hub page
 * on the same site that is itself served without credentials.
 */
import * as http2 from "node:http2";
import * as tls from "node:tls";

// ---------------------------------------------------------------------------
// The spellings
// ---------------------------------------------------------------------------

/** Ways to write the separator between two segments. */
export const separators = ["/", "\\", "%2F", "%2f", "%5C", "%5c", "%252F", "%255C", "//", "\\\\", "/\\", "\\/"];
/** Ways to write a `..` segment: plain, encoded (either case, mixed), half encoded, double encoded. */
export const parents = ["..", "%2e%2e", "%2E%2e", ".%2E", "%252e%252e"];
/** Ways to write a `.` segment. */
export const currents = [".", "%2E", "%2e"];
/** Letter cases of `hub` (nginx matches the pages case-insensitively; the hub routes by exact case). */
export const hubCases = ["hub", "HUB", "Hub"];
/** Characters a WHATWG parser drops from anywhere in a URL; HTTP parsers should refuse them. */
export const dropped = ["\t", "\n"];

export interface Spelling {
  /** The path as sent, `/`-rooted (origin-form). */
  path: string;
  /** How it was made, for the report. */
  family: string;
}

export interface SpellingOptions {
  /** The hub's base path, `/` or `/jhub/`. */
  base: string;
  /** A hub user name, for the `<base>user/<name>/` starting points. */
  user: string;
  /** The hub page every spelling means: `login` (split auth) unless given, e.g. `metrics`. */
  page?: string;
}

/**
 * Several hundred distinct paths, each meant to read as `<base>hub/login` (or a hub page beside it)
 * to some URL normaliser, none of them plainly that to a byte-exact reader.
 */
export function pathSpellings({ base, user, page = "login" }: SpellingOptions): Spelling[] {
  const baseSegs = base.split("/").filter(Boolean);
  const out = new Map<string, Spelling>();
  const add = (family: string, path: string) => {
    if (!out.has(path)) out.set(path, { path, family });
  };
  /** `/` + segments joined by `sep` (the leading `/` is the request-target's own). */
  const join = (segs: string[], sep: string) => `/${segs.join(sep)}`;

  // 1. The target itself, every separator between every segment (the base's included) and only
  //    between `hub` and `login`, in every letter case.
  for (const hub of hubCases) {
    for (const sep of separators) {
      add("direct", join([...baseSegs, hub, page], sep));
      add("direct", `${base}${hub}${sep}${page}`);
      add("direct", `${base}${hub}${sep}`);
    }
  }
  // 2. A `.` segment on the way: before `hub`, and between `hub` and `login`.
  for (const cur of currents) {
    for (const sep of separators) {
      add("dot", `${base}${cur}${sep}hub/${page}`);
      add("dot", `${base}hub${sep}${cur}${sep}${page}`);
    }
  }
  // 3. Climbing back from the paths that stay open, with `..` in every spelling: the whole path in
  //    one separator, and a plain prefix followed by a climb in another (what a browser-made link
  //    plus a typed suffix looks like).
  const starts: { from: string[]; up: number; to: string[] }[] = [
    { from: ["user", user], up: 2, to: ["hub", page] },
    { from: ["user", user, "api", "contents"], up: 4, to: ["hub", page] },
    { from: ["hub", "api"], up: 2, to: ["hub", page] },
    { from: ["hub", "api", "users"], up: 2, to: [page] },
  ];
  for (const { from, up, to } of starts) {
    const where = `climb from ${from.join("/").replace(user, "<name>")}`;
    for (const dots of parents) {
      const climb = Array<string>(up).fill(dots);
      for (const sep of separators) {
        add(where, join([...baseSegs, ...from, ...climb, ...to], sep));
        if (sep !== "/") add(`${where}, mixed`, `${join([...baseSegs, ...from], "/")}${sep}${[...climb, ...to].join(sep)}`);
      }
    }
    // Letter case of the target after a climb (backslash climbs: the separator a normaliser converts).
    for (const hub of hubCases.slice(1)) add(`${where}, case`, `${join([...baseSegs, ...from], "/")}\\${[...Array<string>(up).fill(".."), ...to.map((s) => (s === "hub" ? hub : s))].join("\\")}`);
  }
  // 4. Characters a WHATWG parser drops (an HTTP parser must refuse them, or pass them as bytes).
  for (const c of dropped) {
    add("dropped char", `${base}hu${c}b/${page}`);
    add("dropped char", `${base}user/${user}/..${c}/../hub/${page}`);
  }
  return [...out.values()];
}

/** True when a spelling holds a backslash in any spelling (raw, `%5C`, `%255C`): the class found. */
export const hasBackslash = (path: string): boolean => /\\|%(?:25)*5c/i.test(path);

// ---------------------------------------------------------------------------
// Raw clients: HTTP/1.1 over a TLS socket, HTTP/2 over node:http2
// ---------------------------------------------------------------------------

export interface Endpoint {
  /** Address to dial. */
  addr: string;
  port: number;
  /** The site's name: SNI, Host / :authority. */
  hostName: string;
  ca: string;
}

export interface RawResponse {
  status: number;
  /** Lower-case names; every value (Set-Cookie may repeat). */
  headers: Record<string, string[]>;
  body: string;
}

export interface RawRequest {
  method?: string;
  /** The request-target exactly as it goes on the wire (origin-form `/…` or absolute-form `https://…`). */
  target: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

export const authority = (e: Endpoint) => (e.port === 443 ? e.hostName : `${e.hostName}:${e.port}`);

/** One request on its own TLS connection, the request line written byte for byte (no normalisation). */
export function h1Raw(e: Endpoint, r: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body = r.body === undefined ? undefined : Buffer.from(r.body, "utf8");
    const head = [
      `${r.method ?? "GET"} ${r.target} HTTP/1.1`,
      `Host: ${authority(e)}`,
      "Connection: close",
      "Accept-Encoding: identity",
      ...Object.entries(r.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
      ...(body ? [`Content-Length: ${body.length}`] : []),
    ];
    const sock = tls.connect({ host: e.addr, port: e.port, servername: e.hostName, ca: e.ca, ALPNProtocols: ["http/1.1"] });
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => sock.destroy(new Error(`no answer within ${r.timeoutMs ?? 15_000} ms`)), r.timeoutMs ?? 15_000);
    sock.on("secureConnect", () => {
      sock.write(Buffer.concat([Buffer.from(`${head.join("\r\n")}\r\n\r\n`, "latin1"), body ?? Buffer.alloc(0)]));
    });
    sock.on("data", (c: Buffer) => {
      size += c.length;
      if (size > 4 * 1024 * 1024) sock.destroy(new Error("response larger than 4 MiB"));
      else chunks.push(c);
    });
    sock.on("error", (err) => {
      clearTimeout(timer);
      // A reset after the answer arrived (the server closes hard after `Connection: close`) is no failure.
      if (size > 0) resolve(parseH1(Buffer.concat(chunks)));
      else reject(err);
    });
    sock.on("close", () => {
      clearTimeout(timer);
      try {
        resolve(parseH1(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** A response without a status line (HTTP/0.9, or a cut one) is all body, status 0: still judged. */
function parseH1(raw: Buffer): RawResponse {
  const end = raw.indexOf("\r\n\r\n");
  const [statusLine, ...lines] = raw.subarray(0, Math.max(end, 0)).toString("latin1").split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (end < 0 || !m) return { status: 0, headers: {}, body: raw.toString("utf8") };
  const headers: Record<string, string[]> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i > 0) (headers[line.slice(0, i).trim().toLowerCase()] ??= []).push(line.slice(i + 1).trim());
  }
  let rest = raw.subarray(end + 4);
  if (/chunked/i.test(headers["transfer-encoding"]?.join(",") ?? "")) {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = rest.indexOf("\r\n");
      if (eol < 0) break;
      const n = parseInt(rest.subarray(0, eol).toString("latin1"), 16);
      if (!Number.isFinite(n) || n === 0) break;
      parts.push(rest.subarray(eol + 2, eol + 2 + n));
      rest = rest.subarray(eol + 2 + n + 2);
    }
    rest = Buffer.concat(parts);
  } else if (headers["content-length"]) {
    rest = rest.subarray(0, Number(headers["content-length"][0]));
  }
  return { status: Number(m[1]), headers, body: rest.toString("utf8") };
}

/** An HTTP/2 connection whose `:path` goes out exactly as given; reconnects after a GOAWAY. */
export class H2Client {
  private session: http2.ClientHttp2Session | undefined;
  constructor(private readonly e: Endpoint) {}

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const e = this.e;
    const s = http2.connect(`https://${authority(e)}`, {
      createConnection: () => tls.connect({ host: e.addr, port: e.port, servername: e.hostName, ca: e.ca, ALPNProtocols: ["h2"] }),
    });
    s.on("error", () => undefined); // each stream reports its own failure
    s.on("goaway", () => s.close());
    this.session = s;
    return s;
  }

  request(r: RawRequest): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.connect().request({
          ":method": r.method ?? "GET", ":path": r.target, ":scheme": "https", ":authority": authority(this.e), ...(r.headers ?? {}),
        }, { endStream: r.body === undefined });
      } catch (err) {
        reject(err);
        return;
      }
      const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), r.timeoutMs ?? 15_000);
      let status = 0;
      const headers: Record<string, string[]> = {};
      const chunks: Buffer[] = [];
      stream.on("response", (h) => {
        status = Number(h[":status"]);
        for (const [k, v] of Object.entries(h)) if (!k.startsWith(":") && v !== undefined) headers[k] = Array.isArray(v) ? v : [String(v)];
      });
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      stream.on("close", () => {
        clearTimeout(timer);
        if (status) resolve({ status, headers, body: Buffer.concat(chunks).toString("utf8") });
        else reject(new Error(`stream closed without a response (code ${stream.rstCode})`));
      });
      if (r.body !== undefined) stream.end(r.body);
    });
  }

  close(): void {
    this.session?.close();
  }
}

/** Runs `fn` over `items`, at most `limit` at a time, in order of the results. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  }));
  return results;
}

// ---------------------------------------------------------------------------
// The judge
// ---------------------------------------------------------------------------

/**
 * What a body is, as far as the hub's pages go: "login form" (JupyterHub's login template: a form
 * posting to `…hub/login` with a `username` field), "hub page" (its page template: `window.jhdata`,
 * the `jupyterhub-logo` brand, assets under `<base>hub/static/`), or undefined.
 */
export function hubPageKind(body: string, base: string): "login form" | "hub page" | undefined {
  if (/<form[^>]*action="[^"]*hub\/login[^"]*"/i.test(body) && /name="username"/.test(body)) return "login form";
  const staticPrefix = `${base}hub/static/`;
  if (/window\.jhdata\s*=/.test(body) || /id="jupyterhub-logo"/.test(body) || body.includes(`"${staticPrefix}`) || body.includes(`'${staticPrefix}`)) return "hub page";
  return undefined;
}

const header = (r: RawResponse, name: string) => r.headers[name]?.[0];

/** Where a redirect leads, when it stays on this site: the path (with query) a browser would ask for. */
export function sameSiteLocation(r: RawResponse, e: Endpoint): string | undefined {
  const location = header(r, "location");
  if (r.status < 300 || r.status > 399 || !location) return undefined;
  const here = new URL(`https://${authority(e)}/`);
  let next: URL;
  try {
    next = new URL(location, here);
  } catch {
    return undefined;
  }
  return next.origin === here.origin ? `${next.pathname}${next.search}` : undefined;
}

/** The hub's login cookie or session cookie, or a landing page only a logged-in user gets sent to. */
export function loginEvidence(r: RawResponse, base: string): string | undefined {
  const found: string[] = [];
  const cookies = (r.headers["set-cookie"] ?? []).map((c) => c.split("=")[0]).filter((c) => /^jupyterhub-(hub-login|session-id)$/.test(c));
  if (cookies.length) found.push(`sets ${cookies.join(", ")}`);
  const location = header(r, "location");
  if (location && r.status >= 300 && r.status < 400) {
    const p = new URL(location, "https://site.invalid/").pathname;
    if (p.startsWith(`${base}hub/spawn`) || p.startsWith(`${base}user/`) || p.startsWith(`${base}hub/home`)) found.push(`${r.status} to ${p}`);
  }
  return found.length ? found.join("; ") : undefined;
}

// ---------------------------------------------------------------------------
// The sweep
// ---------------------------------------------------------------------------

export type Channel = "HTTP/1.1" | "HTTP/1.1 absolute-form" | "HTTP/2";
export const channels: Channel[] = ["HTTP/1.1", "HTTP/1.1 absolute-form", "HTTP/2"];

export interface Finding {
  channel: Channel | "HTTP/1.1 POST login";
  path: string;
  family: string;
  what: string;
}

export interface SweepResult {
  requests: Record<Finding["channel"], number>;
  /** Redirects followed (once, without credentials, each distinct target once). */
  followed: number;
  /** No answer at all (refused at the protocol level, reset): not a bypass, counted. */
  errors: Finding[];
  bypasses: Finding[];
  /** Spellings that got a login POST: every backslash spelling and every GET bypass. */
  posted: number;
  /** Spellings other than the plain path that serve the login form when sent WITH credentials. */
  formWithCredentials: Spelling[];
  ms: number;
}

export interface SweepOptions {
  base: string;
  spellings: Spelling[];
  /** Headers (Cookie with the form's _xsrf, Content-Type, Origin) and body of a login POST: no Basic credentials. */
  login: { headers: Record<string, string>; body: string };
  /**
   * Basic credentials: every spelling is sent once more with them (HTTP/1.1), to count how many do
   * mean the login page downstream, i.e. that the set is not refused for some other reason.
   */
  authorization: string;
  concurrency?: number;
}

/**
 * Every spelling over HTTP/1.1 (origin-form and absolute-form) and HTTP/2, without credentials,
 * each answer judged; then a login POST to the suspicious spellings, judged by whether it yields a
 * session. Nothing here decides by status code alone.
 */
export async function sweepSpellings(e: Endpoint, h2: H2Client, o: SweepOptions): Promise<SweepResult> {
  const t0 = Date.now();
  const limit = o.concurrency ?? 16;
  const requests = { "HTTP/1.1": 0, "HTTP/1.1 absolute-form": 0, "HTTP/2": 0, "HTTP/1.1 POST login": 0 };
  const follows = new Map<string, Promise<RawResponse | Error>>();
  const errors: Finding[] = [];
  const bypasses: Finding[] = [];

  const send = (channel: Channel, r: RawRequest): Promise<RawResponse> =>
    channel === "HTTP/2" ? h2.request(r)
      : channel === "HTTP/1.1 absolute-form" ? h1Raw(e, { ...r, target: `https://${authority(e)}${r.target}` })
        : h1Raw(e, r);

  /**
   * Why a response (to a request without credentials) is a bypass, or undefined. `pages`: which of
   * the hub's pages count. A POST to a path the hub does not route still gets the hub's 403/405
   * error page (so does `POST /anything`): for a POST only the login form counts, besides a session.
   */
  const judge = async (r: RawResponse, pages: "any" | "login form" = "any"): Promise<string | undefined> => {
    const kind = hubPageKind(r.body, o.base);
    if (kind && (pages === "any" || kind === pages)) return `${r.status} ${kind}`;
    const next = sameSiteLocation(r, e);
    if (!next) return undefined;
    if (!follows.has(next)) follows.set(next, h1Raw(e, { target: next }).catch((err: Error) => err));
    const f = await follows.get(next)!;
    if (f instanceof Error) return undefined;
    const then = hubPageKind(f.body, o.base);
    return then ? `${r.status} → ${next} → ${f.status} ${then}` : undefined;
  };

  const jobs = o.spellings.flatMap((s) => channels.map((channel) => ({ s, channel })));
  const bypassed = new Set<string>();
  await pool(jobs, limit, async ({ s, channel }) => {
    requests[channel]++;
    let r: RawResponse;
    try {
      r = await send(channel, { target: s.path });
    } catch (err) {
      errors.push({ channel, path: s.path, family: s.family, what: (err as Error).message });
      return;
    }
    const why = await judge(r);
    if (why) {
      bypasses.push({ channel, path: s.path, family: s.family, what: why });
      bypassed.add(s.path);
    }
  });

  const suspicious = o.spellings.filter((s) => hasBackslash(s.path) || bypassed.has(s.path));
  await pool(suspicious, limit, async (s) => {
    const channel = "HTTP/1.1 POST login" as const;
    requests[channel]++;
    let r: RawResponse;
    try {
      r = await h1Raw(e, { method: "POST", target: s.path, headers: o.login.headers, body: o.login.body });
    } catch (err) {
      errors.push({ channel, path: s.path, family: s.family, what: (err as Error).message });
      return;
    }
    const why = loginEvidence(r, o.base) ?? (await judge(r, "login form"));
    if (why) bypasses.push({ channel, path: s.path, family: s.family, what: why });
  });
  const formWithCredentials: Spelling[] = [];
  const plain = `${o.base}hub/login`;
  await pool(o.spellings.filter((s) => s.path !== plain), limit, async (s) => {
    const r = await h1Raw(e, { target: s.path, headers: { Authorization: o.authorization } }).catch(() => undefined);
    if (r && hubPageKind(r.body, o.base) === "login form") formWithCredentials.push(s);
  });
  return { requests, followed: follows.size, errors, bypasses, posted: suspicious.length, formWithCredentials, ms: Date.now() - t0 };
}

/** `name=value` pairs of a response's Set-Cookie headers, as a Cookie request header. */
export const cookieHeader = (r: RawResponse): string =>
  (r.headers["set-cookie"] ?? []).map((c) => c.split(";")[0]).join("; ");
