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
import { hostPaths } from "../model/platforms";

/**
 * Length bounds. Every string key has one, so that no value (a file pasted into a key, a runaway
 * script) reaches a regex, a message or a host unbounded. `what` names the kind of value.
 */
export const maxLengths = {
  /** PATH_MAX is 4096 bytes with the terminating NUL; NAME_MAX 255 per segment. */
  path: 4095,
  pathSegment: 255,
  /** A DNS name (RFC 1035); also `host`. */
  domain: 253,
  /** sun_path is 108 bytes with the NUL. */
  unixSocketPath: 107,
  /** UNIT_NAME_MAX is 256 with the NUL. */
  unitName: 255,
  /** useradd's limit (LOGIN_NAME_MAX - 1 on Linux is 255, but shadow-utils allows 32). */
  unixUser: 32,
  /** RFC 5321 path limit. */
  email: 254,
  url: 2048,
  hubPath: 256,
  /** A CA bundle read from acmeCaBundleFile (the whole system bundle is about 220 KB). */
  pemFile: 1024 * 1024,
} as const;

/** The `max` parameter of a zod string: "is N characters long; <what> has at most M". */
export function tooLong(what: string, max: number) {
  return { error: (issue: { input?: unknown }) => `is ${String(issue.input ?? "").length} characters long; ${what} has at most ${max}` };
}

/** The `max` parameter of a zod array: "has N entries; at most M (<why>)". */
export function tooMany(max: number, why: string) {
  return { error: (issue: { input?: unknown }) => `has ${Array.isArray(issue.input) ? issue.input.length : "too many"} entries; at most ${max} (${why})` };
}

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

