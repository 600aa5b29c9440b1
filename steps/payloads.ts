/**
 * The payloads the plan's steps and the components build: what a remote script reads on stdin.
 * Pure functions of the model (and of secret values the components hold).
 */
import { CertificateMaterial, SiteSpec, allSites } from "../model/site";
import { RenderedFile, fileSetPayload, filesPayload } from "../render/files";
import { records, text, values, wire } from "../render/wire";
import { renderCapacity, serviceUnit } from "../render/capacity";
import { acmeSecretFiles, AcmeSecretValues } from "../render/acme";

export function kvPayload(entries: Record<string, string>): string {
  return wire(values(entries));
}

/** `|`-prefixed lines of a text block, as the scripts read them. */
export const blockLines = (block: string): string => wire(text(block));

/** The key + certificate files of every pushed (non-ACME) domain; keys 0600. This payload is secret. */
export function certificateFiles(site: SiteSpec, material: CertificateMaterial[]): RenderedFile[] {
  const byDomain = new Map(material.map((m) => [m.domain, m]));
  return allSites(site).filter((s) => s.certificate !== "acme").flatMap(({ domain, tls }) => {
    const m = byDomain.get(domain);
    if (!m) throw new Error(`no certificate material for ${domain}`);
    const pem = (s: string) => (s.endsWith("\n") ? s : `${s}\n`);
    return [
      { path: tls.certificateFile, mode: "0644", content: pem(m.fullchainPem) },
      { path: tls.keyFile, mode: "0600", content: pem(m.privateKeyPem) },
    ];
  });
}

/** Domains whose certificate files the program pushes (selfSigned and provided). */
export function pushedCertificateDomains(site: SiteSpec): string[] {
  return allSites(site).filter((s) => s.certificate !== "acme").map((s) => s.domain);
}

/** What the capacity step reads: the numbers it checks on the host, then the two files it owns. */
export function capacityPayload(site: SiteSpec): string {
  const c = site.capacity;
  const files = renderCapacity(site);
  const nginx = site.platform.capacity.nginx;
  return (
    kvPayload({
      proxy: serviceUnit(site),
      service: serviceUnit(site),
      nofile: String(c.limitNofile),
      file_max: String(c.kernel.fileMax),
      tasks: String(c.tasksMax === "infinity" ? 0 : c.tasksMax),
      memory_mib: String(c.memory.neededMiB),
      memory_share_percent: String(Math.round(site.platform.capacity.memoryShare * 100)),
      ...(site.proxy === "nginx"
        ? { main_config: nginx.mainConfig, main_include: nginx.managedMainFile }
        : {
            // What decides restart vs. graceful reload (scripts/remote/capacity.sh).
            server_limit: String(c.apache.serverLimit),
            // Open files one child needs (its sockets and the reserve): enough in a running parent
            // whose limit cannot be raised in place.
            files_needed: String(2 * c.apache.threadsPerChild + site.platform.capacity.reservedFiles),
            thread_limit: String(c.apache.threadLimit),
            stock_server_limit: String(site.platform.capacity.apache.stockServerLimit),
            stock_thread_limit: String(site.platform.capacity.apache.stockThreadLimit),
          }),
    }) + filesPayload([files.proxy, files.dropIn])
  );
}

/** The files payload of the pushed certificates (keys 0600), for the secret tls-files step. */
export function certificatePayload(site: SiteSpec, material: CertificateMaterial[]): string {
  return fileSetPayload("none", certificateFiles(site, material));
}

/** The lineage names of the certificates that come from ACME (the domain; `_wildcard.<rest>` for `*.<rest>`). */
export function acmeDomains(site: SiteSpec): string[] {
  return allSites(site).filter((s) => s.certificate === "acme").map((s) => s.certificateName);
}

/** The acme-secrets payload (secret): the TSIG credentials and EAB files certbot reads. */
export function acmeSecretsPayload(site: SiteSpec, secrets: AcmeSecretValues): string {
  return fileSetPayload("none", acmeSecretFiles(site, secrets));
}

/** The acme-import payload: the carried-over bundles of the given domains (secret). */
export function carryOverImportPayload(bundles: Record<string, string>): string {
  return wire(values({ action: "import" }), records("bundle", Object.entries(bundles)));
}

/** The acme-export step's output → {domain: bundle}. */
export function parseCarryOverExport(stdout: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of (stdout ?? "").matchAll(/^bundle ((?:_wildcard\.)?[a-z0-9.-]+) ([A-Za-z0-9+/=]+)$/gm)) out[m[1]] = m[2];
  return out;
}
