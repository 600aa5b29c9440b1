/**
 * SiteSpec → the ordered remote steps that realise it. Pure: no Pulumi, no I/O but reading the
 * committed scripts. The components turn each step into a remote.Command; the host test tier runs the
 * very same steps over SSH without the engine.
 */
import { SiteSpec, allSites } from "../model/site";
import { hostPaths } from "../model/platforms";
import { renderNginx } from "../render/nginx";
import { apacheModules, renderApache } from "../render/apache";
import { renderHubBlock } from "../render/hub-config";
import { ProxyFiles, RenderedFile, filesPayload } from "../render/files";
import { files as fileEntries, records, text, values, wire } from "../render/wire";
import { needsDhparam } from "../render/tls-policy";
import { certbotRenewalDropIn, installedScript, scriptBundle } from "./remote-scripts";
import { selinuxPayload } from "./selinux";
import { renderCapacity, serviceUnit } from "../render/capacity";
import { acmeSecretFiles, AcmeSecretValues } from "../render/acme";
import { fail2banJailPayload } from "../render/brute-force";

/**
 * The step scripts, scripts/remote/<name>.sh (a test keeps this list and the directory equal), and
 * `install`, the plan's first step, which puts them on the host (steps/remote-scripts.ts).
 */
export const scriptNames = ["install", "preflight", "packages", "files", "web-roots", "hub-managed-block", "apache-modules", "certbot", "dhparam", "selinux", "firewall", "capacity", "acme-carry-over"] as const;
export type ScriptName = (typeof scriptNames)[number];

export interface Step<P = string> {
  /** Unique, stable: becomes the resource name suffix and the record name on the host. */
  name: string;
  script: ScriptName;
  /** What the script reads on stdin; a secret payload stays secret in state and preview. */
  payload: string | P;
  secret: boolean;
  /** Names of steps that must be applied before this one (and undone after it). */
  after: string[];
  /**
   * When this value changes the step is replaced, undo first (delete-before-replace): switching
   * proxies must take the old one's files and ports away before the new one starts.
   */
  replaceOn?: string;
  /**
   * When this value changes the step is replaced the other way round: the new version is applied
   * first and the old one undone at the end of the update (the install step: steps still being
   * undone with the old scripts must find them).
   */
  newVersionOn?: string;
}

/** PEM material of one domain's certificate, as pushed to the host. */
export interface CertificateMaterial {
  domain: string;
  /** Leaf first, then intermediates (what the proxies call the full chain). */
  fullchainPem: string;
  privateKeyPem: string;
}

/**
 * The command line run over SSH: a short identity — the installed script (named by its content
 * hash), the step, the mode — never script text, so previews, state and errors stay readable. The
 * install step itself reads its scripts on stdin. `sudo -n` for non-root users: no tty, so no
 * password prompts.
 */
export function remoteCommand(step: Pick<Step, "name" | "script">, mode: "apply" | "undo", user: string): string {
  const cmd = step.script === "install" ? `bash -s ${step.name} ${mode}` : `bash ${installedScript(step.script).path} ${step.name} ${mode}`;
  return user === "root" ? cmd : `sudo -n ${cmd}`;
}

/** The plan's first step: the scripts, installed on the host once per version (install.sh). */
export function installStep<P>(): Step<P> {
  const bundle = scriptBundle();
  return { name: "scripts", script: "install", payload: bundle.text, secret: false, after: [], newVersionOn: bundle.id };
}

export function proxyFiles(site: SiteSpec): ProxyFiles {
  return site.proxy === "nginx" ? renderNginx(site) : renderApache(site);
}

function proxyFacts(site: SiteSpec) {
  return site.proxy === "nginx" ? site.platform.nginx : site.platform.apache;
}

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

export function kvPayload(entries: Record<string, string>): string {
  return wire(values(entries));
}

export function hubHealthUrl(site: SiteSpec): { url: string; socket?: string } {
  const up = site.hub.upstream;
  return up.kind === "tcp"
    ? { url: `${up.origin}${site.hub.path}hub/health` }
    : { url: `http://localhost${site.hub.path}hub/health`, socket: up.socketPath };
}

