/**
 * Stack config → validated model. All checks live here, expressed as a zod schema, so that bad input
 * fails before anything touches a host, with one line per problem naming the config key.
 *
 * Values that end up inside proxy config files (domains, paths) are restricted to characters that
 * cannot break out of a directive: that is what keeps rendering a pure, injection-free function.
 */
import { z } from "zod";
import { CONFIG_NAMESPACE, ConfigKey, configKeys } from "./keys";
import { AcmeSettings, CertificateMode, ConnectionSpec, HubUpstream, OutsideHubPath, SiteSpec, tlsFilesFor } from "../model/site";
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

const certificateMode = z.enum(["selfSigned", "acme", "provided"], "must be acme, selfSigned or provided");

const extraSite = z.strictObject(
  { domain, root: absolutePath.optional(), certificateMode: certificateMode.optional() },
  { error: "each entry must be an object {domain, root, certificateMode}" },
);

const acmeDirectories: Record<string, string> = {
  letsencrypt: "https://acme-v02.api.letsencrypt.org/directory",
  "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
};
const acmeServer = z.string().transform((value, ctx) => {
  if (acmeDirectories[value]) return acmeDirectories[value];
  if (/^https:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~\/-]*)?$/.test(value)) return value;
  ctx.addIssue({ code: "custom", message: "must be letsencrypt, letsencrypt-staging, or an https:// ACME directory URL" });
  return z.NEVER;
});

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
    certificateMode: withDefault("certificateMode", certificateMode),
    acmeServer: withDefault("acmeServer", acmeServer),
    acmeEmail: z.email("must be an email address").optional(),
    /** The CA file's PEM text (config/load.ts reads acmeCaBundleFile). */
    acmeCaBundlePem: z.string().regex(/^-----BEGIN CERTIFICATE-----/, "must hold PEM certificates").optional(),
    acmeRevokeOnDestroy: withDefault("acmeRevokeOnDestroy", z.boolean("must be true or false")),
    /** Only the domains of the (secret) provided certificates: their PEMs never enter validation. */
    providedDomains: z.array(z.string()).default([]),
    dhe: withDefault("dhe", z.boolean("must be true or false")),
    dhparamBits: withDefault("dhparamBits", z.union([z.literal(2048), z.literal(3072), z.literal(4096)], "must be 2048, 3072 or 4096")),
    ocspStapling: withDefault("ocspStapling", z.boolean("must be true or false")),
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
    const modes: [string, CertificateMode, PropertyKey[]][] = [
      [c.hubDomain, c.certificateMode, ["certificateMode"]],
      ...c.extraSites.map((s, i): [string, CertificateMode, PropertyKey[]] => [s.domain, s.certificateMode ?? c.certificateMode, ["extraSites", i, "certificateMode"]]),
    ];
    if (modes.some(([, m]) => m === "acme") && !c.acmeEmail) {
      ctx.addIssue({ code: "custom", path: ["acmeEmail"], message: "is required when a certificate comes from ACME (expiry notices go there)" });
    }
    for (const [d, m, path] of modes) {
      if (m === "provided" && !c.providedDomains.includes(d)) {
        ctx.addIssue({ code: "custom", path, message: `provided, but providedCertificates has no entry for ${d}` });
      }
    }
    if (c.ocspStapling && modes.some(([, m]) => m === "acme") && /letsencrypt\.org/.test(c.acmeServer)) {
      ctx.addIssue({ code: "custom", path: ["ocspStapling"], message: "Let's Encrypt certificates carry no OCSP URL since 2025; leave stapling off" });
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
  const renamed: Record<string, string> = { sshPrivateKeyGiven: "sshPrivateKey", acmeCaBundlePem: "acmeCaBundleFile", providedDomains: "providedCertificates" };
  const key = renamed[String(head)] ?? String(head ?? "(config)");
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
  const hubCert = c.certificateMode;
  const acme: AcmeSettings | undefined = [hubCert, ...c.extraSites.map((s) => s.certificateMode ?? hubCert)].includes("acme")
    ? { directoryUrl: c.acmeServer, email: c.acmeEmail!, caBundlePem: c.acmeCaBundlePem, revokeOnDestroy: c.acmeRevokeOnDestroy }
    : undefined;
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
      certificate: hubCert,
      tls: tlsFilesFor(c.hubDomain, hubCert),
    },
    extraSites: c.extraSites.map((s) => ({
      domain: s.domain,
      root: (s.root ?? `/var/www/${s.domain}`).replace(/\/+$/, ""),
      certificate: s.certificateMode ?? hubCert,
      tls: tlsFilesFor(s.domain, s.certificateMode ?? hubCert),
    })),
    tls: {
      profile: c.tlsProfile,
      hstsMaxAge: c.hstsMaxAge,
      hstsIncludeSubdomains: c.hstsIncludeSubdomains,
      dhe: c.dhe,
      dhparamBits: c.dhparamBits,
      ocspStapling: c.ocspStapling,
    },
    acme,
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
