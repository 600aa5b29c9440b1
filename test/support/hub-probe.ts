/**
 * User probe for a JupyterHub behind a reverse proxy.
 *
 * Proves a deployment works the way a user experiences it: log in through the
 * proxy, start the user's server, open a real kernel and run code over the
 * kernel's websocket, all through the public URL (scheme, host, port and
 * sub-path are all taken from `baseUrl`).
 *
 * Uses only node built-ins and `ws`. See README-probe.md for the details and
 * the pitfalls this code works around.
 */
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import * as tls from "node:tls";
import { randomUUID } from "node:crypto";
import WebSocket from "ws";

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/** Dial this address instead of resolving the URL's host (like `curl --connect-to`). */
export interface ConnectTo {
  host: string;
  /** Port to dial for requests to the original URL's port. Other ports on the same host name are dialled as they are. */
  port?: number | undefined;
  /**
   * Also dial this address for this domain and every name under it (per-user subdomains:
   * `<user>.hub.example.test`), and let redirects move between them (same scheme and port).
   */
  subdomainsOf?: string | undefined;
}

/** Whether `host` is `domain` or a name under it. */
function inDomain(host: string, domain: string): boolean {
  const h = host.toLowerCase(), d = domain.toLowerCase();
  return h === d || h.endsWith(`.${d}`);
}

export interface HubProbeOptions {
  /** Public URL of the hub as users type it, e.g. "https://hub.example.test/" or "https://hub.example.test:8443/jhub/". */
  baseUrl: string;
  /** Dial this address instead of DNS; TLS SNI and the Host header still use baseUrl's host. */
  connectTo?: ConnectTo | undefined;
  /** PEM(s) to trust for https. When given they REPLACE the default trust store. Default: system trust. */
  ca?: string | string[] | undefined;
  username: string;
  password: string;
  /**
   * HTTP Basic credentials in front of the hub (split auth). Sent only to the hub's pages,
   * `<base>hub/` minus `<base>hub/api/`: the API calls, `<base>user/…` and the kernel websocket go
   * without them, so a passing probe proves those need the hub's cookie alone. Default: none.
   */
  basicAuth?: { username: string; password: string } | undefined;
  /**
   * The hub runs with per-user subdomains (c.JupyterHub.subdomain_host): the user's server is at
   * https://<user>.<baseUrl's host>/<path>user/<user>/, reached through connectTo too. Default false.
   */
  userSubdomains?: boolean | undefined;
  /** Code to run in the kernel. Default "print(6*7)". */
  code?: string | undefined;
  /** Text the kernel's output must contain. Default "42". */
  expect?: string | undefined;
  /** Kernel spec name; default: the user server's default kernel. */
  kernelName?: string | undefined;
  /** Overall bound for the probe (cleanup gets a little extra). Default 120000. */
  timeoutMs?: number | undefined;
  /** Bound for a single ordinary HTTP request. Default 20000. */
  requestTimeoutMs?: number | undefined;
  /**
   * Fail when the spawn progress events (several of them, over a spawn of > 1 s) all arrive at once
   * at the end: a proxy buffering the event stream (nginx without `proxy_buffering off`). Default false.
   */
  requireStreamedProgress?: boolean | undefined;
  /** Stop the user's server at the end (and on failure) so that a later probe starts clean. Default true. */
  stopServer?: boolean | undefined;
  log?: ((line: string) => void) | undefined;
}

export interface ProbeStep {
  name: string;
  ms: number;
  status?: number | undefined;
  detail?: string | undefined;
}

export interface HubProbeResult {
  ok: true;
  /** Everything the kernel printed / returned for our execute_request. */
  output: string;
  steps: ProbeStep[];
  kernelId: string;
  totalMs: number;
  /** How the spawn progress event stream arrived (undefined when the stream was not usable). */
  spawnProgress?: SpawnProgressInfo | undefined;
}

export interface SpawnProgressInfo {
  events: number;
  firstEventMs: number;
  readyMs: number;
  /** true: events arrived spread over the spawn; false: all in one burst at the end; undefined: cannot tell (< 2 events or spawn < 1 s). */
  streamed: boolean | undefined;
}

export class HubProbeError extends Error {
  readonly step: string;
  readonly status?: number | undefined;
  readonly url?: string | undefined;
  readonly bodyExcerpt?: string | undefined;
  /** Steps completed (and the failing one) up to the failure, filled in by probeHubKernel. */
  steps: ProbeStep[] = [];
  constructor(step: string, reason: string, extra: { status?: number | undefined; url?: string | undefined; method?: string | undefined; body?: string | undefined } = {}) {
    const where = extra.url ? ` (${extra.method ?? "GET"} ${extra.url})` : "";
    const st = extra.status !== undefined ? `HTTP ${extra.status}: ` : "";
    const body = extra.body ? ` -- response: ${extra.body}` : "";
    super(`hub probe failed at step "${step}"${where}: ${st}${reason}${body}`);
    this.name = "HubProbeError";
    this.step = step;
    this.status = extra.status;
    this.url = extra.url;
    this.bodyExcerpt = extra.body;
  }
}

export interface TlsInfo {
  protocol: string | null;
  authorized: boolean;
  subject?: string | undefined;
  issuer?: string | undefined;
  subjectAltName?: string | undefined;
  validTo?: string | undefined;
  fingerprint256?: string | undefined;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** URL of the final response (after redirects, if followed). */
  url: string;
  redirects: { url: string; status: number; location: string }[];
  tls?: TlsInfo | undefined;
  ms: number;
}

export interface HttpRequestOptions {
  method?: string | undefined;
  headers?: Record<string, string> | undefined;
  body?: string | Buffer | undefined;
  connectTo?: ConnectTo | undefined;
  ca?: string | string[] | undefined;
  /** false (default): return the 3xx as is. true: follow up to 10. A number: follow up to that many. */
  followRedirects?: boolean | number | undefined;
  /** Only follow redirects that stay on the first URL's origin (scheme, host, port). Default false for httpsGet. */
  sameOriginRedirectsOnly?: boolean | undefined;
  /** Per request (each hop). Default 20000. */
  timeoutMs?: number | undefined;
  /** Bodies larger than this fail the request. Default 8 MiB. */
  maxBodyBytes?: number | undefined;
  /** Cookie jar to send from and store into (path-aware). */
  jar?: CookieJar | undefined;
}

