/**
 * Stack config → validated model. All checks live here, expressed as a zod schema, so that bad input
 * fails before anything touches a host, with one line per problem naming the config key.
 *
 * Values that end up inside proxy config files (domains, paths) are restricted to characters that
 * cannot break out of a directive: that is what keeps rendering a pure, injection-free function.
 */
import { z } from "zod";
import { CONFIG_NAMESPACE, ConfigKey, configKeys } from "./keys";
import { ConnectionSpec, HubUpstream, OutsideHubPath, SiteSpec, tlsFilesFor } from "../model/site";
import { PlatformId, platformIds, platforms } from "../model/platforms";

const dnsLabel = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const domainPattern = new RegExp(`^(?=.{1,253}$)${dnsLabel}(?:\\.${dnsLabel})+$`);
const ipv4Pattern = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const ipv6Pattern = /^[0-9a-f:]+(?:%[a-z0-9]+)?$/i;
/** Absolute path made of safe characters: no spaces, quotes, semicolons, braces or `..` segments. */
const safePathPattern = /^\/(?:[A-Za-z0-9._@+-]+\/?)*$/;

const domain = z
  .string()
  .trim()
  .toLowerCase()
  .regex(domainPattern, "must be a DNS name such as hub.example.org (letters, digits, hyphens; at least two labels)");

const absolutePath = z
  .string()
  .regex(safePathPattern, "must be an absolute path of letters, digits and . _ @ + - (no spaces or quotes)")
  .refine((p) => !p.split("/").includes(".."), "must not contain '..'");

const port = z.int("must be a whole number").min(1, "must be 1–65535").max(65535, "must be 1–65535");

const hostAddress = z
  .string()
  .trim()
  .min(1, "is required")
  .refine(
    (h) => ipv4Pattern.test(h) || (h.includes(":") && ipv6Pattern.test(h)) || domainPattern.test(h.toLowerCase()) || /^[a-z0-9-]+$/i.test(h),
    "must be an IPv4/IPv6 address or a host name",
  );

const hubPath = z
  .string()
  .regex(/^\/(?:[A-Za-z0-9._~-]+\/)*$/, "must start and end with '/' and contain only letters, digits and . _ ~ - (e.g. / or /jhub/)");

const hubUpstream = z.string().transform((value, ctx): HubUpstream => {
  const unix = /^unix:(\/.+)$/.exec(value);
  if (unix) {
    if (!safePathPattern.test(unix[1])) ctx.addIssue({ code: "custom", message: "unix socket path must be an absolute path of safe characters" });
    return { kind: "unix", socketPath: unix[1] };
  }
  const tcp = /^http:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/.exec(value);
  if (!tcp || Number(tcp[2]) < 1 || Number(tcp[2]) > 65535) {
    ctx.addIssue({ code: "custom", message: "must be http://ADDRESS:PORT (no path; use hubPath) or unix:/absolute/path.sock" });
    return z.NEVER;
  }
  return { kind: "tcp", origin: `http://${tcp[1]}:${Number(tcp[2])}` };
});

const outsidePath = z.string().transform((value, ctx): OutsideHubPath => {
  if (value === "redirect") return { kind: "redirect" };
  if (value === "notFound") return { kind: "notFound" };
  if (safePathPattern.test(value) && !value.split("/").includes("..")) return { kind: "webRoot", root: value.replace(/\/+$/, "") || "/" };
  ctx.addIssue({ code: "custom", message: "must be redirect, notFound, or an absolute web root path" });
  return z.NEVER;
});

const extraSite = z.strictObject(
  { domain, root: absolutePath.optional() },
  { error: "each entry must be an object {domain, root}" },
);

const authorizedKey = z
  .string()
  .trim()
  .regex(
    /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+( .*)?$/,
    "must be a public key line such as `ssh-ed25519 AAAA…` (see ssh-keyscan or /etc/ssh/ssh_host_ed25519_key.pub)",
  );

function withDefault<T extends z.ZodType>(key: ConfigKey, schema: T) {
  const doc = configKeys[key] as { default?: unknown };
  // prefault: the default is an *input*, so transforms (hubUpstream, hubOutsidePath) apply to it too.
  return schema.prefault(doc.default as never);
}