/** A public DNS name (hubDomain), lowercased. */
export const domain = z
  .string("must be a DNS name such as hub.example.org")
  .trim()
  .toLowerCase()
  .superRefine((v, ctx) => {
    const problem = v.startsWith("*")
      ? "must be one DNS name, not a wildcard: for user servers at <user>.<hubDomain>, set hubSubdomains true"
      : hostNameProblem(v, 2);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

/**
 * Why `name` is not a site's name: a DNS name, or a wildcard `*.` over one of at least two labels
 * (`*.example.org`; a certificate's wildcard covers exactly one label, so nothing but a leading `*.`).
 */
export function siteNameProblem(name: string): string | undefined {
  if (!name.startsWith("*")) return hostNameProblem(name, 2);
  if (!name.startsWith("*.")) return "a wildcard is written *.<domain>, e.g. *.example.org (one leading '*' label)";
  const rest = hostNameProblem(name.slice(2), 2);
  if (rest?.startsWith("must be one DNS name, not a wildcard")) return "a wildcard has one '*', as its first label only";
  return rest ? `after '*.': ${rest}` : undefined;
}

/** An extra site's name (extraSites[].domain), lowercased: a DNS name or a wildcard `*.example.org`. */
export const siteDomain = z
  .string("must be a DNS name such as www.example.org, or a wildcard such as *.example.org")
  .trim()
  .toLowerCase()
  .superRefine((v, ctx) => {
    const problem = siteNameProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

/** The TSIG algorithms certbot's dns-rfc2136 plugin and BIND/Knot share (HMAC-MD5 is refused). */
export const tsigAlgorithms = ["HMAC-SHA256", "HMAC-SHA384", "HMAC-SHA512"] as const;

/**
 * A TSIG algorithm in any letter case, written back in capitals: certbot before 4.0 validates the
 * name upper-cased but looks it up as written, and a lowercase `hmac-sha512` silently signs with
 * HMAC-MD5 (the server then answers BADKEY).
 */
export const tsigAlgorithm = z
  .string("must be hmac-sha256, hmac-sha384 or hmac-sha512")
  .trim()
  .transform((v, ctx) => {
    const upper = v.toUpperCase().replace(/\.$/, "");
    if ((tsigAlgorithms as readonly string[]).includes(upper)) return upper as (typeof tsigAlgorithms)[number];
    ctx.addIssue({
      code: "custom",
      message: /MD5|SHA1$|SHA224$/.test(upper)
        ? `${v} is too weak for signing DNS updates; use hmac-sha256 (BIND's tsig-keygen default), hmac-sha384 or hmac-sha512`
        : "must be hmac-sha256, hmac-sha384 or hmac-sha512",
    });
    return z.NEVER;
  });

/** A TSIG key's name as DNS servers write it (`certbot-key`, `acme.example.org.`). */
export const tsigKeyName = z
  .string("must be a TSIG key name such as acme-update")
  .trim()
  .max(maxLengths.domain, tooLong("a key name", maxLengths.domain))
  .regex(/^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$/, "must be a TSIG key name such as acme-update (letters, digits, '.', '-', '_'; not starting with '-')");

/** The DNS server certbot sends its updates to: an IP address, as the plugin requires. */
export const dnsServerAddress = z
  .string("must be the DNS server's IP address")
  .trim()
  .superRefine((v, ctx) => {
    if (isIP(v.replace(/^\[(.*)\]$/, "$1"))) return;
    ctx.addIssue({
      code: "custom",
      message: hostNameProblem(v, 1) === undefined
        ? "must be the primary DNS server's IP address: certbot's dns-rfc2136 plugin does not resolve names"
        : "must be an IPv4 or IPv6 address (the primary DNS server's)",
    });
  })
  .transform((v) => v.replace(/^\[(.*)\]$/, "$1"));

/** An External Account Binding key id, as an institutional ACME CA hands it out. */
export const eabKeyId = z
  .string("must be the key id your ACME CA gave you")
  .trim()
  .min(1, "must not be empty")
  .max(256, tooLong("a key id", 256))
  .regex(/^[A-Za-z0-9._~+\/=:-]+$/, "must be the key id your ACME CA gave you (letters, digits and . _ ~ + / = : -; no spaces)")
  .refine((v) => !v.startsWith("-"), "must not start with '-'");

/** The SSH target: an IP address or a host name (a single label like `lab-server` is fine). */
export const hostAddress = z
  .string()
  .trim()
  .min(1, "is required")
  .max(maxLengths.domain, tooLong("a host name", maxLengths.domain))
  .superRefine((h, ctx) => {
    if (h.startsWith("-")) return ctx.addIssue({ code: "custom", message: "must not start with '-' (ssh would read it as an option)" });
    if (isIP(h.replace(/^\[(.*)\]$/, "$1"))) return;
    // ssh resolves with inet_aton: 010.0.0.1 is octal (8.0.0.1), 10.1 is 10.0.0.1. The WHATWG URL
    // parser reads numbers the same way; an all-numeric name it reads as IPv4 must be written so.
    const asIPv4 = ipv4Reading(h);
    if (asIPv4 !== undefined) {
      return ctx.addIssue({
        code: "custom",
        message: `write the IPv4 address as four decimal numbers without leading zeros: ssh would read "${h}" as ${asIPv4}`,
      });
    }
    if (hostNameProblem(h, 1)) ctx.addIssue({ code: "custom", message: "must be an IPv4/IPv6 address or a host name" });
  });

/** The IPv4 address an all-numeric name that is not dotted decimal stands for (`010.0.0.1` → 8.0.0.1). */
export function ipv4Reading(name: string): string | undefined {
  if (!/^[0-9a-fx.]+$/i.test(name) || ipv4Canonical.test(name)) return undefined;
  try {
    const read = new URL(`http://${name}/`).hostname;
    return ipv4Canonical.test(read) ? read : undefined;
  } catch {
    return undefined;
  }
}

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

/**
 * Absolute path made of safe characters: no spaces, quotes, semicolons, braces or `..` segments.
 * Each segment is matched once (no nested quantifier that could split a segment many ways: the
 * earlier `(?:[…]+\/?)*` took seconds on a 30-character segment followed by a space).
 */
export const safePathPattern = /^\/(?:[A-Za-z0-9._@+-]+\/)*(?:[A-Za-z0-9._@+-]+)?$/;

export const absolutePath = z
  .string()
  .max(maxLengths.path, tooLong("a path", maxLengths.path))
  .regex(safePathPattern, "must be an absolute path of letters, digits and . _ @ + - (no spaces or quotes)")
  .refine((p) => !p.split("/").includes(".."), "must not contain '..'")
  .refine((p) => p.split("/").every((seg) => seg.length <= maxLengths.pathSegment), `must not have a path segment longer than ${maxLengths.pathSegment} characters`);

/**
 * System trees a web root must not be, nor be inside, nor hold: the proxy would publish them (a
 * root under /etc/jupyterhub-edge would serve the sites' private keys, /var/log the access logs
 * with their client addresses), and on SELinux hosts the SELinux step relabels a web root
 * recursively as web content.
 */
export const systemTrees = [
  "/etc", "/root", "/proc", "/sys", "/dev", "/boot", "/run", "/tmp", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/snap",
  "/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/mail", "/var/backups", "/var/tmp", "/lost+found",
];
/**
 * Directories that hold other users' or services' data: a web root may be a directory of its own
 * inside them (/srv/www, /opt/landing, /home/alice/public_html), not the whole of them.
 */
const sharedParents = ["/var", "/home", "/srv", "/opt", "/mnt", "/media", "/var/www"];
const webRootHint = "use a directory of its own, such as /var/www/<domain> or /srv/www";

/** Why `root` must not be a web root (proxies publish it; SELinux hosts relabel it), if it must not. */
export function webRootProblem(root: string): string | undefined {
  const clean = root.replace(/\/+$/, "") || "/";
  if (clean === "/") return "must not be / (the proxy would publish the whole file system)";
  const dir = systemTrees.find((d) => clean === d || clean.startsWith(`${d}/`));
  if (dir) return `must not be ${dir} or under it (the proxy would publish system files${dir === "/etc" ? ", such as the sites' private keys" : ""}); ${webRootHint}`;
  const held = systemTrees.find((d) => d.startsWith(`${clean}/`));
  if (held) return `must not be ${clean}: it holds ${held}, which the proxy would publish (and SELinux hosts would relabel as web content); ${webRootHint}`;
  if (sharedParents.includes(clean)) return `must not be ${clean} itself: the proxy would publish every directory in it (and SELinux hosts would relabel them all as web content); ${webRootHint}`;
  if (/^\/home\/[^/]+$/.test(clean)) return `must not be a whole home directory (${clean}): its dotfiles, .ssh and notebooks would be published; use a subdirectory such as ${clean}/public_html`;
  return undefined;
}

/** Why a web root clashes with the hub's config directory (it, or a directory holding it, would be published). */
export function webRootOverHubConfig(root: string, hubConfigPath: string): string | undefined {
  const clean = root.replace(/\/+$/, "") || "/";
  const dir = hubConfigPath.replace(/\/[^/]*$/, "") || "/";
  if (clean === dir || dir.startsWith(`${clean}/`)) {
    return `must not be ${clean === dir ? "" : "a directory holding "}the hub's config directory ${dir} (hubConfigPath): the proxy would publish the hub's config and secrets (cookie secret, database); ${webRootHint}`;
  }
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
  if (p.length > maxLengths.hubPath) return `is ${p.length} characters long; a hub path has at most ${maxLengths.hubPath}`;
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
  if (value.length > maxLengths.url) return { problem: `is ${value.length} characters long; at most ${maxLengths.url}` };
  const unix = /^unix:(.*)$/.exec(value);
  if (unix) {
    const p = unix[1];
    if (!p.startsWith("/")) return { problem: "the socket path must be absolute (unix:/run/jupyterhub/hub.sock)" };
    if (p.split("/").some((s) => s === "..")) return { problem: "the socket path must not contain '..' segments" };
    if (p.endsWith("/")) return { problem: "the socket path must name a file, not a directory" };
    if (!safePathPattern.test(p)) return { problem: "the socket path must be an absolute path of letters, digits and . _ @ + -" };
    const bytes = Buffer.byteLength(p);
    if (bytes > maxLengths.unixSocketPath) return { problem: `the socket path is ${bytes} bytes long; a unix socket path has at most ${maxLengths.unixSocketPath} (sun_path)` };
    return { upstream: { kind: "unix", socketPath: p } };
  }
  // user:password@ before the address: the proxy sends no credentials to the hub. Never echoed.
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(value)) return { problem: `${upstreamForm}: it must not hold credentials (user:password@); the proxy sends none to the hub` };
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
  if (value.length > maxLengths.path) {
    ctx.addIssue({ code: "custom", message: `is ${value.length} characters long; a path has at most ${maxLengths.path}` });
    return z.NEVER;
  }
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
  .max(maxLengths.unitName, tooLong("a systemd unit name", maxLengths.unitName))
  .superRefine((v, ctx) => {
    if (v.startsWith("-")) ctx.addIssue({ code: "custom", message: "must not start with '-' (systemctl would read it as an option)" });
    // The same rule as valid_unit in scripts/remote/lib.sh: what passes here passes there.
    else if (!/^[A-Za-z0-9][A-Za-z0-9@._:-]*$/.test(v)) ctx.addIssue({ code: "custom", message: "must be a systemd unit name (a letter or digit, then letters, digits and @ . _ : -)" });
  });

/** An e-mail address certbot is given as an argument. */
export const email = z
  .string()
  .max(maxLengths.email, tooLong("an e-mail address", maxLengths.email))
  .superRefine((v, ctx) => {
    if (v.startsWith("-")) ctx.addIssue({ code: "custom", message: "must not start with '-' (certbot would read it as an option)" });
  })
  .pipe(z.email("must be an email address"));

/** The units of either proxy: naming one as the hub's service restarts the proxy, never the hub. */
const proxyUnits = ["nginx", "apache2", "httpd", "apache", "lighttpd", "caddy", "traefik", "haproxy"];
/** Units of the system itself (and their templates' instances: getty@tty1, ssh@…). */
const systemUnits =
  /^(?:systemd-.*|ssh|sshd|openssh-server|dbus|dbus-broker|networking|network|networkmanager|network-manager|wpa_supplicant|cron|crond|cronie|anacron|atd|rsyslog|syslog|syslog-ng|udev|polkit|polkitd|getty|serial-getty|autovt|console-getty|container-getty|user|user-runtime-dir|init|emergency|rescue|reboot|poweroff|halt|kexec|shutdown|auditd|chronyd|chrony|ntp|ntpd|ntpsec|firewalld|ufw|nftables|iptables|ip6tables|netfilter-persistent|snapd|unattended-upgrades|apt-daily|apt-daily-upgrade|dnf-makecache|dnf-automatic|packagekit|certbot|certbot-renew|sssd|nscd|nslcd|rpcbind|avahi-daemon|irqbalance|multipathd|lvm2-.*|mdmonitor|smartd|tuned|rngd|qemu-guest-agent|cloud-init.*|cloud-config|cloud-final|getty-static|plymouth.*|kmod.*|ldconfig|local-fs|remote-fs|sysinit|multi-user|graphical|network-online)$/;
const otherUnitTypes = /\.(socket|target|timer|mount|automount|path|slice|scope|swap|device)$/;

/** Why `unit` cannot be the hub's service (the one the managed block's restart applies bind_url to). */
export function hubServiceProblem(unit: string, proxyService?: string): string | undefined {
  const type = otherUnitTypes.exec(unit);
  if (type) return `must be the service unit that runs JupyterHub, not a .${type[1]} unit (the managed block is applied by restarting it)`;
  const name = unit.replace(/\.service$/, "").toLowerCase();
  const base = name.replace(/@.*$/, "");
  if (proxyUnits.includes(base) || base === proxyService) {
    return `is the reverse proxy's unit (${base}), not the hub's: restarting it would never apply bind_url to the hub; set the unit that runs JupyterHub (e.g. jupyterhub)`;
  }
  if (systemUnits.test(base) || systemUnits.test(name)) {
    return `is a system unit (${base}), not the hub's: restarting it would never apply bind_url to the hub (and may cut the server off); set the unit that runs JupyterHub (e.g. jupyterhub)`;
  }
  return undefined;
}

/** Directories whose files the hub's config may be in only in a JupyterHub directory of their own. */
const configTreesNeedingJupyterDir = ["/etc", "/var/lib", "/usr/local/etc", "/usr/local/share"];
/** Trees the hub's config is never in: system programs, kernels, runtime and scratch space, logs. */
const configForbiddenTrees = [
  "/boot", "/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/snap",
  "/var/log", "/var/cache", "/var/spool", "/var/mail", "/var/backups", "/lost+found",
];

/**
 * Why `p` cannot be the hub's config file. The managed block is appended to the file it names, so it
 * must be a Python file (…/jupyterhub_config.py, or a file of a jupyterhub_config.d directory), and
 * not one of the system's own files (/etc/passwd, /etc/ssh/sshd_config, /etc/python3/sitecustomize.py).
 */
export function hubConfigPathProblem(p: string): string | undefined {
  const example = "e.g. /etc/jupyterhub/jupyterhub_config.py";
  if (p.endsWith("/")) return `names a directory; give the hub's config file (${example}): the managed block is appended to the file named here`;
  const file = p.slice(p.lastIndexOf("/") + 1);
  if (!/^[^.].*\.py$/.test(file)) return `must name the hub's Python config file, ending in .py (${example}): the managed block is appended to the file named here`;
  const dirs = p.split("/").slice(1, -1);
  if (p.startsWith(`${hostPaths.configDir}/`) || p.startsWith(`${hostPaths.stateDir}/`)) return `must not be in ${p.startsWith(hostPaths.configDir) ? hostPaths.configDir : hostPaths.stateDir}: that directory is this program's own`;
  const within = (tree: string) => p.startsWith(`${tree}/`);
  const jupyterDir = dirs.some((d) => /jupyter/i.test(d));
  const needing = configTreesNeedingJupyterDir.find(within);
  if (needing && !jupyterDir) {
    return `is under ${needing} but not in a JupyterHub directory (such as /etc/jupyterhub/): the managed block would be appended to a system file; ${example}`;
  }
  const forbidden = configForbiddenTrees.find(within);
  if (forbidden && !needing) return `must not be under ${forbidden} (system files, kernels, runtime or scratch space): the managed block would be appended there; ${example}`;
  return undefined;
}