// ---------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------

const USER_AGENT = "jupyterhub-edge-probe/1 (node)";
const DEFAULT_REQUEST_TIMEOUT = 20_000;
const DEFAULT_MAX_BODY = 8 * 1024 * 1024;
const MAX_REDIRECTS = 10;

function toCaList(ca: string | string[] | undefined): string[] | undefined {
  if (ca === undefined) return undefined;
  const list = Array.isArray(ca) ? ca : [ca];
  return list.length ? list : undefined;
}

/** First value of a response header (arrays joined with ", " except set-cookie). */
export function headerValue(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(", ") : String(v);
}

/** A short, readable excerpt of a response body for error messages. */
export function bodyExcerpt(body: string, contentType?: string, max = 300): string {
  let text = body;
  if (/json/i.test(contentType ?? "") || /^\s*[{[]/.test(body)) {
    try {
      const j = JSON.parse(body) as Record<string, unknown>;
      if (j && typeof j === "object" && typeof j.message === "string") text = `${j.message}`;
    } catch {
      /* keep raw */
    }
  } else if (/html/i.test(contentType ?? "") || /<html|<!doctype/i.test(body)) {
    text = body
      .replace(/<script[\s\S]*?<\/script>/gi, " ")
      .replace(/<style[\s\S]*?<\/style>/gi, " ")
      .replace(/<[^>]+>/g, " ")
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&amp;/g, "&");
  }
  text = text.replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

function htmlUnescape(s: string): string {
  return s
    .replace(/&amp;/g, "&")
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">");
}

function bareHost(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

function defaultPort(protocol: string): number {
  return protocol === "https:" || protocol === "wss:" ? 443 : 80;
}

function urlPort(u: URL): number {
  return u.port ? Number(u.port) : defaultPort(u.protocol);
}

interface DialTarget {
  host: string;
  port: number;
  /** SNI name (undefined for IP literals). */
  servername?: string | undefined;
}

interface ConnCtx {
  connectTo?: ConnectTo | undefined;
  /** connectTo applies to URLs with this hostname; its port override to this port. */
  anchorHost: string;
  anchorPort: number;
  ca?: string[] | undefined;
}

function dialTarget(url: URL, conn: ConnCtx): DialTarget {
  const host = bareHost(url.hostname);
  const port = urlPort(url);
  const servername = net.isIP(host) ? undefined : host;
  const ct = conn.connectTo;
  if (ct && (host.toLowerCase() === conn.anchorHost.toLowerCase() || (ct.subdomainsOf !== undefined && inDomain(host, ct.subdomainsOf)))) {
    const dialPort = ct.port !== undefined && port === conn.anchorPort ? ct.port : port;
    return { host: bareHost(ct.host), port: dialPort, servername };
  }
  return { host, port, servername };
}

function connFor(url: URL, connectTo: ConnectTo | undefined, ca: string | string[] | undefined): ConnCtx {
  return { connectTo, anchorHost: bareHost(url.hostname), anchorPort: urlPort(url), ca: toCaList(ca) };
}

class Deadline {
  private readonly end: number;
  constructor(readonly totalMs: number) {
    this.end = Date.now() + totalMs;
  }
  remaining(): number {
    return this.end - Date.now();
  }
  /** A time budget for one operation: at most `cap`, never past the deadline. Throws if already expired. */
  budget(cap: number, what: string): number {
    const r = this.remaining();
    if (r <= 0) throw new Error(`overall probe timeout (${this.totalMs} ms) reached before ${what}`);
    return Math.max(1, Math.min(cap, r));
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Cookie jar (RFC 6265 subset: host-only/domain, path matching, expiry, secure)
// ---------------------------------------------------------------------------

interface StoredCookie {
  name: string;
  value: string;
  domain: string;
  hostOnly: boolean;
  path: string;
  secure: boolean;
  expiresAt?: number | undefined;
  created: number;
}

function defaultCookiePath(url: URL): string {
  const p = url.pathname;
  if (!p.startsWith("/")) return "/";
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath.charAt(cookiePath.length) === "/";
}

function domainMatches(host: string, domain: string): boolean {
  if (host === domain) return true;
  return !net.isIP(host) && host.endsWith(`.${domain}`);
}

function isSecureScheme(u: URL): boolean {
  return u.protocol === "https:" || u.protocol === "wss:";
}

export class CookieJar {
  private cookies: StoredCookie[] = [];
  private counter = 0;

  /** Store the Set-Cookie headers of a response to `url`. */
  store(url: URL, setCookie: string | string[] | undefined): void {
    if (!setCookie) return;
    for (const line of Array.isArray(setCookie) ? setCookie : [setCookie]) this.storeOne(url, line);
  }

  private storeOne(url: URL, line: string): void {
    const parts = line.split(";");
    const nv = parts.shift() ?? "";
    const eq = nv.indexOf("=");
    if (eq <= 0) return;
    const name = nv.slice(0, eq).trim();
    let value = nv.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    const host = bareHost(url.hostname).toLowerCase();
    let domain = host;
    let hostOnly = true;
    let path = defaultCookiePath(url);
    let secure = false;
    let expiresAt: number | undefined;
    let maxAgeSeen = false;
    for (const attr of parts) {
      const i = attr.indexOf("=");
      const k = (i < 0 ? attr : attr.slice(0, i)).trim().toLowerCase();
      const v = i < 0 ? "" : attr.slice(i + 1).trim();
      if (k === "path" && v.startsWith("/")) path = v;
      else if (k === "domain" && v) {
        const d = v.replace(/^\./, "").toLowerCase();
        if (!domainMatches(host, d)) return; // cookie for a foreign domain: reject like a browser
        domain = d;
        hostOnly = false;
      } else if (k === "secure") secure = true;
      else if (k === "max-age" && /^-?\d+$/.test(v)) {
        maxAgeSeen = true;
        const n = Number(v);
        expiresAt = n <= 0 ? 0 : Date.now() + n * 1000;
      } else if (k === "expires" && !maxAgeSeen) {
        const t = Date.parse(v);
        if (!Number.isNaN(t)) expiresAt = t;
      }
    }
    this.cookies = this.cookies.filter((c) => !(c.name === name && c.domain === domain && c.path === path));
    if (expiresAt !== undefined && expiresAt <= Date.now()) return; // deletion
    this.cookies.push({ name, value, domain, hostOnly, path, secure, expiresAt, created: this.counter++ });
  }

  private matching(url: URL): StoredCookie[] {
    const now = Date.now();
    this.cookies = this.cookies.filter((c) => c.expiresAt === undefined || c.expiresAt > now);
    const host = bareHost(url.hostname).toLowerCase();
    const path = url.pathname || "/";
    return this.cookies
      .filter((c) => (c.hostOnly ? c.domain === host : domainMatches(host, c.domain)))
      .filter((c) => pathMatches(path, c.path))
      .filter((c) => !c.secure || isSecureScheme(url))
      .sort((a, b) => b.path.length - a.path.length || a.created - b.created);
  }

  /** Value for a Cookie request header, or undefined when nothing matches. */
  header(url: URL): string | undefined {
    const list = this.matching(url);
    return list.length ? list.map((c) => `${c.name}=${c.value}`).join("; ") : undefined;
  }

  /** The cookie a browser would send first for `url` (most specific path). */
  get(name: string, url: URL): string | undefined {
    return this.matching(url).find((c) => c.name === name)?.value;
  }

  /** Names and paths only (no values) - safe to log. */
  describe(): string {
    return this.cookies.map((c) => `${c.name}@${c.domain}${c.path}`).join(", ");
  }
}

// ---------------------------------------------------------------------------
// HTTP(S) client on node:http/https with connect-to, custom CA, timeouts
// ---------------------------------------------------------------------------

interface RawRequest {
  method: string;
  headers: Record<string, string>;
  body?: Buffer | undefined;
  conn: ConnCtx;
  timeoutMs: number;
}

function tlsInfoOf(sock: unknown): TlsInfo | undefined {
  if (!(sock instanceof tls.TLSSocket)) return undefined;
  const info: TlsInfo = { protocol: sock.getProtocol(), authorized: sock.authorized };
  try {
    const cert = sock.getPeerCertificate();
    if (cert && Object.keys(cert).length) {
      const fmt = (o: unknown) =>
        o && typeof o === "object"
          ? Object.entries(o as Record<string, unknown>)
              .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : String(v)}`)
              .join(", ")
          : undefined;
      info.subject = fmt(cert.subject);
      info.issuer = fmt(cert.issuer);
      info.subjectAltName = cert.subjectaltname;
      info.validTo = cert.valid_to;
      info.fingerprint256 = cert.fingerprint256;
    }
  } catch {
    /* ignore */
  }
  return info;
}

/**
 * One HTTP exchange. `consume` gets the response once headers arrived; the whole
 * exchange (connect, headers, consume) is bounded by `timeoutMs`. The socket is
 * destroyed afterwards (no keep-alive).
 */
function rawRequest<T>(
  url: URL,
  o: RawRequest,
  consume: (res: http.IncomingMessage, tlsInfo: TlsInfo | undefined) => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const isHttps = url.protocol === "https:";
    if (!isHttps && url.protocol !== "http:") {
      reject(new Error(`unsupported URL scheme ${url.protocol}`));
      return;
    }
    const target = dialTarget(url, o.conn);
    const headers: Record<string, string> = {
      Host: url.host,
      "User-Agent": USER_AGENT,
      "Accept-Encoding": "identity",
      ...o.headers,
    };
    if (o.body !== undefined) headers["Content-Length"] = String(o.body.length);
    const reqOpts: https.RequestOptions = {
      method: o.method,
      host: target.host,
      port: target.port,
      path: `${url.pathname}${url.search}`,
      headers,
      setHost: false,
      agent: false,
    };
    if (isHttps) {
      reqOpts.servername = target.servername;
      reqOpts.rejectUnauthorized = true;
      if (o.conn.ca) reqOpts.ca = o.conn.ca;
    }
    let settled = false;
    let req: http.ClientRequest | undefined;
    const finish = (err: Error | undefined, value?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req?.destroy();
      if (err) reject(err);
      else resolve(value as T);
    };
    const timer = setTimeout(() => finish(new Error(`no complete answer within ${o.timeoutMs} ms`)), o.timeoutMs);
    try {
      req = (isHttps ? https : http).request(reqOpts, (res) => {
        const info = isHttps ? tlsInfoOf(res.socket) : undefined;
        res.on("error", (e) => finish(e));
        consume(res, info).then(
          (v) => finish(undefined, v),
          (e: unknown) => finish(e instanceof Error ? e : new Error(String(e))),
        );
      });
    } catch (e) {
      finish(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    req.on("error", (e) => {
      const dial = `${target.host}:${target.port}`;
      finish(new Error(`${e.message}${e.message.includes(dial) ? "" : ` (dialled ${dial})`}`));
    });
    req.end(o.body);
  });
}

function readBody(res: http.IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        reject(new Error(`response body larger than ${maxBytes} bytes`));
        res.destroy();
        return;
      }
      chunks.push(c);
    });
    res.on("end", () => resolve(Buffer.concat(chunks)));
    res.on("error", reject);
    res.on("aborted", () => reject(new Error("response aborted")));
  });
}

/**
 * An HTTP(S) request with optional redirect following, cookie jar, custom CA
 * and connect-to address. Works for http:// and https:// URLs.
 */
export async function httpRequest(url: string | URL, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
  const start = Date.now();
  const first = new URL(String(url));
  const conn = connFor(first, opts.connectTo, opts.ca);
  const maxHops = opts.followRedirects === true ? MAX_REDIRECTS : typeof opts.followRedirects === "number" ? opts.followRedirects : 0;
  const redirects: HttpResponse["redirects"] = [];
  let current = first;
  let method = (opts.method ?? "GET").toUpperCase();
  let body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body, "utf8");
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const cookie = opts.jar?.header(current);
    if (cookie) headers.Cookie = cookie;
    if (body === undefined) {
      for (const k of Object.keys(headers)) if (k.toLowerCase() === "content-type") delete headers[k];
    }
    const reqUrl = current;
    const r = await rawRequest(
      reqUrl,
      { method, headers, body, conn, timeoutMs: opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT },
      async (res, tlsInfo) => {
        const buf = await readBody(res, opts.maxBodyBytes ?? DEFAULT_MAX_BODY);
        return { status: res.statusCode ?? 0, headers: res.headers, body: buf.toString("utf8"), tlsInfo };
      },
    );
    opts.jar?.store(reqUrl, r.headers["set-cookie"]);
    const location = headerValue(r.headers, "location");
    const isRedirect = [301, 302, 303, 307, 308].includes(r.status) && location !== undefined;
    if (!isRedirect || hop >= maxHops) {
      if (isRedirect && maxHops > 0) {
        throw new Error(`too many redirects (> ${maxHops}); last ${r.status} ${reqUrl.href} -> ${location}`);
      }
      return { status: r.status, headers: r.headers, body: r.body, url: reqUrl.href, redirects, tls: r.tlsInfo, ms: Date.now() - start };
    }
    const next = new URL(location as string, reqUrl);
    redirects.push({ url: reqUrl.href, status: r.status, location: location as string });
    const withinSubdomains = (a: URL, b: URL) =>
      opts.connectTo?.subdomainsOf !== undefined && a.protocol === b.protocol && a.port === b.port && inDomain(a.hostname, opts.connectTo.subdomainsOf) && inDomain(b.hostname, opts.connectTo.subdomainsOf);
    if (opts.sameOriginRedirectsOnly && next.origin !== first.origin && !withinSubdomains(first, next)) {
      throw new Error(
        `redirect left the public origin ${first.origin}: ${r.status} ${reqUrl.href} -> ${location}` +
          ` (a proxy that drops the port or scheme from Host / X-Forwarded-* causes this)`,
      );
    }
    if (r.status === 303 || ((r.status === 301 || r.status === 302) && method !== "GET" && method !== "HEAD")) {
      method = "GET";
      body = undefined;
    }
    current = next;
  }
}

/** GET a URL (http or https) - by default without following redirects. */
export function httpsGet(
  url: string | URL,
  opts: Omit<HttpRequestOptions, "method" | "body"> = {},
): Promise<HttpResponse> {
  return httpRequest(url, { ...opts, method: "GET", followRedirects: opts.followRedirects ?? false });
}

// ---------------------------------------------------------------------------
// The probe
// ---------------------------------------------------------------------------

interface ProgressEvent {
  progress?: number | undefined;
  message?: string | undefined;
  ready?: boolean | undefined;
  failed?: boolean | undefined;
  url?: string | undefined;
}

interface JupyterMessage {
  header: { msg_id: string; msg_type: string; [k: string]: unknown };
  parent_header: { msg_id?: string; [k: string]: unknown };
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  channel?: string | undefined;
  buffers?: unknown[] | undefined;
}

/** Normalised base URL: always ends in "/", no query or fragment. */
export function normaliseBaseUrl(baseUrl: string): URL {
  const u = new URL(baseUrl);
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`baseUrl must be http(s): ${baseUrl}`);
  u.search = "";
  u.hash = "";
  if (!u.pathname.endsWith("/")) u.pathname += "/";
  return u;
}

/**
 * Log in, start the server, open a kernel, run `code` over the kernel websocket
 * and check the output contains `expect`. Throws HubProbeError naming the step.
 */
export async function probeHubKernel(opts: HubProbeOptions): Promise<HubProbeResult> {
  const started = Date.now();
  const base = normaliseBaseUrl(opts.baseUrl);
  const origin = base.origin; // scheme://host[:port], default port omitted like a browser
  const conn = connFor(base, opts.userSubdomains ? { host: base.hostname, ...opts.connectTo, subdomainsOf: bareHost(base.hostname) } : opts.connectTo, opts.ca);
  const deadline = new Deadline(opts.timeoutMs ?? 120_000);
  const reqCap = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT;
  const log = opts.log ?? (() => undefined);
  const jar = new CookieJar();
  const steps: ProbeStep[] = [];
  const code = opts.code ?? "print(6*7)";
  const expect = opts.expect ?? "42";
  const stopServer = opts.stopServer ?? true;
  const user = opts.username;
  const userEnc = encodeURIComponent(user);
  const u = (rel: string) => new URL(rel, base);
  const hubUrl = (rel: string) => u(`hub/${rel}`);
  // With per-user subdomains the user's server has an origin of its own: <user>.<host>.
  const userBase = new URL(base.href);
  if (opts.userSubdomains) userBase.hostname = `${user.toLowerCase()}.${base.hostname}`;
  const userUrl = (rel: string) => new URL(`user/${userEnc}/${rel}`, userBase);
  const userOrigin = userBase.origin;

  let hubXsrf: string | undefined;
  let userXsrf: string | undefined;
  let kernelId: string | undefined;
  let serverRequested = false;
  let spawnProgress: SpawnProgressInfo | undefined;

  /** Time one step; wrap non-probe errors so the message names the step. */
  async function step<T>(name: string, fn: (rec: ProbeStep) => Promise<T>): Promise<T> {
    const rec: ProbeStep = { name, ms: 0 };
    const t0 = Date.now();
    try {
      return await fn(rec);
    } catch (e) {
      if (e instanceof HubProbeError) throw e;
      throw new HubProbeError(name, e instanceof Error ? e.message : String(e));
    } finally {
      rec.ms = Date.now() - t0;
      steps.push(rec);
      log(`[hub-probe] ${name}: ${rec.status !== undefined ? `HTTP ${rec.status} ` : ""}${rec.ms} ms${rec.detail ? ` (${rec.detail})` : ""}`);
    }
  }

  async function send(
    stepName: string,
    method: string,
    url: URL,
    o: { headers?: Record<string, string>; body?: string; follow?: boolean; cap?: number } = {},
  ): Promise<HttpResponse> {
    try {
      return await httpRequest(url, {
        method,
        headers: withBasic(url, o.headers),
        body: o.body,
        jar,
        followRedirects: o.follow ? MAX_REDIRECTS : false,
        sameOriginRedirectsOnly: true,
        timeoutMs: deadline.budget(o.cap ?? reqCap, `${method} ${url.pathname}`),
        connectTo: conn.connectTo,
        ca: conn.ca,
      });
    } catch (e) {
      throw new HubProbeError(stepName, e instanceof Error ? e.message : String(e), { url: url.href, method });
    }
  }

  /** Basic credentials for the hub's pages only (see HubProbeOptions.basicAuth). */
  const hubPages = hubUrl("").pathname;
  const hubApi = hubUrl("api/").pathname;
  function withBasic(url: URL, headers: Record<string, string> | undefined): Record<string, string> | undefined {
    const auth = opts.basicAuth;
    if (!auth || !url.pathname.startsWith(hubPages) || url.pathname.startsWith(hubApi)) return headers;
    const token = Buffer.from(`${auth.username}:${auth.password}`, "utf8").toString("base64");
    return { ...(headers ?? {}), Authorization: `Basic ${token}` };
  }

  function fail(stepName: string, reason: string, r: HttpResponse, method = "GET"): never {
    throw new HubProbeError(stepName, reason, {
      status: r.status,
      url: r.url,
      method,
      body: bodyExcerpt(r.body, headerValue(r.headers, "content-type")),
    });
  }

  /** Headers of a script fetch (what JupyterHub / JupyterLab JS send). */
  const apiHeaders = (xsrf: string | undefined, referer: URL, json = false): Record<string, string> => {
    const h: Record<string, string> = {
      Accept: "application/json",
      "Sec-Fetch-Mode": "cors",
      "Sec-Fetch-Site": "same-origin",
      "Sec-Fetch-Dest": "empty",
      // A script's fetch carries its page's origin: the hub's, or the user's server's (subdomains).
      Origin: referer.origin,
      Referer: referer.href,
    };
    if (xsrf) h["X-XSRFToken"] = xsrf;
    if (json) h["Content-Type"] = "application/json";
    return h;
  };
  const navHeaders = (referer?: URL): Record<string, string> => {
    const h: Record<string, string> = {
      Accept: "text/html,application/xhtml+xml,*/*;q=0.8",
      "Sec-Fetch-Mode": "navigate",
      "Sec-Fetch-Site": referer ? "same-origin" : "none",
      "Sec-Fetch-Dest": "document",
    };
    if (referer) h.Referer = referer.href;
    return h;
  };

  const homeUrl = hubUrl("home");
  const labUrl = userUrl("lab");

  try {
    // 1. login page: _xsrf cookie + form
    const loginUrl = hubUrl("login");
    const form = await step("login-page", async (rec) => {
      const r = await send("login-page", "GET", loginUrl, { headers: navHeaders() });
      rec.status = r.status;
      if (r.status !== 200) fail("login-page", "expected 200 for the login page", r);
      const hidden = /<input[^>]*name=["']_xsrf["'][^>]*>/i.exec(r.body)?.[0];
      const formXsrf = hidden ? /value=["']([^"']*)["']/i.exec(hidden)?.[1] : undefined;
      const xsrf = formXsrf !== undefined ? htmlUnescape(formXsrf) : jar.get("_xsrf", loginUrl);
      if (!xsrf) fail("login-page", "no _xsrf in the login form nor in a cookie for hub/", r);
      const formTag = /<form[^>]*action=["']([^"']*)["'][^>]*>/i.exec(r.body);
      const action = formTag?.[1] !== undefined ? new URL(htmlUnescape(formTag[1]), loginUrl) : loginUrl;
      if (action.origin !== origin) {
        fail("login-page", `login form posts to another origin (${action.origin}, expected ${origin}) - proxy Host/port problem?`, r);
      }
      rec.detail = `form -> ${action.pathname}${action.search}`;
      return { xsrf, action };
    });

    // 2. POST the login form (do not follow: the default next URL may spawn)
    await step("login", async (rec) => {
      const body = new URLSearchParams({ _xsrf: form.xsrf, username: user, password: opts.password }).toString();
      const r = await send("login", "POST", form.action, {
        headers: {
          ...navHeaders(loginUrl),
          "Content-Type": "application/x-www-form-urlencoded",
          Origin: origin,
        },
        body,
      });
      rec.status = r.status;
      if (r.status !== 302 && r.status !== 303) {
        const loginError = /class=["'][^"']*login_error[^"']*["'][^>]*>([\s\S]*?)</i.exec(r.body)?.[1]?.trim();
        if (loginError) {
          throw new HubProbeError("login", `login rejected: ${htmlUnescape(loginError)}`, { status: r.status, url: form.action.href, method: "POST" });
        }
        fail("login", r.status === 403 ? "login rejected (wrong user/password, user not allowed, or _xsrf mismatch)" : "expected a redirect after login", r, "POST");
      }
      const loc = headerValue(r.headers, "location") ?? "";
      if (new URL(loc, form.action).pathname === loginUrl.pathname) {
        fail("login", `login redirected back to the login page (${loc})`, r, "POST");
      }
      rec.detail = `-> ${loc}`;
    });

    // 3. hub home: the hub's _xsrf is tied to the session; navigation mints a fresh one
    await step("hub-home", async (rec) => {
      const r = await send("hub-home", "GET", homeUrl, { headers: navHeaders(loginUrl) });
      rec.status = r.status;
      if (r.status !== 200) fail("hub-home", "expected 200 for hub/home after login (session cookie not accepted?)", r);
      const fromPage = /xsrf_token\s*:\s*"([^"]+)"/.exec(r.body)?.[1];
      hubXsrf = jar.get("_xsrf", hubUrl("api/")) ?? (fromPage ? htmlUnescape(fromPage) : undefined);
      if (!hubXsrf) fail("hub-home", "no _xsrf cookie or token after hub/home", r);
    });

    // 4. start the server
    const serverApi = hubUrl(`api/users/${userEnc}/server`);
    await step("start-server", async (rec) => {
      const r = await send("start-server", "POST", serverApi, { headers: apiHeaders(hubXsrf, homeUrl, true), body: "{}" });
      rec.status = r.status;
      serverRequested = true;
      if (r.status === 201 || r.status === 202) {
        rec.detail = r.status === 201 ? "started" : "pending";
        return;
      }
      if (r.status === 400 && /already running/i.test(r.body)) {
        rec.detail = "already running";
        return;
      }
      if (r.status === 400 && /pending/i.test(r.body)) {
        rec.detail = "a spawn is already pending";
        return;
      }
      fail("start-server", "could not start the server", r, "POST");
    });

    // 5. progress event stream until ready
    await step("spawn-progress", async (rec) => {
      const progressUrl = hubUrl(`api/users/${userEnc}/server/progress`);
      const res = await followProgress(progressUrl, rec);
      if (res === "ready") return;
      // stream unavailable or ended without a verdict: poll the user model (bounded)
      for (let i = 0; i < 120; i++) {
        const r = await send("spawn-progress", "GET", hubUrl(`api/users/${userEnc}`), { headers: apiHeaders(hubXsrf, homeUrl) });
        if (r.status !== 200) fail("spawn-progress", "could not read the user model", r);
        const model = JSON.parse(r.body) as { servers?: Record<string, { ready?: boolean; pending?: string | null }> };
        const srv = model.servers?.[""];
        if (srv?.ready) {
          rec.detail = `${rec.detail ?? ""} ready after ${i + 1} poll(s)`.trim();
          return;
        }
        if (!srv) throw new HubProbeError("spawn-progress", `server is not running nor pending (${res})`);
        await sleep(Math.min(1000, Math.max(1, deadline.remaining() - 1)));
        deadline.budget(1, "polling the spawn");
      }
      throw new HubProbeError("spawn-progress", "server did not become ready after 120 polls");
    });

    // 6. open the user's lab: OAuth redirects set the user server's cookies (path user/<name>/)
    await step("open-lab", async (rec) => {
      const r = await send("open-lab", "GET", labUrl, { headers: navHeaders(homeUrl), follow: true });
      rec.status = r.status;
      const finalPath = new URL(r.url).pathname;
      rec.detail = `${r.redirects.length} redirect(s), landed on ${finalPath}`;
      if (r.status !== 200) fail("open-lab", `expected 200 after following ${r.redirects.length} redirect(s)`, r);
      if (!finalPath.startsWith(userUrl("").pathname)) {
        fail("open-lab", `ended outside the user's server at ${finalPath} (server not running, or OAuth went wrong)`, r);
      }
      userXsrf = jar.get("_xsrf", userUrl("api/kernels"));
      if (!userXsrf) fail("open-lab", `no _xsrf cookie for ${userUrl("").pathname} (cookies: ${jar.describe()})`, r);
    });

    // 7. create a kernel
    const kernelsApi = userUrl("api/kernels");
    kernelId = await step("create-kernel", async (rec) => {
      const body = JSON.stringify(opts.kernelName ? { name: opts.kernelName } : {});
      const r = await send("create-kernel", "POST", kernelsApi, { headers: apiHeaders(userXsrf, labUrl, true), body });
      rec.status = r.status;
      if (r.status === 404) {
        // Jupyter Server answers 404 to API calls whose Origin does not match the Host it sees.
        // Tell that apart from a real 404 by asking again without an Origin header.
        const noOrigin = apiHeaders(userXsrf, labUrl);
        delete noOrigin.Origin;
        const again = await send("create-kernel", "GET", kernelsApi, { headers: noOrigin }).catch(() => undefined);
        if (again?.status === 200) {
          fail(
            "create-kernel",
            `Jupyter Server refused the API call because Origin ${origin} does not match the Host header it received` +
              " -- the proxy must pass the public Host including a non-default port (nginx: proxy_set_header Host $http_host)",
            r,
            "POST",
          );
        }
      }
      if (r.status !== 201 && r.status !== 200) fail("create-kernel", "could not create a kernel", r, "POST");
      const k = JSON.parse(r.body) as { id?: string; name?: string };
      if (!k.id) fail("create-kernel", "no kernel id in the answer", r, "POST");
      rec.detail = `${k.name ?? "?"} ${k.id}`;
      return k.id;
    });

    // 8. websocket + execute_request
    const output = await step("kernel-websocket", async (rec) => {
      const wsUrl = userUrl(`api/kernels/${kernelId}/channels`);
      wsUrl.protocol = base.protocol === "https:" ? "wss:" : "ws:";
      wsUrl.searchParams.set("session_id", randomUUID());
      return runOnKernel(wsUrl, rec);
    });

    await step("check-output", async (rec) => {
      rec.detail = JSON.stringify(output.length > 200 ? `${output.slice(0, 200)}...` : output);
      if (!output.includes(expect)) {
        throw new HubProbeError("check-output", `kernel output does not contain ${JSON.stringify(expect)}: got ${rec.detail}`);
      }
    });

    // 9. clean up: delete kernel, stop server
    await step("delete-kernel", async (rec) => {
      const r = await send("delete-kernel", "DELETE", userUrl(`api/kernels/${kernelId}`), { headers: apiHeaders(userXsrf, labUrl) });
      rec.status = r.status;
      if (r.status !== 204 && r.status !== 200) fail("delete-kernel", "could not delete the kernel", r, "DELETE");
    });
    const id = kernelId;
    kernelId = undefined;

    if (stopServer) {
      await step("stop-server", (rec) => stopUserServer(rec));
      serverRequested = false;
    }

    return { ok: true, output, steps, kernelId: id, totalMs: Date.now() - started, spawnProgress };
  } catch (e) {
    const err = e instanceof HubProbeError ? e : new HubProbeError("probe", e instanceof Error ? e.message : String(e));
    // best-effort cleanup with its own small budget; never masks the original error
    await cleanupAfterFailure().catch(() => undefined);
    err.steps = steps;
    throw err;
  }

  // --- helpers that need the probe's state -------------------------------

  async function stopUserServer(rec: ProbeStep): Promise<void> {
    const serverApi = hubUrl(`api/users/${userEnc}/server`);
    const r = await send("stop-server", "DELETE", serverApi, { headers: apiHeaders(hubXsrf, homeUrl) });
    rec.status = r.status;
    if (r.status === 204) {
      rec.detail = "stopped";
      return;
    }
    if (r.status !== 202) fail("stop-server", "could not stop the server", r, "DELETE");
    for (let i = 0; i < 60; i++) {
      await sleep(Math.min(500, Math.max(1, deadline.remaining())));
      const m = await send("stop-server", "GET", hubUrl(`api/users/${userEnc}`), { headers: apiHeaders(hubXsrf, homeUrl) });
      if (m.status !== 200) fail("stop-server", "could not read the user model", m);
      const model = JSON.parse(m.body) as { servers?: Record<string, unknown> };
      if (!model.servers || !model.servers[""]) {
        rec.detail = `stopped after ${i + 1} poll(s)`;
        return;
      }
    }
    throw new HubProbeError("stop-server", "server still stopping after 60 polls");
  }

  async function cleanupAfterFailure(): Promise<void> {
    const grace = new Deadline(15_000);
    const quick = async (method: string, url: URL, xsrf: string | undefined, referer: URL) => {
      try {
        const r = await httpRequest(url, {
          method,
          headers: apiHeaders(xsrf, referer),
          jar,
          timeoutMs: grace.budget(5_000, "cleanup"),
          connectTo: conn.connectTo,
          ca: conn.ca,
        });
        log(`[hub-probe] cleanup ${method} ${url.pathname}: HTTP ${r.status}`);
      } catch (e) {
        log(`[hub-probe] cleanup ${method} ${url.pathname} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    if (kernelId && userXsrf) await quick("DELETE", userUrl(`api/kernels/${kernelId}`), userXsrf, labUrl);
    if (stopServer && serverRequested && hubXsrf) await quick("DELETE", hubUrl(`api/users/${userEnc}/server`), hubXsrf, homeUrl);
  }

  /** Follow the spawn progress event stream. Returns "ready", or a reason to fall back to polling. */
  async function followProgress(url: URL, rec: ProbeStep): Promise<"ready" | string> {
    const t0 = Date.now();
    const headers: Record<string, string> = { ...apiHeaders(hubXsrf, homeUrl), Accept: "text/event-stream", "Cache-Control": "no-cache" };
    const cookie = jar.header(url);
    if (cookie) headers.Cookie = cookie;
    const budget = deadline.budget(Math.max(reqCap, 90_000), "the spawn progress stream");
    let events = 0;
    let firstEventMs: number | undefined;
    let lastEventMs = 0;
    let lastMessage = "";
    try {
      return await rawRequest(url, { method: "GET", headers, conn, timeoutMs: budget }, (res) =>
        new Promise<string>((resolve, reject) => {
          rec.status = res.statusCode;
          if (res.statusCode !== 200) {
            readBody(res, 64 * 1024).then(
              (b) => resolve(`progress stream answered HTTP ${res.statusCode}: ${bodyExcerpt(b.toString("utf8"), headerValue(res.headers, "content-type"))}`),
              () => resolve(`progress stream answered HTTP ${res.statusCode}`),
            );
            return;
          }
          let buf = "";
          let bytes = 0;
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            bytes += chunk.length;
            if (bytes > 4 * 1024 * 1024) {
              reject(new Error("progress stream exceeded 4 MiB"));
              return;
            }
            buf += chunk.replace(/\r\n?/g, "\n");
            let sep: number;
            while ((sep = buf.indexOf("\n\n")) >= 0) {
              const block = buf.slice(0, sep);
              buf = buf.slice(sep + 2);
              const data = block
                .split("\n")
                .filter((l) => l.startsWith("data:"))
                .map((l) => l.slice(5).replace(/^ /, ""))
                .join("\n");
              if (!data) continue;
              events++;
              if (firstEventMs === undefined) firstEventMs = Date.now() - t0;
              lastEventMs = Date.now() - t0;
              if (events > 1000) {
                reject(new Error("more than 1000 progress events without ready"));
                return;
              }
              let ev: ProgressEvent;
              try {
                ev = JSON.parse(data) as ProgressEvent;
              } catch {
                continue;
              }
              if (ev.message) {
                lastMessage = ev.message;
                log(`[hub-probe]   progress ${ev.progress ?? "?"}%: ${ev.message}`);
              }
              if (ev.failed) {
                reject(new HubProbeError("spawn-progress", `spawn failed: ${ev.message ?? "(no message)"}`, { url: url.href, status: 200 }));
                return;
              }
              if (ev.ready) {
                const first = firstEventMs ?? lastEventMs;
                const streamed = events >= 2 && lastEventMs >= 1000 ? lastEventMs - first >= 300 : undefined;
                spawnProgress = { events, firstEventMs: first, readyMs: lastEventMs, streamed };
                rec.detail = `${events} event(s), first after ${first} ms, ready after ${lastEventMs} ms${streamed === false ? ", ALL AT ONCE (buffered by the proxy?)" : ""}`;
                if (streamed === false && opts.requireStreamedProgress) {
                  reject(
                    new HubProbeError(
                      "spawn-progress",
                      `all ${events} progress events arrived at once after ${lastEventMs} ms: the proxy buffers text/event-stream (nginx: proxy_buffering off)`,
                      { url: url.href, status: 200 },
                    ),
                  );
                  return;
                }
                resolve("ready");
                return;
              }
            }
          });
          res.on("end", () => resolve(`progress stream ended without ready after ${events} event(s) (last: ${lastMessage || "none"})`));
        }),
      );
    } catch (e) {
      if (e instanceof HubProbeError) throw e;
      throw new HubProbeError("spawn-progress", `${e instanceof Error ? e.message : String(e)} (${events} event(s), last: ${lastMessage || "none"})`, {
        url: url.href,
      });
    }
  }

  /** Open the kernel channels websocket, execute `code`, collect output until idle. */
  function runOnKernel(wsUrl: URL, rec: ProbeStep): Promise<string> {
    const t0 = Date.now();
    const budget = deadline.budget(Math.max(reqCap, 60_000), "the kernel websocket");
    const target = dialTarget(wsUrl, conn);
    const isSecure = wsUrl.protocol === "wss:";
    const headers: Record<string, string> = {
      Host: wsUrl.host,
      "User-Agent": USER_AGENT,
      "Sec-Fetch-Mode": "websocket",
      "Sec-Fetch-Site": "same-origin",
      "Sec-Fetch-Dest": "empty",
    };
    if (userXsrf) headers["X-XSRFToken"] = userXsrf;
    const cookie = jar.header(wsUrl);
    if (cookie) headers.Cookie = cookie;
    const createConnection = (): net.Socket =>
      isSecure
        ? tls.connect({ host: target.host, port: target.port, servername: target.servername, ca: conn.ca, rejectUnauthorized: true })
        : net.connect({ host: target.host, port: target.port });
    const session = randomUUID();
    const msgId = randomUUID();
    const execMsg: JupyterMessage = {
      header: {
        msg_id: msgId,
        msg_type: "execute_request",
        username: user,
        session,
        date: new Date().toISOString(),
        version: "5.3",
      },
      parent_header: {},
      metadata: {},
      content: { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true },
      buffers: [],
      channel: "shell",
    };

    return new Promise<string>((resolve, reject) => {
      let settled = false;
      let opened = false;
      let messages = 0;
      let out = "";
      let reply: string | undefined;
      let kernelError: string | undefined;
      let ws: WebSocket | undefined;
      const done = (err: Error | undefined, value?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          if (ws && ws.readyState === WebSocket.OPEN) ws.close(1000);
          else ws?.terminate();
        } catch {
          /* ignore */
        }
        if (err) reject(err);
        else resolve(value as string);
      };
      const wsFail = (reason: string, extra: { status?: number | undefined; body?: string | undefined } = {}) =>
        done(new HubProbeError("kernel-websocket", reason, { ...extra, url: wsUrl.href.replace(/session_id=[^&]*/, "session_id=..."), method: "GET(websocket)" }));
      const timer = setTimeout(
        () =>
          wsFail(
            opened
              ? `no idle status for our execute_request within ${budget} ms (${messages} message(s) seen, output so far ${JSON.stringify(out)})`
              : `websocket did not open within ${budget} ms`,
          ),
        budget,
      );
      try {
        ws = new WebSocket(wsUrl.href, {
          headers,
          origin: userOrigin,
          handshakeTimeout: Math.min(budget, 30_000),
          followRedirects: false,
          maxPayload: 16 * 1024 * 1024,
          createConnection: createConnection as unknown as typeof net.createConnection,
        });
      } catch (e) {
        wsFail(e instanceof Error ? e.message : String(e));
        return;
      }
      ws.on("unexpected-response", (_req, res) => {
        rec.status = res.statusCode;
        const chunks: Buffer[] = [];
        let size = 0;
        const finishBody = () => {
          const b = Buffer.concat(chunks).toString("utf8");
          const hint =
            res.statusCode === 400 && /upgrade/i.test(b)
              ? " -- the proxy did not pass the Upgrade/Connection headers (websocket upgrade not forwarded)"
              : res.statusCode === 403
                ? " -- Origin/Host mismatch (proxy must pass the public Host incl. port) or auth refused"
                : "";
          wsFail(`websocket handshake refused (expected 101)${hint}`, {
            status: res.statusCode,
            body: bodyExcerpt(b, headerValue(res.headers, "content-type")),
          });
        };
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size <= 64 * 1024) chunks.push(c);
        });
        res.on("end", finishBody);
        res.on("error", finishBody);
        setTimeout(finishBody, 2000).unref();
      });
      ws.on("error", (e) => wsFail(`websocket error: ${e.message} (dialled ${target.host}:${target.port})`));
      ws.on("close", (codeNum, reason) => {
        if (!settled) wsFail(`websocket closed before the kernel went idle: code ${codeNum} ${reason.toString() || ""}`.trim());
      });
      ws.on("open", () => {
        opened = true;
        rec.status = 101;
        rec.detail = `open after ${Date.now() - t0} ms`;
        ws?.send(JSON.stringify(execMsg));
      });
      ws.on("message", (data, isBinary) => {
        if (settled) return;
        messages++;
        if (messages > 10_000) {
          wsFail("more than 10000 messages without idle");
          return;
        }
        if (isBinary) return; // binary frames carry buffers; not used for our text output
        let m: JupyterMessage;
        try {
          m = JSON.parse(data.toString()) as JupyterMessage;
        } catch {
          return;
        }
        if (m.parent_header?.msg_id !== msgId) return;
        const type = m.header?.msg_type;
        if (m.channel === "shell" && type === "execute_reply") {
          reply = String(m.content.status);
          return;
        }
        if (m.channel !== "iopub") return;
        if (type === "stream") out += String(m.content.text ?? "");
        else if (type === "execute_result" || type === "display_data") {
          const d = m.content.data as Record<string, unknown> | undefined;
          if (d && typeof d["text/plain"] === "string") out += `${d["text/plain"]}\n`;
        } else if (type === "error") {
          kernelError = `${String(m.content.ename)}: ${String(m.content.evalue)}`;
        } else if (type === "status" && m.content.execution_state === "idle") {
          rec.detail = `${rec.detail ?? ""}, idle after ${Date.now() - t0} ms, ${messages} message(s)${reply ? `, reply ${reply}` : ""}`;
          if (kernelError) wsFail(`the code raised ${kernelError}`);
          else done(undefined, out);
        }
      });
    });
  }
}
