/**
 * Keys of a hub on the public internet (issue 21): who may scrape `<base>hub/metrics`
 * (`metricsAllowFrom`), and which parent origins may embed the hub in a frame (`embedAllowFrom`).
 *
 *   metricsAllowFrom: [192.0.2.10, "2001:db8:9::/64"]        # default []: refused for everyone
 *   embedAllowFrom: ["https://lms.example.edu", "https://*.instructure.com:8443"]   # default []: off
 */
import { isIP } from "net";
import { z } from "zod";
import { siteNameProblem, tooMany } from "./rules";
import { cidrOf, everyoneProblem } from "./split-auth";

/** Scrapers are a handful of Prometheus servers; more is a sign of a list meant for something else. */
export const MAX_METRICS_SOURCES = 64;
/** Learning platforms a hub is embedded in: a few, each an origin. */
export const MAX_EMBED_ORIGINS = 32;

export const metricsAllowFrom = z
  .array(
    cidrOf("the metrics would be public; list the scrapers' addresses (JupyterHub's own authenticate_prometheus still applies behind the proxy)"),
    "must be a list of addresses or CIDRs of the Prometheus scrapers",
  )
  .max(MAX_METRICS_SOURCES, tooMany(MAX_METRICS_SOURCES, "list the scrapers, or summarise them in wider CIDRs"))
  .superRefine((list, ctx) => {
    const everyone = everyoneProblem(list, "so the metrics would be public; list only the scrapers' networks");
    if (everyone) ctx.addIssue({ code: "custom", message: everyone });
  });

/**
 * Why `value` is not an origin a hub may be framed by, or undefined: `https://` + a DNS name (or a
 * `*.` wildcard over one, as CSP allows) + an optional port, nothing else. A CSP source expression
 * with a path, a bare scheme, `*` or a keyword would admit far more than one learning platform.
 */
export function embedOriginProblem(value: string): string | undefined {
  const example = "an origin such as https://lms.example.edu (https://, the host name, an optional :port; no path)";
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value);
  if (!scheme) return `must be ${example}`;
  if (scheme[1].toLowerCase() !== "https") {
    return `must be an https origin: the hub's cookies are sent into a frame only as SameSite=None; Secure, and a page over ${scheme[1].toLowerCase()} cannot keep a session safe (write https://…)`;
  }
  const rest = value.slice(scheme[0].length);
  const m = /^([^/:?#]*)(?::([^/?#]*))?(.*)$/.exec(rest)!;
  const [, host, port, tail] = m;
  if (tail !== "") {
    const bare = `https://${host}${port !== undefined ? `:${port}` : ""}`;
    return tail === "/" ? `must be an origin without a trailing '/' (write ${bare})` : `must be an origin, without a path, query or fragment: frame-ancestors matches whole origins (write ${bare})`;
  }
  if (host === "*" || host === "") return `must name the platform's host: ${example}`;
  if (isIP(host) || host.startsWith("[")) return `must name the platform by its host name, not an IP address: ${example}`;
  const nameProblem = siteNameProblem(host);
  if (nameProblem) return `the host ${JSON.stringify(host)}: ${nameProblem}`;
  if (host !== host.toLowerCase()) return `must be written in lower case (write https://${host.toLowerCase()}${port !== undefined ? `:${port}` : ""})`;
  if (port !== undefined && !(/^[1-9]\d{0,4}$/.test(port) && Number(port) <= 65535)) return `port ${JSON.stringify(port)} is not a TCP port (1–65535, no leading zeros)`;
  return undefined;
}

export const embedAllowFrom = z
  .array(
    z.string("must be an origin such as https://lms.example.edu").superRefine((v, ctx) => {
      const problem = embedOriginProblem(v);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
    "must be a list of origins such as https://lms.example.edu",
  )
  .max(MAX_EMBED_ORIGINS, tooMany(MAX_EMBED_ORIGINS, "one per learning platform"))
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((o, i) => {
      if (seen.has(o)) ctx.addIssue({ code: "custom", path: [i], message: `${o} is listed twice` });
      seen.add(o);
    });
  });

/**
 * Why a fleet entry may not serve `domain`, which `first` (an earlier entry) serves already. One name
 * belongs to one server; when both serve a hub there, the reason users would feel is the cookies:
 * browsers scope cookies by host name and path, never by port (RFC 6265), so two hubs under one name
 * with the same base URL, or one inside the other's, log each other's users out (JupyterHub #4512).
 */
export function sharedDomainProblem(
  domain: string,
  first: { where: string; hubPath?: string },
  here: { hubPath?: string; nameFor: (domain: string) => string },
): string {
  if (first.hubPath !== undefined && here.hubPath !== undefined) {
    const [a, b] = [first.hubPath, here.hubPath];
    const overlap = a === b ? `the same base URL (${a})` : `base URLs one inside the other (${a} and ${b})`;
    return `${domain} is already the hubDomain of ${first.where}: two hubs under one host name with ${overlap} share their cookies whatever their ports, so signing in to one signs users out of the other (JupyterHub #4512); give this hub a hubDomain of its own, such as ${here.nameFor(domain)}`;
  }
  if (first.hubPath !== undefined) {
    return `${domain} is already the hubDomain of ${first.where} (each domain belongs to one server); serve this site under another name`;
  }
  if (here.hubPath !== undefined) {
    return `${domain} is already an extra site of ${first.where} (each domain belongs to one server), and a hub there would share its cookies with whatever else answers under that name, whatever the port (JupyterHub #4512); give this hub a hubDomain of its own, such as ${here.nameFor(domain)}, or remove the extra site from ${first.where}`;
  }
  return `${domain} is already served by ${first.where} (each domain belongs to one server)`;
}
