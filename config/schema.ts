/**
 * Stack config → validated model. All checks live here, expressed as a zod schema (the value rules
 * are in rules.ts), so that bad input fails before anything touches a host, with one line per
 * problem naming the config key, the value and the rule (messages.ts).
 */
import { z } from "zod";
import { ConfigKey, configKeys } from "./keys";
import { AcmeChallenge, AcmeSettings, CertificateMode, ConnectionSpec, HubUpstream, ServedSite, SiteSpec, certificateName, isWildcard, tlsFilesFor } from "../model/site";
import {
  absolutePath, boolean, dnsServerAddress, domain, eabKeyId, email, hostAddress, siteDomain, tsigAlgorithm, tsigKeyName, hubConfigPathProblem, hubPath, hubServiceProblem, hubUpstream, maxLengths, outsidePath, port, tooLong, tooMany,
  unitName, webRoot, webRootOverHubConfig, webRootProblem, wholeNumber,
} from "./rules";
import { oneLine, problemLine, unknownFieldsLine, unknownKeyLine, valueAt } from "./messages";
import { redactSecrets, fileContentProblem } from "./secrets";
import { hostKeyProblem } from "./host-key";
import { addressScope, canonicalAddress } from "./addresses";
import { PlatformId, hostPaths, platformIds, platforms } from "../model/platforms";
import { MAX_ALLOW_FROM, cidrFamily, cidrOf, coversEverything, splitAuthSchema } from "./split-auth";
import { bruteForcePlan } from "../model/brute-force";
import { embedAllowFrom, metricsAllowFrom } from "./public-edge";
import { capacityPlan } from "../model/capacity";

/** Seconds a websocket may outlive the culler's timeout (one culler pass; Jupyter pings every 30 s). */
const cullSlackSeconds = 120;

/** websocketIdleTimeout 0 = derived from the hub's culler, else an hour. */
export function idleTimeoutFor(websocketIdleTimeout: number, hubIdleCullTimeout: number): number {
  if (websocketIdleTimeout > 0) return websocketIdleTimeout;
  return hubIdleCullTimeout > 0 ? hubIdleCullTimeout + cullSlackSeconds : 3600;
}

const certificateMode = z.enum(["selfSigned", "acme", "provided"], "must be acme, selfSigned or provided");

const acmeChallenge = z.enum(["http-01", "dns-01"], "must be http-01 or dns-01");

const extraSite = z.strictObject(
  { domain: siteDomain, root: webRoot.optional(), certificateMode: certificateMode.optional(), acmeChallenge: acmeChallenge.optional() },
  { error: "each entry must be an object {domain, root, certificateMode, acmeChallenge}" },
);

/** acmeDns: where certbot's dns-rfc2136 plugin sends its signed updates. */
const rfc2136 = z.strictObject(
  {
    server: dnsServerAddress,
    port: port.prefault(53),
    tsigKeyName,
    tsigAlgorithm: tsigAlgorithm.prefault("hmac-sha256"),
    propagationSeconds: wholeNumber({ min: 0, max: 3600, unit: " seconds", aboveMax: "must be at most 3600 seconds (certbot waits this long on every order)" }).prefault(60),
  },
  { error: "must be an object {server, port, tsigKeyName, tsigAlgorithm, propagationSeconds}" },
);

const acmeDirectories: Record<string, string> = {
  letsencrypt: "https://acme-v02.api.letsencrypt.org/directory",
  "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
};
const acmeServer = z.string().transform((value, ctx) => {
  if (acmeDirectories[value]) return acmeDirectories[value];
  if (value.length > maxLengths.url) {
    ctx.addIssue({ code: "custom", message: `is ${value.length} characters long; a URL has at most ${maxLengths.url}` });
    return z.NEVER;
  }
  const m = /^https:\/\/[A-Za-z0-9.-]+(?::(\d+))?(\/[A-Za-z0-9._~\/-]*)?$/.exec(value);
  if (m) {
    if (m[1] !== undefined && !(Number(m[1]) >= 1 && Number(m[1]) <= 65535 && !/^0/.test(m[1]))) {
      ctx.addIssue({ code: "custom", message: `port ${m[1]} is not a TCP port (1–65535, no leading zeros)` });
      return z.NEVER;
    }
    return value;
  }
  ctx.addIssue({ code: "custom", message: "must be letsencrypt, letsencrypt-staging, or an https:// ACME directory URL" });
  return z.NEVER;
});

