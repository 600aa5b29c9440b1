/**
 * The validated site model: everything the renderers and steps need, complete and with defaults
 * filled. Produced only by `config/schema.ts`; everything downstream is a pure function of it.
 */
import { PlatformFacts, hostPaths } from "./platforms";

export type ProxyKind = "nginx" | "apache";
export type TlsProfile = "intermediate" | "modern";
export type CertificateMode = "selfSigned";

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
  /** "/" or "/seg/…/" — always with leading and trailing slash. */
  path: string;
  upstream: HubUpstream;
  outsidePath: OutsideHubPath;
  tls: TlsFiles;
}

export interface StaticSite {
  domain: string;
  root: string;
  tls: TlsFiles;
}

export interface SiteSpec {
  proxy: ProxyKind;
  platform: PlatformFacts;
  /** Public HTTPS port (443 unless the stack says otherwise). Plain HTTP is always on 80. */
  httpsPort: number;
  ipv6: boolean;
  hub: HubSite;
  extraSites: StaticSite[];
  tls: { profile: TlsProfile; hstsMaxAge: number; hstsIncludeSubdomains: boolean };
  certificates: { mode: CertificateMode };
  limits: { maxUploadMb: number; websocketIdleTimeoutSeconds: number };
  hubConfig: { manage: boolean; path: string; service: string };
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

/** Files of the project's own certificates on the host, one directory per domain. */
export function tlsFilesFor(domain: string): TlsFiles {
  return {
    certificateFile: `${hostPaths.tlsDir}/${domain}/fullchain.pem`,
    keyFile: `${hostPaths.tlsDir}/${domain}/privkey.pem`,
  };
}

/** Every domain the site serves, hub first. */
export function allDomains(site: SiteSpec): string[] {
  return [site.hub.domain, ...site.extraSites.map((s) => s.domain)];
}

/** The public origin users type, e.g. https://hub.example.org or https://hub.example.org:8443. */
export function publicOrigin(site: SiteSpec, domain = site.hub.domain): string {
  return site.httpsPort === 443 ? `https://${domain}` : `https://${domain}:${site.httpsPort}`;
}

/** The URL the hub must bind to so that its routes line up with the proxy's location. */
export function hubBindUrl(site: SiteSpec): string {
  const up = site.hub.upstream;
  if (up.kind === "tcp") return `${up.origin}${site.hub.path}`;
  return `unix+http://${encodeURIComponent(up.socketPath)}${site.hub.path}`;
}
