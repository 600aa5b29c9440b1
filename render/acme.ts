/**
 * The files certbot reads secrets from, so that no secret is ever on a command line (visible in
 * `ps` to every user of the host) or in a step's non-secret payload:
 *   - the dns-rfc2136 plugin's credentials (the TSIG key), which certbot also names in each
 *     lineage's renewal config, so the distribution's timer renews with the same key;
 *   - an options file with the External Account Binding, read once when the account is registered.
 * Both root 0600 under /etc/jupyterhub-edge, outside every web root. Pure: the secrets come in as
 * arguments (Pulumi secrets in the program, so the payload stays secret in state and preview).
 */
import { SiteSpec } from "../model/site";
import { hostPaths } from "../model/platforms";
import { RenderedFile } from "./files";

export interface AcmeSecretValues {
  tsigSecret?: string;
  eabHmacKey?: string;
}

/** The files of the secret acme-secrets step: empty when the site needs neither. */
export function acmeSecretFiles(site: SiteSpec, secrets: AcmeSecretValues): RenderedFile[] {
  const acme = site.acme;
  if (!acme) return [];
  const files: RenderedFile[] = [];
  const oneLine = (what: string, v: string) => {
    if (/[\s"'\\]/.test(v)) throw new Error(`${what} must be one token`); // validated before: never shown
    return v;
  };
  if (acme.dns) {
    if (!secrets.tsigSecret) throw new Error("dns-01 is on but no TSIG secret was given");
    files.push({
      path: hostPaths.acmeDnsCredentials,
      mode: "0600",
      content: [
        "# jupyterhub-edge: certbot's dns-rfc2136 credentials (RFC 2136 updates signed with TSIG).",
        `dns_rfc2136_server = ${acme.dns.server}`,
        `dns_rfc2136_port = ${acme.dns.port}`,
        `dns_rfc2136_name = ${acme.dns.keyName}`,
        `dns_rfc2136_secret = ${oneLine("the TSIG secret", secrets.tsigSecret)}`,
        // Capitals: certbot < 4.0 looks the name up as written, and falls back to HMAC-MD5.
        `dns_rfc2136_algorithm = ${acme.dns.algorithm}`,
        "",
      ].join("\n"),
    });
  }
  if (acme.eabKeyId !== undefined) {
    if (!secrets.eabHmacKey) throw new Error("External Account Binding is on but no HMAC key was given");
    files.push({
      path: hostPaths.acmeEabConfig,
      mode: "0600",
      content: [
        "# jupyterhub-edge: External Account Binding, read by certbot when it registers the ACME account.",
        `eab-kid = ${oneLine("the EAB key id", acme.eabKeyId)}`,
        `eab-hmac-key = ${oneLine("the EAB HMAC key", secrets.eabHmacKey)}`,
        "",
      ].join("\n"),
    });
  }
  return files;
}
