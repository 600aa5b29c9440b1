/**
 * The validated site model: everything the renderers and steps need, complete and with defaults
 * filled. Produced only by `config/schema.ts`; everything downstream is a pure function of it.
 */
import { PlatformFacts, hostPaths } from "./platforms";
import { CapacityPlan } from "./capacity";

export type ProxyKind = "nginx" | "apache";
export type TlsProfile = "intermediate" | "modern";
/** selfSigned: a CA + leaf from @pulumi/tls; acme: certbot (webroot); provided: PEMs from secret config. */
export type CertificateMode = "selfSigned" | "acme" | "provided";

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

export interface HubSite {
  domain: string;
  certificate: CertificateMode;
  /** "/" or "/seg/…/" — always with leading and trailing slash. */
  path: string;
  upstream: HubUpstream;
  outsidePath: OutsideHubPath;
  tls: TlsFiles;
}

export interface StaticSite {
  domain: string;
  certificate: CertificateMode;
  root: string;
  tls: TlsFiles;
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
  /** The htpasswd file (bcrypt only), root:<proxy group> 0640, outside every web root. */
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

/**
 * Where a domain's certificate lives on the host: certbot's live directory (one lineage per domain,
 * named after it) for ACME, else the project's own directory.
 */
export function tlsFilesFor(domain: string, mode: CertificateMode): TlsFiles {
  const dir = mode === "acme" ? `${hostPaths.letsencryptLive}/${domain}` : `${hostPaths.tlsDir}/${domain}`;
  return { certificateFile: `${dir}/fullchain.pem`, keyFile: `${dir}/privkey.pem` };
}

/** Every served site with its domain and certificate mode, hub first. */
export function allSites(site: SiteSpec): { domain: string; certificate: CertificateMode; tls: TlsFiles }[] {
  return [site.hub, ...site.extraSites];
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

/** The URL the hub must bind to so that its routes line up with the proxy's location. */
export function hubBindUrl(site: SiteSpec): string {
  const up = site.hub.upstream;
  if (up.kind === "tcp") return `${up.origin}${site.hub.path}`;
  return `unix+http://${encodeURIComponent(up.socketPath)}${site.hub.path}`;
}
