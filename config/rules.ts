/**
 * The value rules of the stack config, each with the specific reason a value breaks it. schema.ts
 * assembles them into the zod schema; messages.ts adds the key and the value to every reason.
 *
 * Values that end up inside proxy config files (domains, paths) are restricted to characters that
 * cannot break out of a directive: that is what keeps rendering a pure, injection-free function.
 * Values that end up as command-line arguments on the host (unit names, e-mail addresses, domains)
 * never start with '-', so no tool can read one as an option.
 */
import { z } from "zod";
import { isIP } from "net";
import { domainToASCII } from "url";
import { HubUpstream, OutsideHubPath } from "../model/site";

const dnsLabel = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const ipv4Canonical = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Why `name` is not a DNS host name (`minLabels`: 2 for public names, 1 for e.g. `localhost`). */
export function hostNameProblem(name: string, minLabels: number): string | undefined {
  const example = "hub.example.org";
  if (name === "") return `must be a DNS name such as ${example}, not empty`;
  if (/[^\x00-\x7f]/.test(name)) {
    const ascii = domainToASCII(name);
    return ascii ? `write the name in its ASCII (punycode) form: ${ascii}` : "must be a DNS name of ASCII letters, digits and hyphens";
  }
  if (name.startsWith("*")) return "must be one DNS name, not a wildcard: list each name users open (a provided wildcard certificate can cover several)";
  if (name.startsWith("-")) {
    const label = name.split(".")[0];
    return `the label "${label}" must not start or end with '-'`;
  }
  const bad = /[^a-z0-9.-]/i.exec(name);
  if (bad) return `must be a DNS name such as ${example} (letters, digits, hyphens; at least ${minLabels === 1 ? "one label" : "two labels"}): '${bad[0]}' is not allowed`;
  if (/^\.*$/.test(name) || name.includes("..") || name.startsWith(".")) return "must not have an empty label ('..' or a leading '.')";
  if (name.endsWith(".")) return `must not end with '.' (write ${name.replace(/\.+$/, "")})`;
  if (name.length > 253) return `is ${name.length} characters long; a DNS name has at most 253`;
  const labels = name.split(".");
  for (const l of labels) {
    if (l.length > 63) return `the label "${l}" is ${l.length} characters long; a DNS label has at most 63`;
    if (!dnsLabel.test(l.toLowerCase())) return `the label "${l}" must not start or end with '-'`;
  }
  if (labels.length < minLabels) return `must be a DNS name such as ${example} (at least two labels)`;
  if (minLabels > 1 && isIP(name)) return "must be a DNS name, not an IP address (virtual hosts and certificates are per name)";
  return undefined;
}

