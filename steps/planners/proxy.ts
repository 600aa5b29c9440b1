/**
 * The reverse proxy's steps (owner `proxy`): before any certificate, its packages, web roots,
 * modules, SELinux rules, firewall, capacity sizing and the port-80 vhost (`proxyBaseSteps`); the
 * dhparam; and once everything the HTTPS vhosts name exists, the HTTPS vhosts (`proxyConfigStep`).
 */
import { SiteSpec } from "../../model/site";
import { hostPaths } from "../../model/platforms";
import { renderNginx } from "../../render/nginx";
import { apacheModules, renderApache } from "../../render/apache";
import { ProxyFiles, fileSetPayload } from "../../render/files";
import { records, wire } from "../../render/wire";
import { needsDhparam } from "../../render/tls-policy";
import { selinuxPayload } from "../selinux";
import { capacityPayload, kvPayload } from "../payloads";
import { Planned, Step } from "../step";

export function proxyFiles(site: SiteSpec): ProxyFiles {
  return site.proxy === "nginx" ? renderNginx(site) : renderApache(site);
}

export function proxyFacts(site: SiteSpec) {
  return site.proxy === "nginx" ? site.platform.nginx : site.platform.apache;
}

/** From the packages to the port-80 vhost (`files`: proxyFiles(site)), in this order. */
export function proxyBaseSteps<P>(site: SiteSpec, files: ProxyFiles): Step<P>[] {
  const rateLimit = rateLimitStep<P>(site);
  const before: Step<P>[] = [
    packagesStep<P>(site),
    webRootsStep<P>(site),
    ...(rateLimit ? [rateLimit] : []),
    ...(site.proxy === "apache" ? [apacheModulesStep<P>(site, rateLimit !== undefined)] : []),
    ...(site.selinux !== "off" ? [selinuxStep<P>(site)] : []),
    ...(site.platform.firewall === "firewalld" ? [firewallStep<P>(site)] : []),
    capacityStep<P>(site),
  ];
  return [...before, httpStep<P>(site, files, before)];
}

function packagesStep<P>(site: SiteSpec): Step<P> {
  const facts = proxyFacts(site);
  const other = site.proxy === "nginx" ? site.platform.apache : site.platform.nginx;
  return {
    name: "proxy-packages",
    owner: "proxy",
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
  };
}

function webRootsStep<P>(site: SiteSpec): Step<P> {
  return {
    name: "web-roots",
    owner: "proxy",
    script: "web-roots",
    // The ACME webroot (answered on port 80 for every domain) and each extra site's root.
    payload: wire(records("acme", [[hostPaths.acmeWebroot]]), records("root", site.extraSites.map((s) => [s.root, s.domain]))),
    secret: false,
    // After the packages: a web root under /var/www must not race the package creating /var/www,
    // or neither would know to remove it on destroy.
    after: ["proxy-packages"],
  };
}

function rateLimitStep<P>(site: SiteSpec): Step<P> | undefined {
  const rateLimit = site.platform.apache.loginRateLimit;
  if (!(site.proxy === "apache" && site.bruteForce && rateLimit.kind === "mod_qos")) return undefined;
  // The login rate limit's module (model/platforms.ts), its own package set: undo purges it only
  // if this step installed it, without touching Apache's unit or our vhosts (a module, not a
  // server: `module` in the payload). Its own step, so that turning the protection off removes it.
  return {
    name: "rate-limit-packages",
    owner: "proxy",
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
  };
}

function apacheModulesStep<P>(site: SiteSpec, afterRateLimit: boolean): Step<P> {
  return {
    name: "apache-modules",
    owner: "proxy",
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
    after: ["proxy-packages", ...(afterRateLimit ? ["rate-limit-packages"] : [])],
  };
}

/**
 * SELinux: before the proxy serves anything (it must reach the hub and read the web roots), after
 * the web roots exist. Files written later (certificates) get their labels from the file-context
 * rules this step adds: the files step restorecons what it writes.
 */
function selinuxStep<P>(site: SiteSpec): Step<P> {
  return { name: "selinux", owner: "proxy", script: "selinux", payload: selinuxPayload(site), secret: false, after: ["proxy-packages", "web-roots"] };
}

function firewallStep<P>(site: SiteSpec): Step<P> {
  // Port 80 must be reachable before certbot's HTTP-01 challenge; the HTTPS port with it.
  return {
    name: "firewall",
    owner: "proxy",
    script: "firewall",
    payload: kvPayload({ firewall: site.platform.firewall, ports: [...new Set([80, site.httpsPort])].map((p) => `${p}/tcp`).join(" ") }),
    secret: false,
    after: ["preflight"],
  };
}

function capacityStep<P>(site: SiteSpec): Step<P> {
  return {
    name: "proxy-capacity",
    owner: "proxy",
    script: "capacity",
    payload: capacityPayload(site),
    secret: false,
    // Before any vhost: the limits are in place before the first user connects, and an Apache
    // restart for new MPM limits never cuts live websockets at the first `up`.
    after: site.proxy === "apache" ? ["proxy-packages", "apache-modules"] : ["proxy-packages"],
    replaceOn: site.proxy,
  };
}

/**
 * Port 80 first: redirects, and the ACME challenges certbot needs answered before any HTTPS vhost
 * can name its certificate. After every proxy step `before` it.
 */
function httpStep<P>(site: SiteSpec, files: ProxyFiles, before: Step<P>[]): Step<P> {
  const facts = proxyFacts(site);
  return {
    name: "proxy-http",
    owner: "proxy",
    script: "files",
    payload: fileSetPayload(facts.service, [files.http]),
    secret: false,
    // After every step above (the host's two excepted, which they follow already).
    after: before.map((s) => s.name),
    replaceOn: site.proxy,
  };
}

/** The DHE parameters the HTTPS vhosts name, generated once per host. */
export function dhparamSteps<P>(site: SiteSpec): Planned<P> {
  if (!needsDhparam(site)) return { steps: [] };
  return {
    steps: [
      {
        name: "dhparam",
        owner: "proxy",
        script: "dhparam",
        payload: kvPayload({ path: hostPaths.dhparam, bits: String(site.tls.dhparamBits) }),
        secret: false,
        after: ["preflight"],
      },
    ],
    neededByVhosts: "dhparam",
  };
}

/** The HTTPS vhosts, after the port-80 vhost and `needed`: the steps making the files they name. */
export function proxyConfigStep<P>(site: SiteSpec, files: ProxyFiles, needed: string[]): Step<P> {
  return {
    name: "proxy-config",
    owner: "proxy",
    script: "files",
    // `handshake`: after the reload, a real TLS handshake on the public port (Apache's configtest
    // does not load certificates, so a passing test can still leave HTTPS broken).
    payload: fileSetPayload(proxyFacts(site).service, [files.https], { port: site.httpsPort, servername: site.hub.domain }),
    secret: false,
    after: ["proxy-http", ...needed],
    replaceOn: site.proxy,
  };
}
