/**
 * The validated site model: everything the renderers and steps need, complete and with defaults
 * filled. Produced only by `config/schema.ts`; everything downstream is a pure function of it.
 */
import { PlatformFacts, hostPaths } from "./platforms";
import { CapacityPlan } from "./capacity";
import { ProxyKind } from "./proxy";
import { BruteForceSpec } from "./brute-force";

export type { ProxyKind } from "./proxy";
export type TlsProfile = "intermediate" | "modern";
/** selfSigned: a CA + leaf from @pulumi/tls; acme: certbot (webroot); provided: PEMs from secret config. */
export type CertificateMode = "selfSigned" | "acme" | "provided";
/**
 * How the ACME server checks that we hold a name: http-01 (a file served on port 80, through the
 * proxy) or dns-01 (a TXT record written by RFC 2136 dynamic update; the only way for wildcards and
 * for servers the ACME server cannot reach on port 80).
 */
export type AcmeChallenge = "http-01" | "dns-01";
export type TsigAlgorithm = "HMAC-SHA256" | "HMAC-SHA384" | "HMAC-SHA512";

/** Where certbot's dns-rfc2136 plugin sends its signed updates (the secret is not in the model). */
export interface Rfc2136Settings {
  /** The primary DNS server's IP address (certbot refuses a host name). */
  server: string;
  port: number;
  /** The TSIG key's name, as the DNS server knows it. */
  keyName: string;
  /** Written in capitals: certbot before 4.0 silently signs with HMAC-MD5 for a lowercase name. */
  algorithm: TsigAlgorithm;
  /** Seconds certbot waits after the update before asking for validation. */
  propagationSeconds: number;
}

export interface AcmeSettings {
  /** ACME directory URL (Let's Encrypt production unless the stack says otherwise). */
  directoryUrl: string;
  email: string;
  /** Extra CA (PEM) that signs a private ACME server's HTTPS endpoint; also used by renewals. */
  caBundlePem?: string;
  /** Revoke certificates on destroy (off: revocation is rarely wanted for short-lived workshops). */
  revokeOnDestroy: boolean;
  /**
   * Certificate carry-over (acmeCarryOver set): certificates are exported to the stack and those
   * given are pushed to a server that has none, instead of ordering new ones.
   */
  carryOver: boolean;
  /** Present when any lineage uses dns-01. */
  dns?: Rfc2136Settings;
  /** External Account Binding key id (the HMAC key is a secret, outside the model); institutional CAs need it. */
  eabKeyId?: string;
}

/** Where the hub listens on the host, behind the proxy. */
export type HubUpstream =
  | { kind: "tcp"; /** e.g. http://127.0.0.1:8000 — no path; the path is `hub.path`. */ origin: string }
  | { kind: "unix"; /** absolute socket path */ socketPath: string };

/** What the hub's domain serves outside the hub's sub-path (only when the hub is not at `/`). */
export type OutsideHubPath = { kind: "redirect" } | { kind: "notFound" } | { kind: "webRoot"; root: string };

export interface TlsFiles {
  certificateFile: string;
  keyFile: string;
}

/** What every served site has: its names, and the certificate that covers them. */
export interface ServedSite {
  /** The site's own name as configured (`*.example.org` for a wildcard extra site). */
  domain: string;
  /** Every name the vhost answers and the certificate covers: the domain, and `*.<hub>` for per-user subdomains. */
  names: string[];
  certificate: CertificateMode;
  /** The certificate's lineage / directory name: the domain, `_wildcard.<rest>` for `*.<rest>` (certificateName()). */
  certificateName: string;
  /** ACME only: how the names are validated. */
  acmeChallenge?: AcmeChallenge;
  tls: TlsFiles;
}

export interface HubSite extends ServedSite {
  /** JupyterHub's per-user subdomains: user servers at https://<user>.<domain>/ (c.JupyterHub.subdomain_host). */
  userSubdomains: boolean;
  /** "/" or "/seg/…/" — always with leading and trailing slash. */
  path: string;
  upstream: HubUpstream;
  outsidePath: OutsideHubPath;
}

export interface StaticSite extends ServedSite {
  root: string;
}

/**
 * "Split auth": a password (HTTP Basic) in front of the hub's own pages only. JupyterLab, the kernels
 * and every websocket under `<base>user/`, and the hub's REST API under `<base>hub/api/`, keep
 * JupyterHub's own auth (Lab sends `Authorization: token …`, which would replace Basic credentials).
 */
