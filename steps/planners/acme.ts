/** ACME's steps (owner `acme`): certbot's package, the TSIG/EAB secrets, carried-over bundles, the certificates, their export. */
import { SiteSpec, allSites } from "../../model/site";
import { hostPaths } from "../../model/platforms";
import { records, values, wire } from "../../render/wire";
import { certbotRenewalDropIn } from "../remote-scripts";
import { acmeDomains, blockLines, kvPayload } from "../payloads";
import { Planned, Step } from "../step";
import { proxyFacts } from "./proxy";

/**
 * `acmeImportPayload` (carryOverImportPayload, secret): the bundles acme-import pushes with
 * carry-over on. `acmeSecretsPayload` (acmeSecretsPayload, secret): the TSIG and EAB keys' files,
 * needed when the site uses dns-01 or External Account Binding.
 */
export function acmeSteps<P>(site: SiteSpec, acmeImportPayload: string | P, acmeSecretsPayload: string | P | undefined): Planned<P> {
  if (!site.acme) return { steps: [] };
  const steps: Step<P>[] = [];
  const add = (step: Step<P>) => steps.push(step);
  add({
    name: "certbot-packages",
    owner: "acme",
    script: "packages",
    payload: kvPayload({
      set: "certbot",
      manager: site.platform.packageManager,
      // The repository first (EPEL on RHEL 9), in its own transaction: its packages are not
      // visible to the package manager before it is installed.
      ...(site.platform.certbot.repositoryPackages.length ? { repositories: site.platform.certbot.repositoryPackages.join(" ") } : {}),
      ...(site.platform.certbot.repositoryHint ? { repository_hint: site.platform.certbot.repositoryHint } : {}),
      // The RFC 2136 plugin only when a certificate uses dns-01.
      packages: [...site.platform.certbot.packages, ...(site.acme.dns ? site.platform.certbot.dnsRfc2136Packages : [])].join(" "),
      service: site.platform.certbot.renewalTimer,
      leftovers: "",
      conflicts: "",
    }),
    secret: false,
    after: ["preflight"],
  });
  const domains = acmeDomains(site);
  const needsSecrets = site.acme.dns !== undefined || site.acme.eabKeyId !== undefined;
  if (needsSecrets) {
    if (acmeSecretsPayload === undefined) throw new Error("dns-01 or External Account Binding is on but no ACME secrets payload was given");
    // The TSIG key and the EAB in root 0600 files certbot reads (render/acme.ts); before certbot,
    // and undone after it (renewals read the credentials file until the lineages are gone).
    add({ name: "acme-secrets", owner: "acme", script: "files", payload: acmeSecretsPayload, secret: true, after: ["preflight"] });
  }
  if (site.acme.carryOver) {
    // Before certbot: stages the carried-over bundles, which certbot.sh unpacks instead of ordering.
    add({ name: "acme-import", owner: "acme", script: "acme-carry-over", payload: acmeImportPayload, secret: true, after: ["preflight"] });
  }
  add({
    name: "acme-certificates",
    owner: "acme",
    script: "certbot",
    payload:
      kvPayload({
        server: site.acme.directoryUrl,
        email: site.acme.email,
        webroot: hostPaths.acmeWebroot,
        reload: proxyFacts(site).service,
        revoke: String(site.acme.revokeOnDestroy),
        system_ca_bundle: site.platform.certbot.systemCaBundle,
        renewal_dropin: certbotRenewalDropIn(site.platform),
        ...(site.acme.dns ? { dns_credentials: hostPaths.acmeDnsCredentials, dns_propagation: String(site.acme.dns.propagationSeconds) } : {}),
        ...(site.acme.eabKeyId !== undefined ? { eab_config: hostPaths.acmeEabConfig } : {}),
      }) +
      // One lineage per site: its name, how it is validated, and every name it covers.
      allSites(site)
        .filter((s) => s.certificate === "acme")
        .map((s) => wire(records("lineage", [[s.certificateName, `${s.acmeChallenge}`, ...s.names]])))
        .join("") +
      (site.acme.caBundlePem ? blockLines(site.acme.caBundlePem) : ""),
    secret: false,
    // proxy-http: the port-80 vhost answers the HTTP-01 challenges.
    after: ["certbot-packages", "proxy-http", ...(needsSecrets ? ["acme-secrets"] : []), ...(site.acme.carryOver ? ["acme-import"] : [])],
  });
  if (site.acme.carryOver) {
    // Reads the lineages back (secret output) for the acmeCarryOver stack output.
    add({
      name: "acme-export",
      owner: "acme",
      script: "acme-carry-over",
      payload: wire(values({ action: "export" }), records("domain", domains.map((d) => [d]))),
      secret: true,
      after: ["acme-certificates"],
    });
  }
  return { steps, neededByVhosts: "acme-certificates" };
}
