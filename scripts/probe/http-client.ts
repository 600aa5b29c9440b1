/**
 * The probe's HTTP client: node:http/https with a dial address of its own (like `curl
 * --connect-to`), a replaceable trust store (the stack's own CA), per-hop timeouts, bounded
 * bodies, redirects kept on the public origin, and a cookie jar. Uses node built-ins only.
 */
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import * as tls from "node:tls";
import { type CookieJar, bareHost } from "./cookie-jar";

export { bareHost };

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
/** Whether `host` is `domain` or a name under it. */
export function inDomain(host: string, domain: string): boolean {
  const h = host.toLowerCase(), d = domain.toLowerCase();
  return h === d || h.endsWith(`.${d}`);
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

export const USER_AGENT = "jupyterhub-edge-probe/1 (node)";
export const DEFAULT_REQUEST_TIMEOUT = 20_000;
const DEFAULT_MAX_BODY = 8 * 1024 * 1024;
export const MAX_REDIRECTS = 10;

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

export function htmlUnescape(s: string): string {
  return s
    .replace(/&amp;/g, "&")
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">");
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

export interface ConnCtx {
  connectTo?: ConnectTo | undefined;
  /** connectTo applies to URLs with this hostname; its port override to this port. */
  anchorHost: string;
  anchorPort: number;
  ca?: string[] | undefined;
}

export function dialTarget(url: URL, conn: ConnCtx): DialTarget {
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

export function connFor(url: URL, connectTo: ConnectTo | undefined, ca: string | string[] | undefined): ConnCtx {
  return { connectTo, anchorHost: bareHost(url.hostname), anchorPort: urlPort(url), ca: toCaList(ca) };
}

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
export function rawRequest<T>(
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

export function readBody(res: http.IncomingMessage, maxBytes: number): Promise<Buffer> {
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