/** A public DNS name (hubDomain, extraSites[].domain), lowercased. */
export const domain = z
  .string("must be a DNS name such as hub.example.org")
  .trim()
  .toLowerCase()
  .superRefine((v, ctx) => {
    const problem = hostNameProblem(v, 2);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

/** The SSH target: an IP address or a host name (a single label like `lab-server` is fine). */
export const hostAddress = z
  .string()
  .trim()
  .min(1, "is required")
  .superRefine((h, ctx) => {
    if (h.startsWith("-")) return ctx.addIssue({ code: "custom", message: "must not start with '-' (ssh would read it as an option)" });
    if (isIP(h.replace(/^\[(.*)\]$/, "$1"))) return;
    if (hostNameProblem(h, 1)) ctx.addIssue({ code: "custom", message: "must be an IPv4/IPv6 address or a host name" });
  });

export interface WholeNumberRule {
  min: number;
  max: number;
  /** " seconds", " MiB"… appended to numbers in messages. */
  unit?: string;
  /** Shown for values out of range instead of "at least/at most" (e.g. "1–65535"). */
  range?: string;
  /** Reasons for specific bounds: below min, above max, negative. */
  belowMin?: string;
  aboveMax?: string;
  negative?: string;
}

/** An integer in a range, with the reason for each way of missing it. */
export function wholeNumber(rule: WholeNumberRule) {
  const unit = rule.unit ?? "";
  const inRange = rule.range ? `must be ${rule.range}` : undefined;
  return z.unknown().transform((v, ctx): number => {
    const fail = (message: string) => {
      ctx.addIssue({ code: "custom", message });
      return z.NEVER;
    };
    if (typeof v !== "number" || !Number.isFinite(v)) return fail(`must be a whole number${rule.range ? ` ${rule.range}` : unit ? ` of${unit}` : ""}`);
    if (!Number.isInteger(v)) return fail(`must be a whole number${rule.range ? ` ${rule.range}` : ""}, not a fraction`);
    if (v < 0 && rule.min >= 0 && rule.negative) return fail(rule.negative);
    if (v < rule.min) return fail(rule.belowMin ?? inRange ?? `must be at least ${rule.min}${unit}`);
    if (v > rule.max) return fail(rule.aboveMax ?? inRange ?? `must be at most ${rule.max}${unit}`);
    return v;
  });
}

export const port = wholeNumber({ min: 1, max: 65535, range: "1–65535" });

export const boolean = z.boolean("must be true or false");

/** Absolute path made of safe characters: no spaces, quotes, semicolons, braces or `..` segments. */
export const safePathPattern = /^\/(?:[A-Za-z0-9._@+-]+\/?)*$/;

export const absolutePath = z
  .string()
  .regex(safePathPattern, "must be an absolute path of letters, digits and . _ @ + - (no spaces or quotes)")
  .refine((p) => !p.split("/").includes(".."), "must not contain '..'");

/**
 * Directories a web root must not be, nor be inside: the proxy would publish them (a root under
 * /etc/jupyterhub-edge would serve the sites' private keys).
 */
const systemDirs = ["/etc", "/root", "/proc", "/sys", "/dev", "/boot", "/run", "/var/lib", "/usr", "/bin", "/sbin", "/lib"];

export function webRootProblem(root: string): string | undefined {
  const clean = root.replace(/\/+$/, "") || "/";
  if (clean === "/") return "must not be / (the proxy would publish the whole file system)";
  const dir = systemDirs.find((d) => clean === d || clean.startsWith(`${d}/`));
  if (dir) return `must not be ${dir} or under it (the proxy would publish system files${dir === "/etc" ? ", such as the sites' private keys" : ""}); use e.g. /var/www/<domain> or /srv/<name>`;
  return undefined;
}

export const webRoot = absolutePath.superRefine((p, ctx) => {
  const problem = webRootProblem(p);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** JupyterHub's own route prefixes under its base URL: a hubPath ending in one collides with them. */
const hubRoutes: Record<string, string> = {
  hub: "JupyterHub serves its own pages under <hubPath>hub/, so the hub would be at /hub/hub/",
  user: "JupyterHub serves single-user servers under <hubPath>user/; a prefix ending in user/ is read as a user's server",
  services: "JupyterHub serves its services under <hubPath>services/; a prefix ending in services/ is read as a service",
};

/** Why a hub sub-path cannot work, if it cannot. */
export function hubPathProblem(p: string): string | undefined {
  if (!p.startsWith("/") || !p.endsWith("/")) return "must start and end with '/' (e.g. / or /jhub/)";
  if (p === "/") return undefined;
  const segments = p.slice(1, -1).split("/");
  if (segments.some((s) => s === "")) return "must not contain an empty segment ('//'): proxies and the hub normalise it differently";
  if (segments.some((s) => s === "." || s === "..")) return "must not contain '.' or '..' segments: browsers resolve them away, so the hub's redirects would loop";
  const bad = segments.join("").match(/[^A-Za-z0-9._~-]/);
  if (bad) return `must start and end with '/' and contain only letters, digits and . _ ~ - (e.g. / or /jhub/): '${bad[0]}' is not allowed`;
  const last = segments[segments.length - 1];
  if (hubRoutes[last]) return `must not end in /${last}/: ${hubRoutes[last]}`;
  return undefined;
}

export const hubPath = z.string().superRefine((p, ctx) => {
  const problem = hubPathProblem(p);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const upstreamForm = "must be http://ADDRESS:PORT (no path; use hubPath) or unix:/absolute/path.sock";

/**
 * The hub's listening address. Parsed with the WHATWG URL parser — the rules browsers and Node
 * follow — so that every spelling of an address is recognised: `0`, `0x0`, `000.0.0.0` are all
 * 0.0.0.0, and `[0::0]` is `[::]`.
 */
export function parseUpstream(value: string): { upstream?: HubUpstream; problem?: string } {
  const unix = /^unix:(.*)$/.exec(value);
  if (unix) {
    const p = unix[1];
    if (!p.startsWith("/")) return { problem: "the socket path must be absolute (unix:/run/jupyterhub/hub.sock)" };
    if (p.split("/").some((s) => s === "..")) return { problem: "the socket path must not contain '..' segments" };
    if (p.endsWith("/")) return { problem: "the socket path must name a file, not a directory" };
    if (!safePathPattern.test(p)) return { problem: "the socket path must be an absolute path of letters, digits and . _ @ + -" };
    return { upstream: { kind: "unix", socketPath: p } };
  }
  const m = /^([a-z][a-z0-9+.-]*):\/\/(\[[^\]]*\]|[^/:]*)(?::(\d*))?(\/?)$/i.exec(value);
  if (!m) return { problem: upstreamForm };
  const [, scheme, host, portText, ] = m;
  if (scheme.toLowerCase() !== "http") return { problem: `${upstreamForm}: the proxy speaks plain HTTP to the hub on this host, not ${scheme}` };
  if (portText === undefined || portText === "") return { problem: `${upstreamForm}: the port is missing` };
  const portNumber = Number(portText);
  if (portNumber < 1 || portNumber > 65535) return { problem: `port ${portText} is not a TCP port (1–65535)` };
  let canonical: string;
  try {
    canonical = new URL(`http://${host}/`).hostname;
  } catch {
    return { problem: `"${host}" is not a host name or an IP address` };
  }
  const wildcard = canonical === "0.0.0.0" || canonical === "[::]" || canonical === "[::ffff:0:0]";
  if (wildcard) {
    return {
      problem:
        "must not listen on every interface: the hub would be reachable on its port from outside, bypassing the proxy, TLS and its access rules; " +
        "use 127.0.0.1 or [::1] (or one specific address of this host)",
    };
  }
  if (host.startsWith("[")) {
    if (!isIP(host.slice(1, -1))) return { problem: `"${host}" is not an IPv6 address` };
    return { upstream: { kind: "tcp", origin: `http://${canonical}:${portNumber}` } };
  }
  // The URL parser reads any all-numeric host as IPv4 (127.1 = 127.0.0.1); nginx and Python do not.
  if (ipv4Canonical.test(canonical) && !ipv4Canonical.test(host)) {
    return { problem: `write the IPv4 address as four decimal numbers (${canonical}), not "${host}"` };
  }
  if (!ipv4Canonical.test(host)) {
    const problem = hostNameProblem(host, 1);
    if (problem) return { problem: `"${host}" is not a host name: ${problem.replace(/^the label "[^"]*" /, "a label ")}` };
  }
  return { upstream: { kind: "tcp", origin: `http://${host.toLowerCase()}:${portNumber}` } };
}

export const hubUpstream = z.string().transform((value, ctx): HubUpstream => {
  const { upstream, problem } = parseUpstream(value);
  if (problem || !upstream) {
    ctx.addIssue({ code: "custom", message: problem ?? upstreamForm });
    return z.NEVER;
  }
  return upstream;
});

export const outsidePath = z.string().transform((value, ctx): OutsideHubPath => {
  if (value === "redirect") return { kind: "redirect" };
  if (value === "notFound") return { kind: "notFound" };
  if (safePathPattern.test(value) && !value.split("/").includes("..")) {
    const problem = webRootProblem(value);
    if (!problem) return { kind: "webRoot", root: value.replace(/\/+$/, "") || "/" };
    ctx.addIssue({ code: "custom", message: problem });
    return z.NEVER;
  }
  ctx.addIssue({ code: "custom", message: "must be redirect, notFound, or an absolute web root path" });
  return z.NEVER;
});

/** A systemd unit name that no tool can take for an option. */
export const unitName = z
  .string()
  .superRefine((v, ctx) => {
    if (v.startsWith("-")) ctx.addIssue({ code: "custom", message: "must not start with '-' (systemctl would read it as an option)" });
    // The same rule as valid_unit in scripts/remote/lib.sh: what passes here passes there.
    else if (!/^[A-Za-z0-9][A-Za-z0-9@._:-]*$/.test(v)) ctx.addIssue({ code: "custom", message: "must be a systemd unit name (a letter or digit, then letters, digits and @ . _ : -)" });
  });

/** An e-mail address certbot is given as an argument. */
export const email = z
  .string()
  .superRefine((v, ctx) => {
    if (v.startsWith("-")) ctx.addIssue({ code: "custom", message: "must not start with '-' (certbot would read it as an option)" });
  })
  .pipe(z.email("must be an email address"));
