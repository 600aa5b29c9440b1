/**
 * One run of the hub probe: its options, result and error, and the state the phases share (the
 * public URLs, the cookie jar, the xsrf tokens, the kernel, the deadline) with the helpers every
 * phase uses: timing a step, sending a request the way a browser would, failing with the answer.
 */
import { CookieJar } from "./cookie-jar";
import {
  ConnCtx,
  ConnectTo,
  DEFAULT_REQUEST_TIMEOUT,
  HttpResponse,
  MAX_REDIRECTS,
  bareHost,
  bodyExcerpt,
  connFor,
  headerValue,
  httpRequest,
} from "./http-client";

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

export class Deadline {
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

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Normalised base URL: always ends in "/", no query or fragment. */
export function normaliseBaseUrl(baseUrl: string): URL {
  const u = new URL(baseUrl);
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`baseUrl must be http(s): ${baseUrl}`);
  u.search = "";
  u.hash = "";
  if (!u.pathname.endsWith("/")) u.pathname += "/";
  return u;
}


/** A request as one of the probe's steps sends it (see ProbeRun.send). */
export interface ProbeRequest {
  headers?: Record<string, string>;
  body?: string;
  follow?: boolean;
  cap?: number;
}

/** The state of one probe run, shared by its phases (phases.ts). */
export class ProbeRun {
  readonly started = Date.now();
  readonly base: URL;
  /** scheme://host[:port], default port omitted like a browser. */
  readonly origin: string;
  readonly conn: ConnCtx;
  readonly deadline: Deadline;
  readonly reqCap: number;
  readonly log: (line: string) => void;
  readonly jar = new CookieJar();
  readonly steps: ProbeStep[] = [];
  readonly code: string;
  readonly expect: string;
  readonly stopServer: boolean;
  readonly user: string;
  readonly userEnc: string;
  /** With per-user subdomains the user's server has an origin of its own: <user>.<host>. */
  readonly userBase: URL;
  readonly userOrigin: string;
  readonly homeUrl: URL;
  readonly labUrl: URL;
  readonly loginUrl: URL;
  /** Basic credentials go to the hub's pages only (see HubProbeOptions.basicAuth). */
  private readonly hubPages: string;
  private readonly hubApi: string;

  hubXsrf: string | undefined;
  userXsrf: string | undefined;
  kernelId: string | undefined;
  serverRequested = false;
  spawnProgress: SpawnProgressInfo | undefined;

  constructor(readonly opts: HubProbeOptions) {
    this.base = normaliseBaseUrl(opts.baseUrl);
    const base = this.base;
    this.origin = base.origin;
    this.conn = connFor(base, opts.userSubdomains ? { host: base.hostname, ...opts.connectTo, subdomainsOf: bareHost(base.hostname) } : opts.connectTo, opts.ca);
    this.deadline = new Deadline(opts.timeoutMs ?? 120_000);
    this.reqCap = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT;
    this.log = opts.log ?? (() => undefined);
    this.code = opts.code ?? "print(6*7)";
    this.expect = opts.expect ?? "42";
    this.stopServer = opts.stopServer ?? true;
    this.user = opts.username;
    this.userEnc = encodeURIComponent(this.user);
    this.userBase = new URL(base.href);
    if (opts.userSubdomains) this.userBase.hostname = `${this.user.toLowerCase()}.${base.hostname}`;
    this.userOrigin = this.userBase.origin;
    this.hubPages = this.hubUrl("").pathname;
    this.hubApi = this.hubUrl("api/").pathname;
    this.homeUrl = this.hubUrl("home");
    this.labUrl = this.userUrl("lab");
    this.loginUrl = this.hubUrl("login");
  }

  hubUrl(rel: string): URL {
    return new URL(`hub/${rel}`, this.base);
  }

  userUrl(rel: string): URL {
    return new URL(`user/${this.userEnc}/${rel}`, this.userBase);
  }

  /** Time one step; wrap non-probe errors so the message names the step. */
  async step<T>(name: string, fn: (rec: ProbeStep) => Promise<T>): Promise<T> {
    const rec: ProbeStep = { name, ms: 0 };
    const t0 = Date.now();
    try {
      return await fn(rec);
    } catch (e) {
      if (e instanceof HubProbeError) throw e;
      throw new HubProbeError(name, e instanceof Error ? e.message : String(e));
    } finally {
      rec.ms = Date.now() - t0;
      this.steps.push(rec);
      this.log(`[hub-probe] ${name}: ${rec.status !== undefined ? `HTTP ${rec.status} ` : ""}${rec.ms} ms${rec.detail ? ` (${rec.detail})` : ""}`);
    }
  }

  /** One request of step `stepName`, with the jar, within the deadline, kept on the public origin. */
  async send(stepName: string, method: string, url: URL, o: ProbeRequest = {}): Promise<HttpResponse> {
    try {
      return await httpRequest(url, {
        method,
        headers: this.withBasic(url, o.headers),
        body: o.body,
        jar: this.jar,
        followRedirects: o.follow ? MAX_REDIRECTS : false,
        sameOriginRedirectsOnly: true,
        timeoutMs: this.deadline.budget(o.cap ?? this.reqCap, `${method} ${url.pathname}`),
        connectTo: this.conn.connectTo,
        ca: this.conn.ca,
      });
    } catch (e) {
      throw new HubProbeError(stepName, e instanceof Error ? e.message : String(e), { url: url.href, method });
    }
  }

  private withBasic(url: URL, headers: Record<string, string> | undefined): Record<string, string> | undefined {
    const auth = this.opts.basicAuth;
    if (!auth || !url.pathname.startsWith(this.hubPages) || url.pathname.startsWith(this.hubApi)) return headers;
    const token = Buffer.from(`${auth.username}:${auth.password}`, "utf8").toString("base64");
    return { ...(headers ?? {}), Authorization: `Basic ${token}` };
  }

  fail(stepName: string, reason: string, r: HttpResponse, method = "GET"): never {
    throw new HubProbeError(stepName, reason, {
      status: r.status,
      url: r.url,
      method,
      body: bodyExcerpt(r.body, headerValue(r.headers, "content-type")),
    });
  }
}

/** Headers of a script fetch (what JupyterHub / JupyterLab JS send). */
export function apiHeaders(xsrf: string | undefined, referer: URL, json = false): Record<string, string> {
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
}

/** Headers of a page the user navigates to (typed, or followed from `referer`). */
export function navHeaders(referer?: URL): Record<string, string> {
  const h: Record<string, string> = {
    Accept: "text/html,application/xhtml+xml,*/*;q=0.8",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Site": referer ? "same-origin" : "none",
    "Sec-Fetch-Dest": "document",
  };
  if (referer) h.Referer = referer.href;
  return h;
}