/**
 * Directories several steps may create — both proxies' packages (/var/www/html, /var/www), and the
 * certificate, certbot and dhparam steps (/etc/jupyterhub-edge) — deepest first.
 */
function sharedDirs(site: SiteSpec): string[] {
  const all = [...site.platform.nginx.purgeLeftovers, ...site.platform.apache.purgeLeftovers, hostPaths.configDir].filter((p) => !/\.[a-z]+$/.test(p));
  return [...new Set(all)].sort((a, b) => b.split("/").length - a.split("/").length);
}

/** Domains whose certificate files the program pushes (selfSigned and provided). */
export function pushedCertificateDomains(site: SiteSpec): string[] {
  return allSites(site).filter((s) => s.certificate !== "acme").map((s) => s.domain);
}

/** `|`-prefixed lines of a text block, as the scripts read them. */
const blockLines = (block: string): string => wire(text(block));

/**
 * The steps for a site, in dependency order. `certificatePayload` is the (secret) files payload of
 * the pushed certificates (`certificatePayload()` of Pulumi outputs or test PEMs); unused when every
 * domain uses ACME. `htpasswdPayload` (render/split-auth.ts, secret) is needed with split auth on.
 * `acmeImportPayload` (`carryOverImportPayload()`, secret): the bundles acme-import pushes with
 * carry-over on; default none. `acmeSecretsPayload` (`acmeSecretsPayload()`, secret): the TSIG and
 * EAB keys' files, needed when the site uses dns-01 or External Account Binding.
 */
