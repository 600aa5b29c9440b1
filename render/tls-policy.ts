/**
 * TLS policy shared by both proxies, from Mozilla's Server Side TLS guidelines (5.8 / 6.0):
 * "intermediate" is TLS 1.2 + 1.3 with ECDHE + AEAD ciphers only — no DHE, hence no dhparam;
 * "modern" is TLS 1.3 only (its suites are fixed by OpenSSL, no cipher list needed).
 */
import { SiteSpec, TlsProfile } from "../model/site";

export interface TlsPolicy {
  protocols: ("TLSv1.2" | "TLSv1.3")[];
  /** OpenSSL cipher string for TLS ≤ 1.2, or null when only TLS 1.3 is offered. */
  tls12Ciphers: string | null;
  /** Named groups for ECDHE, strongest-first as Mozilla lists them. */
  curves: string[];
  /** Mozilla: let clients pick (they know whether they have AES hardware). */
  preferServerCiphers: boolean;
  sessionTimeoutSeconds: number;
  sessionTickets: boolean;
}

const intermediateTls12Ciphers = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** Mozilla 5.7's DHE additions: forward secret and AEAD, for clients without ECDHE. */
const dheTls12Ciphers = ["DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305"].join(":");

export function tlsPolicy(profile: TlsProfile, dhe = false): TlsPolicy {
  const common = { curves: ["X25519", "prime256v1", "secp384r1"], sessionTimeoutSeconds: 86400, sessionTickets: false };
  return profile === "modern"
    ? { ...common, protocols: ["TLSv1.3"], tls12Ciphers: null, preferServerCiphers: false }
    : {
        ...common,
        protocols: ["TLSv1.2", "TLSv1.3"],
        tls12Ciphers: dhe ? `${intermediateTls12Ciphers}:${dheTls12Ciphers}` : intermediateTls12Ciphers,
        preferServerCiphers: false,
      };
}

/** A dhparam is needed only when DHE suites are actually offered. */
export function needsDhparam(site: SiteSpec): boolean {
  return site.tls.dhe && site.tls.profile !== "modern";
}

/** The Strict-Transport-Security value, or null when HSTS is off (max-age 0). */
export function hstsValue(site: SiteSpec): string | null {
  if (site.tls.hstsMaxAge === 0) return null;
  return `max-age=${site.tls.hstsMaxAge}${site.tls.hstsIncludeSubdomains ? "; includeSubDomains" : ""}`;
}

/** The managed-file banner both proxies' files start with. */
// Says what is true (issues 19, 22): a plain `up` rewrites a file when what it renders changes;
// hand edits are read back only with --refresh (the drift watch, components/server-state.ts).
export const managedBanner = [
  "Managed by jupyterhub-edge (Pulumi); removed by `pulumi destroy`. `pulumi up` rewrites this file",
  "when the stack config changes what it renders; `pulumi preview --refresh` shows hand edits and",
  "`pulumi up --refresh` puts the file back as the program wrote it.",
];