/** The pinned host key (config/host-key.ts): type, base64, and the blob's own type agreeing. */
const authorizedKey = z
  .string()
  .trim()
  .superRefine((v, ctx) => {
    const problem = hostKeyProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

/** A key naming a file on the machine running Pulumi; `what` names its contents in messages. */
const localFile = (what: string) =>
  z
    .string()
    .min(1)
    .superRefine((v, ctx) => {
      const content = fileContentProblem(v, what);
      if (content) ctx.addIssue({ code: "custom", message: content });
      else if (v.length > maxLengths.path) ctx.addIssue({ code: "custom", message: `is ${v.length} characters long; a path has at most ${maxLengths.path}` });
    });

/** Most extra sites one server serves (each has its own vhost and certificate). */
export const MAX_EXTRA_SITES = 100;
/** Most domains a secret certificate block may name (a fleet's every domain). */
export const MAX_CERTIFICATE_DOMAINS = 1000;

function withDefault<T extends z.ZodType>(key: ConfigKey, schema: T) {
  const doc = configKeys[key] as { default?: unknown };
  // prefault: the default is an *input*, so transforms (hubUpstream, hubOutsidePath) apply to it too.
  return schema.prefault(doc.default as never);
}

/** The raw shape: what Pulumi config (or a test) hands in, before defaults and the checks across keys. */
const rawConfigObject = z
  .strictObject({
    host: hostAddress,
    sshPort: withDefault("sshPort", port),
    sshUser: withDefault(
      "sshUser",
      z.string().max(maxLengths.unixUser, tooLong("a Unix user name", maxLengths.unixUser)).regex(/^[a-z_][a-z0-9_-]*[$]?$/, "must be a valid Unix user name"),
    ),
    /** Only whether a secret key was given: its value never enters validation (or error text). */
    sshPrivateKeyGiven: z.boolean().default(false),
    sshPrivateKeyFile: localFile("the key's").optional(),
    hostKey: authorizedKey.optional(),
    proxy: withDefault("proxy", z.enum(["nginx", "apache"], "must be nginx or apache")),
    platform: withDefault("platform", z.enum(platformIds as [PlatformId, ...PlatformId[]], `must be one of ${platformIds.join(", ")}`)),
    hubDomain: domain,
    hubPath: withDefault("hubPath", hubPath),
    hubUpstream: withDefault("hubUpstream", hubUpstream),
    hubOutsidePath: withDefault("hubOutsidePath", outsidePath),
    httpsPort: withDefault("httpsPort", port),
    ipv6: withDefault("ipv6", boolean),
    extraSites: withDefault("extraSites", z.array(extraSite, "must be a list of {domain, root}").max(MAX_EXTRA_SITES, tooMany(MAX_EXTRA_SITES, "per server; spread them over a fleet"))),
    certificateMode: withDefault("certificateMode", certificateMode),
    acmeServer: withDefault("acmeServer", acmeServer),
    acmeEmail: email.optional(),
    acmeChallenge: withDefault("acmeChallenge", acmeChallenge),
    acmeDns: rfc2136.optional(),
    /** Only whether the (secret) TSIG key and EAB HMAC key were given: their values never enter validation. */
    acmeDnsTsigSecretGiven: z.boolean().default(false),
    acmeEabKeyId: eabKeyId.optional(),
    acmeEabHmacKeyGiven: z.boolean().default(false),
    hubSubdomains: withDefault("hubSubdomains", boolean),
    /** The CA file's PEM text (config/load.ts reads acmeCaBundleFile). */
    acmeCaBundlePem: z
      .string()
      .max(maxLengths.pemFile, { error: (i) => `is ${String(i.input ?? "").length} characters long; a CA bundle has at most ${maxLengths.pemFile} (1 MiB)` })
      .regex(/^-----BEGIN CERTIFICATE-----/, "must hold PEM certificates")
      .optional(),
    acmeRevokeOnDestroy: withDefault("acmeRevokeOnDestroy", boolean),
    /** Only the domains of the (secret) carried-over ACME bundles; set at all = carry-over on. */
    acmeCarryOverDomains: z.array(z.string()).max(MAX_CERTIFICATE_DOMAINS, tooMany(MAX_CERTIFICATE_DOMAINS, "domains")).optional(),
    /** Only the domains of the (secret) provided certificates: their PEMs never enter validation. */
    providedDomains: z.array(z.string()).max(MAX_CERTIFICATE_DOMAINS, tooMany(MAX_CERTIFICATE_DOMAINS, "domains")).default([]),
    dhe: withDefault("dhe", boolean),
    dhparamBits: withDefault("dhparamBits", z.union([z.literal(2048), z.literal(3072), z.literal(4096)], "must be 2048, 3072 or 4096")),
    ocspStapling: withDefault("ocspStapling", boolean),
    tlsProfile: withDefault("tlsProfile", z.enum(["intermediate", "modern"], "must be intermediate or modern")),
    hstsMaxAge: withDefault(
      "hstsMaxAge",
      wholeNumber({ min: 0, max: 2 ** 31 - 1, unit: " seconds", negative: "must not be negative: 0 turns HSTS off, 15552000 or more for an SSL Labs A+" }),
    ),
    hstsIncludeSubdomains: withDefault("hstsIncludeSubdomains", boolean),
    maxUploadMb: withDefault("maxUploadMb", wholeNumber({ min: 1, max: 1024 * 1024, unit: " MiB", aboveMax: "must be at most 1048576 MiB (1 TiB)" })),
    websocketIdleTimeout: withDefault(
      "websocketIdleTimeout",
      wholeNumber({ min: 0, max: 7 * 86400, unit: " seconds", negative: "must not be negative: 0 derives it from hubIdleCullTimeout", aboveMax: "must be at most 604800 seconds (7 days)" }).refine(
        (v) => v === 0 || v >= 60,
        "must be at least 60 (Jupyter pings every 30 s), or 0 to derive it from hubIdleCullTimeout",
      ),
    ),
    hubIdleCullTimeout: withDefault("hubIdleCullTimeout", wholeNumber({ min: 0, max: 30 * 86400, unit: " seconds", negative: "must not be negative: 0 means no culler" })),
    expectedParticipants: withDefault("expectedParticipants", wholeNumber({ min: 1, max: 100_000, unit: " people", aboveMax: "must be at most 100000 (size one server per few thousand)" })),
    maxConnections: withDefault("maxConnections", wholeNumber({ min: 0, max: 1_000_000, unit: " connections", negative: "must not be negative: 0 derives it from expectedParticipants" })),
    openFilesLimit: withDefault("openFilesLimit", wholeNumber({ min: 1024, max: 1_048_576, unit: " files", aboveMax: "must be at most 1048576 (the kernel's default fs.nr_open)" })),
    hostMemoryMb: withDefault("hostMemoryMb", wholeNumber({ min: 0, max: 64 * 1024 * 1024, unit: " MiB", negative: "must not be negative: 0 means not declared" })),
    manageHubConfig: withDefault("manageHubConfig", boolean),
    hubConfigPath: withDefault(
      "hubConfigPath",
      absolutePath.superRefine((p, ctx) => {
        const problem = hubConfigPathProblem(p);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }),
    ),
    hubService: withDefault(
      "hubService",
      unitName.superRefine((u, ctx) => {
        const problem = hubServiceProblem(u);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }),
    ),
    selinux: withDefault("selinux", z.enum(["auto", "on", "off"], "must be auto, on or off")),
    /** Without its passwords (config/split-auth.ts takes them out); absent = off. */
    splitAuth: splitAuthSchema.optional(),
    bruteForceProtection: withDefault("bruteForceProtection", boolean),
    banRetries: withDefault(
      "banRetries",
      wholeNumber({ min: 0, max: 100_000, unit: " failures", negative: "must not be negative: 0 derives it from expectedParticipants" }).refine(
        (v) => v === 0 || v >= 3,
        "must be at least 3 (one mistyped password must never ban anyone), or 0 to derive it from expectedParticipants",
      ),
    ),
    banFindTime: withDefault("banFindTime", wholeNumber({ min: 60, max: 86400, unit: " seconds", aboveMax: "must be at most 86400 seconds (a day)" })),
    banTime: withDefault("banTime", wholeNumber({ min: 10, max: 30 * 86400, unit: " seconds", aboveMax: "must be at most 2592000 seconds (30 days)" })),
    trustedSources: withDefault(
      "trustedSources",
      z.array(cidrOf("set bruteForceProtection false instead"), "must be a list of addresses or CIDRs").max(MAX_ALLOW_FROM, tooMany(MAX_ALLOW_FROM, "summarise them in wider CIDRs")),
    ),
    metricsAllowFrom: withDefault("metricsAllowFrom", metricsAllowFrom),
    embedAllowFrom: withDefault("embedAllowFrom", embedAllowFrom),
  });

/** The raw config once each key is valid on its own: what the checks across keys read. */
type CheckedConfig = z.output<typeof rawConfigObject>;
type RefinementCtx = z.core.$RefinementCtx<CheckedConfig>;

export const rawConfigSchema = rawConfigObject.superRefine((c, ctx) => {
  sshKeyProblem(c, ctx);
  siteProblems(c, ctx);
  certificateModeProblems(c, ctx);
  timeoutProblems(c, ctx);
  capacityProblems(c, ctx);
  protectionProblems(c, ctx);
});

/** An SSH key, given one way only. */
function sshKeyProblem(c: CheckedConfig, ctx: RefinementCtx): void {
  if (c.sshPrivateKeyGiven === (c.sshPrivateKeyFile !== undefined)) {
    ctx.addIssue({
      code: "custom",
      path: ["sshPrivateKeyFile"],
      message: c.sshPrivateKeyGiven
        ? "set only one of sshPrivateKey and sshPrivateKeyFile"
        : "no SSH key: set sshPrivateKeyFile, or sshPrivateKey with `pulumi config set --secret`",
    });
  }
}

/** Each domain served once, the HTTPS port free, the hub reachable privately, web roots clear of the hub's config. */
function siteProblems(c: CheckedConfig, ctx: RefinementCtx): void {
  const seen = new Map<string, string>([[c.hubDomain, "hubDomain"]]);
  c.extraSites.forEach((s, i) => {
    const first = seen.get(s.domain);
    if (first) ctx.addIssue({ code: "custom", path: ["extraSites", i, "domain"], message: `${s.domain} is already served by ${first}` });
    seen.set(s.domain, `extraSites[${i}]`);
  });
  if (c.httpsPort === 80) ctx.addIssue({ code: "custom", path: ["httpsPort"], message: "must not be 80: port 80 serves the HTTP redirect and ACME challenges" });
  else if (c.httpsPort === c.sshPort) {
    ctx.addIssue({ code: "custom", path: ["httpsPort"], message: `must not be ${c.sshPort}, SSH's port (sshPort): the proxy could not listen there, and the program reaches the server through it` });
  }
  for (const problem of upstreamProblems(c)) ctx.addIssue({ code: "custom", path: ["hubUpstream"], message: problem });
  const hubConfigDirProblem = (root: string, path: PropertyKey[]) => {
    const problem = webRootProblem(root) === undefined ? webRootOverHubConfig(root, c.hubConfigPath) : undefined;
    if (problem) ctx.addIssue({ code: "custom", path, message: problem });
  };
  c.extraSites.forEach((s, i) => hubConfigDirProblem(s.root ?? `/var/www/${certificateName(s.domain)}`, ["extraSites", i, s.root === undefined ? "domain" : "root"]));
  if (c.hubOutsidePath.kind === "webRoot") hubConfigDirProblem(c.hubOutsidePath.root, ["hubOutsidePath"]);
  if (c.hubPath === "/" && c.hubOutsidePath.kind === "webRoot") {
    ctx.addIssue({ code: "custom", path: ["hubOutsidePath"], message: "a web root outside the hub needs a hubPath other than /" });
  }
}

/** What each certificate mode needs: an ACME e-mail, a provided certificate, no stapling for Let's Encrypt. */
function certificateModeProblems(c: CheckedConfig, ctx: RefinementCtx): void {
  const modes: [string, CertificateMode, PropertyKey[]][] = [
    [c.hubDomain, c.certificateMode, ["certificateMode"]],
    ...c.extraSites.map((s, i): [string, CertificateMode, PropertyKey[]] => [s.domain, s.certificateMode ?? c.certificateMode, ["extraSites", i, "certificateMode"]]),
  ];
  for (const problem of acmeChallengeProblems(c)) ctx.addIssue({ code: "custom", path: problem.path, message: problem.message });
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
}

/** The websocket idle timeout and the hub's culler agree. */
function timeoutProblems(c: CheckedConfig, ctx: RefinementCtx): void {
  const idle = idleTimeoutFor(c.websocketIdleTimeout, c.hubIdleCullTimeout);
  if (c.hubIdleCullTimeout > 0 && idle > c.hubIdleCullTimeout + cullSlackSeconds) {
    ctx.addIssue({
      code: "custom",
      path: ["websocketIdleTimeout"],
      message: `${idle} s is longer than hubIdleCullTimeout ${c.hubIdleCullTimeout} s + ${cullSlackSeconds} s: the culler stops idle servers first; leave it 0 (derived) or lower it`,
    });
  }
  if (c.hubIdleCullTimeout > 0 && c.hubIdleCullTimeout < 60) {
    ctx.addIssue({ code: "custom", path: ["hubIdleCullTimeout"], message: "must be 0 (no culler) or at least 60 s (Jupyter pings every 30 s)" });
  }
}

/** The class fits the server's memory, and each proxy process has its reserve of open files. */
function capacityProblems(c: CheckedConfig, ctx: RefinementCtx): void {
  const plan = capacityPlan(c, c.proxy, platforms[c.platform]);
  if (plan.memory.neededMiB > plan.memory.budgetMiB) {
    const perConn = platforms[c.platform].capacity[c.proxy].memoryPerConnectionKiB;
    ctx.addIssue({
      code: "custom",
      path: [c.maxConnections > 0 ? "maxConnections" : "expectedParticipants"],
      message:
        `${c.maxConnections > 0 ? `maxConnections ${plan.connections}` : `${plan.basis} = ${plan.connections}`} connections need about ${plan.memory.neededMiB} MiB in ${c.proxy} (${perConn} KiB each, measured), ` +
        `more than the ${plan.memory.budgetMiB} MiB it may use (half of ${plan.memory.hostMiB} MiB ` +
        (plan.memory.hostMemoryDeclared ? "hostMemoryMb" : "assumed: declare jupyterhub-edge:hostMemoryMb if the server has more") +
        "); lower it or use a bigger server",
    });
  }
  if (c.openFilesLimit < 4 * platforms[c.platform].capacity.reservedFiles) {
    ctx.addIssue({ code: "custom", path: ["openFilesLimit"], message: `must be at least ${4 * platforms[c.platform].capacity.reservedFiles} (each proxy process keeps ${platforms[c.platform].capacity.reservedFiles} for itself)` });
  }
}

/** Brute-force protection's keys make sense together; HSTS is off or long enough. */
function protectionProblems(c: CheckedConfig, ctx: RefinementCtx): void {
  for (const family of [32, 128] as const) {
    const entries = c.trustedSources.filter((t) => cidrFamily(t) === family);
    if (entries.length > 1 && coversEverything(entries, family)) {
      ctx.addIssue({
        code: "custom",
        path: ["trustedSources"],
        message: `together ${entries.join(", ")} trust every ${family === 32 ? "IPv4" : "IPv6"} address, so no one would ever be banned; list only the networks to trust, or set bruteForceProtection false`,
      });
    }
  }
  if (!c.bruteForceProtection) {
    for (const key of ["banRetries", "banFindTime", "banTime", "trustedSources"] as const) {
      const set = key === "trustedSources" ? c.trustedSources.length > 0 : c[key] !== (configKeys[key] as { default: number }).default;
      if (set) ctx.addIssue({ code: "custom", path: [key], message: "has no effect with bruteForceProtection false: remove it, or turn the protection on" });
    }
  }
  if (c.hstsMaxAge > 0 && c.hstsMaxAge < 86400) {
    ctx.addIssue({ code: "custom", path: ["hstsMaxAge"], message: "must be 0 (off) or at least 86400; 15552000+ for an SSL Labs A+" });
  }
}

export type RawConfig = z.input<typeof rawConfigSchema>;

type ParsedRaw = z.output<typeof rawConfigSchema>;

/** The challenge of one extra site's ACME certificate (the stack's unless the entry sets one). */
function challengeOf(c: ParsedRaw, s?: { acmeChallenge?: AcmeChallenge }): AcmeChallenge {
  return s?.acmeChallenge ?? c.acmeChallenge;
}

/**
 * DNS-01, wildcards, per-user subdomains and External Account Binding: what each needs from the
 * others. A wildcard (an extra site's, or the hub's `*.<hubDomain>`) can only come from dns-01 when
 * it comes from ACME; dns-01 needs the DNS server and its key; EAB needs both halves.
 */
function acmeChallengeProblems(c: ParsedRaw): { path: PropertyKey[]; message: string }[] {
  const out: { path: PropertyKey[]; message: string }[] = [];
  const hubAcme = c.certificateMode === "acme";
  const dnsUsers: string[] = [];
  if (hubAcme && c.acmeChallenge === "dns-01") dnsUsers.push("hubDomain");
  if (c.hubSubdomains) {
    if (hubAcme && c.acmeChallenge === "http-01") {
      out.push({ path: ["hubSubdomains"], message: `needs a certificate for *.${c.hubDomain}, and ACME gives wildcards only through DNS-01: set acmeChallenge dns-01 (with acmeDns), or use certificateMode selfSigned or a provided wildcard certificate` });
    }
  }
  c.extraSites.forEach((s, i) => {
    const mode = s.certificateMode ?? c.certificateMode;
    if (s.acmeChallenge !== undefined && mode !== "acme") {
      out.push({ path: ["extraSites", i, "acmeChallenge"], message: `only applies to certificateMode acme; this site's certificate is ${mode}` });
    }
    if (mode === "acme" && challengeOf(c, s) === "dns-01") dnsUsers.push(`extraSites[${i}]`);
    if (isWildcard(s.domain) && mode === "acme" && challengeOf(c, s) === "http-01") {
      out.push({ path: ["extraSites", i, "domain"], message: `${s.domain} is a wildcard, which ACME validates only through DNS-01: set acmeChallenge dns-01 for it (with acmeDns), or use certificateMode selfSigned or provided` });
    }
    if (c.hubSubdomains && (s.domain.endsWith(`.${c.hubDomain}`) || s.domain === `*.${c.hubDomain}`)) {
      out.push({ path: ["extraSites", i, "domain"], message: `${s.domain} is under hubDomain, whose subdomains are the users' servers with hubSubdomains on; serve it under another name` });
    }
  });
  if (dnsUsers.length) {
    const who = dnsUsers.join(", ");
    if (!c.acmeDns) out.push({ path: ["acmeDns"], message: `is required: ${who} use${dnsUsers.length === 1 ? "s" : ""} the dns-01 challenge; give {server, tsigKeyName} of the DNS server that takes the updates` });
    if (!c.acmeDnsTsigSecretGiven) out.push({ path: ["acmeDnsTsigSecret"], message: `is required: ${who} use${dnsUsers.length === 1 ? "s" : ""} the dns-01 challenge; set the TSIG key's secret with \`pulumi config set --secret\`` });
  }
  if (c.acmeEabKeyId !== undefined && !c.acmeEabHmacKeyGiven) {
    out.push({ path: ["acmeEabHmacKey"], message: "is required with acmeEabKeyId (External Account Binding needs both); set it with `pulumi config set --secret`" });
  } else if (c.acmeEabKeyId === undefined && c.acmeEabHmacKeyGiven) {
    out.push({ path: ["acmeEabKeyId"], message: "is required with acmeEabHmacKey (External Account Binding needs both)" });
  }
  return out;
}

/**
 * Where the hub may listen: never where the outside reaches it around the proxy (TLS, split auth),
 * and never on a port the proxy or SSH holds. Loopback, a unix socket, a private address other than
 * `host`, or a name that is not one the server serves publicly, on a free port.
 */
function upstreamProblems(c: { hubUpstream: HubUpstream; host: string; sshPort: number; httpsPort: number; hubDomain: string; extraSites: { domain: string }[] }): string[] {
  if (c.hubUpstream.kind !== "tcp") return [];
  const url = new URL(c.hubUpstream.origin);
  const upstreamHost = url.hostname;
  const hubPort = url.port === "" ? 80 : Number(url.port);
  const around = `the hub would be reachable from outside on port ${hubPort}, around TLS and split auth; use 127.0.0.1, [::1] or unix:/run/jupyterhub/hub.sock`;
  const problems: string[] = [];
  const canonical = canonicalAddress(upstreamHost);
  if (canonical === canonicalAddress(c.host)) problems.push(`${upstreamHost} is the server's own address (host): ${around}`);
  else if (addressScope(upstreamHost) === "public") problems.push(`${upstreamHost} is a public address: ${around} (or a private address of this server)`);
  else {
    const served = [[c.hubDomain, "hubDomain"], ...c.extraSites.map((s, i) => [s.domain, `extraSites[${i}].domain`])].find(([d]) => canonicalAddress(d) === canonical);
    if (served) problems.push(`${upstreamHost} is a domain this server serves publicly (${served[1]}), so it resolves to a public address: ${around}`);
  }
  const clash =
    hubPort === 80 ? "port 80 is the proxy's (HTTP redirects and ACME challenges)"
    : hubPort === c.httpsPort ? `port ${hubPort} is httpsPort, where the proxy serves HTTPS`
    : hubPort === c.sshPort ? `port ${hubPort} is SSH's (sshPort)`
    : undefined;
  if (clash) problems.push(`${clash}: the hub cannot listen there too; use a port of its own such as 8000`);
  return problems;
}

export class ConfigError extends Error {
  /** One line per problem; anything that looks like key material or a credential is replaced. */
  public readonly problems: string[];
  constructor(problems: string[]) {
    const clean = problems.map((p) => oneLine(redactSecrets(p)));
    super(`invalid stack configuration:\n${clean.map((p) => `  - ${p}`).join("\n")}`);
    this.problems = clean;
    this.name = "ConfigError";
  }
}

/** The keys an object of the schema knows at `path` (for "did you mean" on unknown fields). */
function knownFieldsAt(path: readonly PropertyKey[]): string[] {
  let schema: z.ZodType = rawConfigSchema;
  const unwrap = (t: z.ZodType): z.ZodType => {
    const def = (t as unknown as { def: { innerType?: z.ZodType; in?: z.ZodType; element?: z.ZodType } }).def;
    if (def.innerType) return unwrap(def.innerType);
    if (def.in) return unwrap(def.in);
    return t;
  };
  for (const p of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) schema = schema.shape[String(p)];
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType;
    if (!schema) return [];
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function describeIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>): string[] {
  if (issue.code === "unrecognized_keys") {
    return issue.path.length ? [unknownFieldsLine(issue.path, issue.keys, knownFieldsAt(issue.path))] : issue.keys.map(unknownKeyLine);
  }
  const value = valueAt(raw, issue.path);
  if (issue.code === "invalid_type" && value === undefined) return [problemLine(issue.path, "is required", undefined)];
  return [problemLine(issue.path, issue.message, value)];
}

/** Validates raw config and builds the model. Throws ConfigError listing every problem. */
export function parseConfig(raw: Record<string, unknown>): { site: SiteSpec; connection: ConnectionSpec } {
  const result = rawConfigSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(result.error.issues.flatMap((i) => describeIssue(i, raw)));
  const c = result.data;
  const hubCert = c.certificateMode;
  /** The certificate part of a served site: its names, lineage and (ACME) challenge. */
  const served = (domain: string, names: string[], mode: CertificateMode, challenge: AcmeChallenge): ServedSite => ({
    domain,
    names,
    certificate: mode,
    certificateName: certificateName(domain),
    ...(mode === "acme" ? { acmeChallenge: challenge } : {}),
    tls: tlsFilesFor(domain, mode),
  });
  const hubServed = served(c.hubDomain, c.hubSubdomains ? [c.hubDomain, `*.${c.hubDomain}`] : [c.hubDomain], hubCert, c.acmeChallenge);
  const extraServed = c.extraSites.map((s) => served(s.domain, [s.domain], s.certificateMode ?? hubCert, challengeOf(c, s)));
  const acmeSites = [hubServed, ...extraServed].filter((s) => s.certificate === "acme");
  const acme: AcmeSettings | undefined = acmeSites.length
    ? {
        directoryUrl: c.acmeServer,
        email: c.acmeEmail!,
        caBundlePem: c.acmeCaBundlePem,
        revokeOnDestroy: c.acmeRevokeOnDestroy,
        carryOver: c.acmeCarryOverDomains !== undefined,
        ...(acmeSites.some((s) => s.acmeChallenge === "dns-01") && c.acmeDns
          ? { dns: { server: c.acmeDns.server, port: c.acmeDns.port, keyName: c.acmeDns.tsigKeyName, algorithm: c.acmeDns.tsigAlgorithm, propagationSeconds: c.acmeDns.propagationSeconds } }
          : {}),
        ...(c.acmeEabKeyId !== undefined ? { eabKeyId: c.acmeEabKeyId } : {}),
      }
    : undefined;
  const site: SiteSpec = {
    proxy: c.proxy,
    platform: platforms[c.platform],
    httpsPort: c.httpsPort,
    ipv6: c.ipv6,
    hub: {
      ...hubServed,
      userSubdomains: c.hubSubdomains,
      path: c.hubPath,
      upstream: c.hubUpstream,
      outsidePath: c.hubPath === "/" ? { kind: "notFound" } : c.hubOutsidePath,
    },
    extraSites: c.extraSites.map((s, i) => ({
      ...extraServed[i],
      root: (s.root ?? `/var/www/${certificateName(s.domain)}`).replace(/\/+$/, ""),
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
    limits: { maxUploadMb: c.maxUploadMb, websocketIdleTimeoutSeconds: idleTimeoutFor(c.websocketIdleTimeout, c.hubIdleCullTimeout) },
    capacity: capacityPlan(c, c.proxy, platforms[c.platform]),
    hubConfig: { manage: c.manageHubConfig, path: c.hubConfigPath, service: c.hubService },
    selinux: c.selinux,
    ...(c.splitAuth ? { splitAuth: { ...c.splitAuth, userFile: hostPaths.htpasswd } } : {}),
    ...(c.bruteForceProtection
      ? { bruteForce: bruteForcePlan({ ...c, allowFrom: c.splitAuth?.allowFrom ?? [] }) }
      : {}),
    metrics: { allowFrom: c.metricsAllowFrom },
    ...(c.embedAllowFrom.length ? { embedding: { allowFrom: c.embedAllowFrom } } : {}),
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