export function planSteps<P>(
  site: SiteSpec,
  certificatePayload: string | P,
  htpasswdPayload?: string | P,
  acmeImportPayload: string | P = carryOverImportPayload({}),
  acmeSecretsPayload?: string | P,
): Step<P>[] {
  const facts = proxyFacts(site);
  const other = site.proxy === "nginx" ? site.platform.apache : site.platform.nginx;
  const files = proxyFiles(site);
  const steps: Step<P>[] = [];
  const add = (step: Step<P>) => steps.push(step);

  add(installStep<P>());
  add({
    name: "preflight",
    script: "preflight",
    payload: kvPayload({
      platform: site.platform.id,
      os_id: site.platform.osRelease.id,
      os_version: site.platform.osRelease.versionId,
      version_match: site.platform.osRelease.versionMatch,
      package_manager: site.platform.packageManager,
      // Deepest first. Either proxy's package may create them, and a proxy switch hands them over.
      shared_dirs: sharedDirs(site).join(" "),
    }),
    secret: false,
    after: ["scripts"],
  });
  add({
    name: "proxy-packages",
    script: "packages",
    payload: kvPayload({
      set: site.proxy,
      manager: site.platform.packageManager,
      packages: facts.packages.join(" "),
      service: facts.service,
      leftovers: facts.purgeLeftovers.join(" "),
      // The other proxy, if it runs, holds 80/443: stopped while ours serves, started on undo.
      conflicts: other.service,
    }),
    secret: false,
    after: ["preflight"],
    replaceOn: site.proxy,
  });
  add({
    name: "web-roots",
    script: "web-roots",
    // The ACME webroot (answered on port 80 for every domain) and each extra site's root.
    payload: wire(records("acme", [[hostPaths.acmeWebroot]]), records("root", site.extraSites.map((s) => [s.root, s.domain]))),
    secret: false,
    // After the packages: a web root under /var/www must not race the package creating /var/www,
    // or neither would know to remove it on destroy.
    after: ["proxy-packages"],
  });
  const rateLimit = site.platform.apache.loginRateLimit;
  if (site.proxy === "apache" && site.bruteForce && rateLimit.kind === "mod_qos") {
    // The login rate limit's module (model/platforms.ts), its own package set: undo purges it only
    // if this step installed it, without touching Apache's unit or our vhosts (a module, not a
    // server: `module` in the payload). Its own step, so that turning the protection off removes it.
    add({
      name: "rate-limit-packages",
      script: "packages",
      payload: kvPayload({
        set: "apache-rate-limit",
        manager: site.platform.packageManager,
        packages: rateLimit.packages.join(" "),
        service: site.platform.apache.service,
        module: "yes",
        leftovers: "",
        conflicts: "",
      }),
      secret: false,
      after: ["proxy-packages"],
    });
  }
  if (site.proxy === "apache") {
    add({
      name: "apache-modules",
      script: "apache-modules",
      payload: kvPayload({
        modules: apacheModules(site).join(" "),
        mechanism: site.platform.apache.modules.kind,
        service: site.platform.apache.service,
        configtest: site.platform.apache.configTest,
        ...(site.platform.apache.modules.kind === "conf.modules.d"
          ? { modules_dir: site.platform.apache.modules.dir, module_libraries: site.platform.apache.modules.libraryDirs.join(" ") }
          : { mods_available: site.platform.apache.modules.availableDir, mods_enabled: site.platform.apache.modules.enabledDir }),
      }),
      secret: false,
      after: ["proxy-packages", ...(steps.some((st) => st.name === "rate-limit-packages") ? ["rate-limit-packages"] : [])],
    });
  }
  // ---- SELinux: before the proxy serves anything (it must reach the hub and read the web roots),
  // after the web roots exist. Files written later (certificates) get their labels from the
  // file-context rules this step adds: the files step restorecons what it writes.
  if (site.selinux !== "off") {
    add({ name: "selinux", script: "selinux", payload: selinuxPayload(site), secret: false, after: ["proxy-packages", "web-roots"] });
  }
  if (site.platform.firewall === "firewalld") {
    // Port 80 must be reachable before certbot's HTTP-01 challenge; the HTTPS port with it.
    add({
      name: "firewall",
      script: "firewall",
      payload: kvPayload({ firewall: site.platform.firewall, ports: [...new Set([80, site.httpsPort])].map((p) => `${p}/tcp`).join(" ") }),
      secret: false,
      after: ["preflight"],
    });
  }
  add({
    name: "proxy-capacity",
    script: "capacity",
    payload: capacityPayload(site),
    secret: false,
    // Before any vhost: the limits are in place before the first user connects, and an Apache
    // restart for new MPM limits never cuts live websockets at the first `up`.
    after: site.proxy === "apache" ? ["proxy-packages", "apache-modules"] : ["proxy-packages"],
    replaceOn: site.proxy,
  });
  // Port 80 first: redirects, and the ACME challenges certbot needs answered before any HTTPS
  // vhost can name its certificate.
  add({
    name: "proxy-http",
    script: "files",
    payload: `after ${facts.service}\n` + filesPayload([files.http]),
    secret: false,
    after: steps.filter((s) => !["scripts", "preflight"].includes(s.name)).map((s) => s.name),
    replaceOn: site.proxy,
  });
  const beforeConfig: string[] = [];
  if (pushedCertificateDomains(site).length > 0) {
    add({ name: "tls-files", script: "files", payload: certificatePayload, secret: true, after: ["preflight"] });
    beforeConfig.push("tls-files");
  }
  if (site.acme) {
    add({
      name: "certbot-packages",
      script: "packages",
      payload: kvPayload({
        set: "certbot",
        manager: site.platform.packageManager,
        // The repository first (EPEL on RHEL 9), in its own transaction: its packages are not
        // visible to the package manager before it is installed.
        ...(site.platform.certbot.repositoryPackages.length ? { repositories: site.platform.certbot.repositoryPackages.join(" ") } : {}),
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
      add({ name: "acme-secrets", script: "files", payload: acmeSecretsPayload, secret: true, after: ["preflight"] });
    }
    if (site.acme.carryOver) {
      // Before certbot: stages the carried-over bundles, which certbot.sh unpacks instead of ordering.
      add({ name: "acme-import", script: "acme-carry-over", payload: acmeImportPayload, secret: true, after: ["preflight"] });
    }
    add({
      name: "acme-certificates",
      script: "certbot",
      payload:
        kvPayload({
          server: site.acme.directoryUrl,
          email: site.acme.email,
          webroot: hostPaths.acmeWebroot,
          reload: facts.service,
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
      after: ["certbot-packages", "proxy-http", ...(needsSecrets ? ["acme-secrets"] : []), ...(site.acme.carryOver ? ["acme-import"] : [])],
    });
    if (site.acme.carryOver) {
      // Reads the lineages back (secret output) for the acmeCarryOver stack output.
      add({
        name: "acme-export",
        script: "acme-carry-over",
        payload: wire(values({ action: "export" }), records("domain", domains.map((d) => [d]))),
        secret: true,
        after: ["acme-certificates"],
      });
    }
    beforeConfig.push("acme-certificates");
  }
  if (needsDhparam(site)) {
    add({
      name: "dhparam",
      script: "dhparam",
      payload: kvPayload({ path: hostPaths.dhparam, bits: String(site.tls.dhparamBits) }),
      secret: false,
      after: ["preflight"],
    });
    beforeConfig.push("dhparam");
  }
  if (site.splitAuth) {
    if (htpasswdPayload === undefined) throw new Error("split auth is on but no htpasswd payload was given");
    // Before the vhost that names it (a missing user file would make the hub's pages answer 500);
    // removed after the vhost stops naming it. Changing a password rewrites it and reloads.
    add({ name: "split-auth-users", script: "files", payload: htpasswdPayload, secret: true, after: ["preflight", "proxy-packages"] });
    beforeConfig.push("split-auth-users");
  }
  add({
    name: "proxy-config",
    script: "files",
    // `handshake`: after the reload, a real TLS handshake on the public port (Apache's configtest
    // does not load certificates, so a passing test can still leave HTTPS broken).
    payload: `after ${facts.service}\nhandshake ${site.httpsPort} ${site.hub.domain}\n` + filesPayload([files.https]),
    secret: false,
    after: ["proxy-http", ...beforeConfig],
    replaceOn: site.proxy,
  });
  if (site.bruteForce) {
    const f2b = site.platform.fail2ban;
    // fail2ban, the distribution's package: undo purges it only if this step installed it (and
    // then its stock jails go with it); a fail2ban that was there is left running as found.
    add({
      name: "fail2ban-packages",
      script: "packages",
      payload: kvPayload({
        set: "fail2ban",
        manager: site.platform.packageManager,
        ...(f2b.repositoryPackages.length ? { repositories: f2b.repositoryPackages.join(" ") } : {}),
        packages: f2b.packages.join(" "),
        service: f2b.service,
        leftovers: f2b.purgeLeftovers.join(" "),
        conflicts: "",
      }),
      secret: false,
      after: ["preflight"],
    });
    // After the vhosts (whose access log the jail reads); undone first: the jail stops, and its
    // nftables table with it, before fail2ban itself goes.
    add({ name: "fail2ban-jail", script: "files", payload: fail2banJailPayload(site), secret: false, after: ["fail2ban-packages", "proxy-config"] });
  }
  if (site.hubConfig.manage) {
    const health = hubHealthUrl(site);
    add({
      name: "hub-bind-url",
      script: "hub-managed-block",
      payload:
        kvPayload({
          config: site.hubConfig.path,
          service: site.hubConfig.service,
          health: health.url,
          ...(health.socket ? { health_socket: health.socket } : {}),
        }) + blockLines(renderHubBlock(site)),
      secret: false,
      after: ["proxy-config"],
    });
  }
  checkOrder(steps);
  return steps;
}

/** Every step but the first runs after some earlier step, so none can run before the scripts are installed. */
function checkOrder(steps: Step<unknown>[]): void {
  steps.forEach((step, i) => {
    for (const dep of step.after) {
      if (!steps.slice(0, i).some((s) => s.name === dep)) throw new Error(`step ${step.name}: '${dep}' must be an earlier step`);
    }
    if (i > 0 && step.after.length === 0) throw new Error(`step ${step.name} must run after another step (at least after 'scripts')`);
  });
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
  return wire(values({ after: "none" }), fileEntries(certificateFiles(site, material)));
}


/** The lineage names of the certificates that come from ACME (the domain; `_wildcard.<rest>` for `*.<rest>`). */
export function acmeDomains(site: SiteSpec): string[] {
  return allSites(site).filter((s) => s.certificate === "acme").map((s) => s.certificateName);
}

/** The acme-secrets payload (secret): the TSIG credentials and EAB files certbot reads. */
export function acmeSecretsPayload(site: SiteSpec, secrets: AcmeSecretValues): string {
  return wire(values({ after: "none" }), fileEntries(acmeSecretFiles(site, secrets)));
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
