/** The probe's cookie jar: what a browser would store and send back (RFC 6265 subset). */
import * as net from "node:net";

/** A URL's host name without IPv6 brackets (`[::1]` → `::1`): what cookies and dialling compare. */
export function bareHost(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

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