export interface SplitAuthSpec {
  /** In config order. Passwords never enter the model: they travel as secrets (config/load.ts). */
  users: { name: string; /** true: from secret config; false: generated with @pulumi/random. */ passwordGiven: boolean }[];
  /** Sources (CIDRs, IPv4 or IPv6) admitted without a password. */
  allowFrom: string[];
  /** What the browser's password prompt names. */
  realm: string;
  /** The htpasswd file (bcrypt for given passwords, `{SHA}` for generated ones: render/split-auth.ts htpasswdHash), root:<proxy group> 0640, outside every web root. */
  userFile: string;
}

export interface SiteSpec {
  proxy: ProxyKind;
  platform: PlatformFacts;
  /** Public HTTPS port (443 unless the stack says otherwise). Plain HTTP is always on 80. */
  httpsPort: number;
  ipv6: boolean;
  hub: HubSite;
  extraSites: StaticSite[];
  tls: {
    profile: TlsProfile;
    hstsMaxAge: number;
    hstsIncludeSubdomains: boolean;
    /** Also offer DHE-RSA AEAD suites, with a dhparam generated once per host. */
    dhe: boolean;
    dhparamBits: number;
    /** OCSP stapling: only for certificates that carry an OCSP URL (Let's Encrypt's no longer do). */
    ocspStapling: boolean;
  };
  /** Present when any domain uses ACME. */
  acme?: AcmeSettings;
  limits: { maxUploadMb: number; websocketIdleTimeoutSeconds: number };
  /** Workshop sizing (model/capacity.ts): proxy workers/threads, open files, kernel minimums. */
  capacity: CapacityPlan;
  hubConfig: { manage: boolean; path: string; service: string };
  /**
   * auto: the SELinux step runs everywhere and acts only where the host has SELinux enabled; on: it
   * must be enabled; off: no SELinux step.
   */
  selinux: "auto" | "on" | "off";
  /** Off (absent) unless the stack has a `splitAuth` block. */
  splitAuth?: SplitAuthSpec;
  /** Login rate limit and fail2ban (model/brute-force.ts); on unless bruteForceProtection is false. */
  bruteForce?: BruteForceSpec;
  /** `<base>hub/metrics` at the edge: the sources admitted (CIDRs); none = refused for everyone. */
  metrics: { allowFrom: string[] };
  /**
   * Embedding in other origins' frames (a learning platform): off (absent) unless origins are given.
   * The hub's and the user servers' responses then allow these as frame-ancestors, and their
   * cookies become SameSite=None; Secure (a frame on another site gets no Lax cookie).
   */
  embedding?: { allowFrom: string[] };
}

/** PEM material of one domain's certificate, as pushed to the host (self-signed, or provided in config). */
export interface CertificateMaterial {
  domain: string;
  /** Leaf first, then intermediates (what the proxies call the full chain). */
  fullchainPem: string;
  privateKeyPem: string;
}

export interface ConnectionSpec {
  host: string;
  port: number;
  user: string;
  /** Path of a private key file on the machine running Pulumi (alternative: secret `sshPrivateKey`). */
  privateKeyFile?: string;
  /** Pinned host key, authorized_keys format (`ssh-ed25519 AAAA…`). */
  hostKey?: string;
}

/** The prefix a wildcard's lineage, directory and default web root get instead of `*.`. */
export const WILDCARD_PREFIX = "_wildcard.";

export function isWildcard(domain: string): boolean {
  return domain.startsWith("*.");
}

/**
 * A name for files and directories (lineage, certificate directory, web root) that stands for the
 * domain: the domain itself, or `_wildcard.example.org` for `*.example.org` — `*` is a glob in every
 * shell, and `_` is in no host name, so it cannot collide with another served domain.
 */
export function certificateName(domain: string): string {
  return isWildcard(domain) ? WILDCARD_PREFIX + domain.slice(2) : domain;
}

/**
 * Where a certificate lives on the host: certbot's live directory (one lineage per site, named by
 * certificateName()) for ACME, else the project's own directory.
 */
export function tlsFilesFor(domain: string, mode: CertificateMode): TlsFiles {
  const name = certificateName(domain);
  const dir = mode === "acme" ? `${hostPaths.letsencryptLive}/${name}` : `${hostPaths.tlsDir}/${name}`;
  return { certificateFile: `${dir}/fullchain.pem`, keyFile: `${dir}/privkey.pem` };
}

/** Every served site with its names and certificate, hub first. */
export function allSites(site: SiteSpec): ServedSite[] {
  return [site.hub, ...site.extraSites];
}

/** Every name the proxy answers (wildcards included), hub first. */
export function allNames(site: SiteSpec): string[] {
  return allSites(site).flatMap((s) => s.names);
}