/** The raw shape: what Pulumi config (or a test) hands in, before defaults and checks. */
export const rawConfigSchema = z
  .strictObject({
    host: hostAddress,
    sshPort: withDefault("sshPort", port),
    sshUser: withDefault("sshUser", z.string().regex(/^[a-z_][a-z0-9_-]*[$]?$/, "must be a valid Unix user name")),
    /** Only whether a secret key was given: its value never enters validation (or error text). */
    sshPrivateKeyGiven: z.boolean().default(false),
    sshPrivateKeyFile: z.string().min(1).optional(),
    hostKey: authorizedKey.optional(),
    proxy: withDefault("proxy", z.enum(["nginx", "apache"], "must be nginx or apache")),
    platform: withDefault("platform", z.enum(platformIds as [PlatformId, ...PlatformId[]], `must be one of ${platformIds.join(", ")}`)),
    hubDomain: domain,
    hubPath: withDefault("hubPath", hubPath),
    hubUpstream: withDefault("hubUpstream", hubUpstream),
    hubOutsidePath: withDefault("hubOutsidePath", outsidePath),
    httpsPort: withDefault("httpsPort", port),
    ipv6: withDefault("ipv6", z.boolean("must be true or false")),
    extraSites: withDefault("extraSites", z.array(extraSite, "must be a list of {domain, root}")),
    certificateMode: withDefault("certificateMode", z.enum(["selfSigned"], "must be selfSigned (acme and provided are not available yet)")),
    tlsProfile: withDefault("tlsProfile", z.enum(["intermediate", "modern"], "must be intermediate or modern")),
    hstsMaxAge: withDefault("hstsMaxAge", z.int("must be a whole number of seconds").min(0).max(2 ** 31 - 1)),
    hstsIncludeSubdomains: withDefault("hstsIncludeSubdomains", z.boolean("must be true or false")),
    maxUploadMb: withDefault("maxUploadMb", z.int("must be a whole number of MiB").min(1, "must be at least 1").max(1024 * 1024)),
    websocketIdleTimeout: withDefault("websocketIdleTimeout", z.int("must be a whole number of seconds").min(60, "must be at least 60 (Jupyter pings every 30 s)").max(7 * 86400)),
    manageHubConfig: withDefault("manageHubConfig", z.boolean("must be true or false")),
    hubConfigPath: withDefault("hubConfigPath", absolutePath),
    hubService: withDefault("hubService", z.string().regex(/^[A-Za-z0-9@._:-]+$/, "must be a systemd unit name")),
  })
  .superRefine((c, ctx) => {
    if (c.sshPrivateKeyGiven === (c.sshPrivateKeyFile !== undefined)) {
      ctx.addIssue({
        code: "custom",
        path: ["sshPrivateKeyFile"],
        message: c.sshPrivateKeyGiven
          ? "set only one of sshPrivateKey and sshPrivateKeyFile"
          : "no SSH key: set sshPrivateKeyFile, or sshPrivateKey with `pulumi config set --secret`",
      });
    }
    const seen = new Map<string, string>([[c.hubDomain, "hubDomain"]]);
    c.extraSites.forEach((s, i) => {
      const first = seen.get(s.domain);
      if (first) ctx.addIssue({ code: "custom", path: ["extraSites", i, "domain"], message: `${s.domain} is already served by ${first}` });
      seen.set(s.domain, `extraSites[${i}]`);
    });
    if (c.httpsPort === 80) ctx.addIssue({ code: "custom", path: ["httpsPort"], message: "must not be 80: port 80 serves the HTTP redirect and ACME challenges" });
    if (c.hubPath === "/" && c.hubOutsidePath.kind === "webRoot") {
      ctx.addIssue({ code: "custom", path: ["hubOutsidePath"], message: "a web root outside the hub needs a hubPath other than /" });
    }
    if (c.hstsMaxAge > 0 && c.hstsMaxAge < 86400) {
      ctx.addIssue({ code: "custom", path: ["hstsMaxAge"], message: "must be 0 (off) or at least 86400; 15552000+ for an SSL Labs A+" });
    }
  });

export type RawConfig = z.input<typeof rawConfigSchema>;

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid stack configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

function keyName(path: PropertyKey[]): string {
  const [head, ...rest] = path;
  const key = head === "sshPrivateKeyGiven" ? "sshPrivateKey" : String(head ?? "(config)");
  const suffix = rest.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
  return `${CONFIG_NAMESPACE}:${key}${suffix}`;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    const where = issue.path.length ? keyName(issue.path) + ": " : "";
    return issue.path.length
      ? `${where}unknown field(s) ${issue.keys.join(", ")}`
      : issue.keys.map((k) => `${CONFIG_NAMESPACE}:${k}: unknown config key`).join("\n");
  }
  if (issue.code === "invalid_type" && (issue as { input?: unknown }).input === undefined) return `${keyName(issue.path)}: is required`;
  return `${keyName(issue.path)}: ${issue.message}`;
}

/** Validates raw config and builds the model. Throws ConfigError listing every problem. */
export function parseConfig(raw: Record<string, unknown>): { site: SiteSpec; connection: ConnectionSpec } {
  const result = rawConfigSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(result.error.issues.flatMap((i) => describeIssue(i).split("\n")));
  const c = result.data;
  const site: SiteSpec = {
    proxy: c.proxy,
    platform: platforms[c.platform],
    httpsPort: c.httpsPort,
    ipv6: c.ipv6,
    hub: {
      domain: c.hubDomain,
      path: c.hubPath,
      upstream: c.hubUpstream,
      outsidePath: c.hubPath === "/" ? { kind: "notFound" } : c.hubOutsidePath,
      tls: tlsFilesFor(c.hubDomain),
    },
    extraSites: c.extraSites.map((s) => ({
      domain: s.domain,
      root: (s.root ?? `/var/www/${s.domain}`).replace(/\/+$/, ""),
      tls: tlsFilesFor(s.domain),
    })),
    tls: { profile: c.tlsProfile, hstsMaxAge: c.hstsMaxAge, hstsIncludeSubdomains: c.hstsIncludeSubdomains },
    certificates: { mode: c.certificateMode },
    limits: { maxUploadMb: c.maxUploadMb, websocketIdleTimeoutSeconds: c.websocketIdleTimeout },
    hubConfig: { manage: c.manageHubConfig, path: c.hubConfigPath, service: c.hubService },
  };
  const connection: ConnectionSpec = {
    host: c.host,
    port: c.sshPort,
    user: c.sshUser,
    privateKeyFile: c.sshPrivateKeyFile,
    hostKey: c.hostKey,
  };
  return { site, connection };
}