/** Every domain the site serves, hub first. */
export function allDomains(site: SiteSpec): string[] {
  return [site.hub.domain, ...site.extraSites.map((s) => s.domain)];
}

/** ":PORT" when the public HTTPS port is not the default, else "" — as browsers write URLs. */
export function portSuffix(site: SiteSpec): string {
  return site.httpsPort === 443 ? "" : `:${site.httpsPort}`;
}

/** The public origin users type, e.g. https://hub.example.org or https://hub.example.org:8443. */
export function publicOrigin(site: SiteSpec, domain = site.hub.domain): string {
  return `https://${domain}${portSuffix(site)}`;
}

/** The hub's public URL, e.g. https://hub.example.org/jhub/. */
export function hubUrl(site: SiteSpec): string {
  return `${publicOrigin(site)}${site.hub.path}`;
}

/** With per-user subdomains: the origin user servers hang under, for c.JupyterHub.subdomain_host. */
export function subdomainHost(site: SiteSpec): string | undefined {
  return site.hub.userSubdomains ? publicOrigin(site) : undefined;
}

/**
 * A hub path inside a regular expression (PCRE, and JavaScript's): validated hub paths hold only
 * letters, digits and `. _ ~ - /`, so only `.` needs escaping. `dot` is its spelling: `[.]`, or `\.`
 * as Apache's RewriteRule patterns have always written it (kept so the rendered files stay as they are).
 */
export function pathPattern(path: string, dot: "[.]" | "\\." = "[.]"): string {
  return path.replace(/\./g, dot);
}

/** Where the hub listens behind the proxy, as the routes see it. */
export type UpstreamRoute =
  | { kind: "tcp"; /** http://HOST:PORT */ origin: string; /** as in the origin: an IPv6 address in brackets */ host: string; port: number; /** `<origin><base>` */ atBase: string }
  | { kind: "unix"; socketPath: string; /** `http://localhost<base>`, asked through the socket */ atBase: string };

/**
 * The hub's routes, derived here once from `hub.path` and `hub.upstream`: what the renderers, the
 * plan and the status board match, proxy to and probe. Paths are as sent on the wire (with the base
 * path); `patterns` are the same as regular expressions (pathPattern), anchoring left to the caller.
 */
export interface HubRoutes {
  /** "/" or "/seg/…/": everything the hub serves is under it. */
  base: string;
  /** `<base>hub/`: the hub's own pages (login, admin, spawn). */
  pages: string;
  /** `<base>hub/api/`: the REST API (token auth). */
  api: string;
  /** `<base>hub/health`. */
  health: string;
  /** `<base>hub/metrics` (Prometheus). */
  metrics: string;
  patterns: { base: string; /** `<base>hub`, without the slash */ hub: string; api: string; metrics: string };
  upstream: UpstreamRoute;
  /** c.JupyterHub.bind_url: the upstream with the base path, so that the hub's routes line up with the proxy's location. */
  bindUrl: string;
  /** Where the hub's health is probed on the host: an URL, and the socket to ask it through. */
  healthCheck: { url: string; socket?: string };
}

export function hubRoutes(site: SiteSpec): HubRoutes {
  const base = site.hub.path;
  const pages = `${base}hub/`;
  const up = site.hub.upstream;
  const upstream: UpstreamRoute =
    up.kind === "tcp"
      ? { kind: "tcp", origin: up.origin, ...hostAndPort(up.origin), atBase: `${up.origin}${base}` }
      : { kind: "unix", socketPath: up.socketPath, atBase: `http://localhost${base}` };
  const literal = pathPattern(base);
  return {
    base,
    pages,
    api: `${pages}api/`,
    health: `${pages}health`,
    metrics: `${pages}metrics`,
    patterns: { base: literal, hub: `${literal}hub`, api: `${literal}hub/api/`, metrics: `${literal}hub/metrics` },
    upstream,
    bindUrl: upstream.kind === "tcp" ? upstream.atBase : `unix+http://${encodeURIComponent(upstream.socketPath)}${base}`,
    healthCheck: { url: `${upstream.atBase}hub/health`, ...(upstream.kind === "unix" ? { socket: upstream.socketPath } : {}) },
  };
}

/** The host and port of a validated `http://HOST:PORT` origin (config/rules.ts parseUpstream writes it so). */
function hostAndPort(origin: string): { host: string; port: number } {
  const url = new URL(origin);
  // The URL parser drops a scheme's default port (:80).
  return { host: url.hostname, port: url.port === "" ? 80 : Number(url.port) };
}

/** The URL the hub must bind to so that its routes line up with the proxy's location. */
export function hubBindUrl(site: SiteSpec): string {
  return hubRoutes(site).bindUrl;
}
