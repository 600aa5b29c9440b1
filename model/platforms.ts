/**
 * Distro differences, as data, in one place. Renderers and steps read these facts; nothing else in
 * the project branches on a distro name. Add a platform by adding a row.
 */

export type PlatformId =
  | "debian-13"
  | "debian-12"
  | "ubuntu-24.04"
  | "ubuntu-22.04"
  | "rhel-9"
  | "rocky-9"
  | "alma-9"
  | "fedora-41"
  | "fedora-42"
  | "fedora-43";

/** What a proxy's packages are, and what their purge leaves behind that was not there before. */
interface PackageFacts {
  /** The platform's package(s) that provide the server (installed with its package manager). */
  packages: string[];
  /**
   * Paths the packages' install scripts create and their removal (`apt-get purge`, `dnf remove`) does
   * not remove (deepest first).
   * The packages step removes those of them that did not exist before it installed anything.
   */
  purgeLeftovers: string[];
}

export interface NginxFacts extends PackageFacts {
  service: string;
  /** The unprivileged user and group nginx's workers run as (what must be able to read web roots). */
  user: string;
  group: string;
  /** Upstream version shipped by the platform; decides syntax (see `http2Directive`). */
  version: string;
  /**
   * nginx ≥ 1.25.1 wants `http2 on;` in the server block and warns about (later: rejects) `http2` on
   * the listen line; older nginx has only the listen-line form.
   */
  http2Directive: "listen-flag" | "server-directive";
  /** Directory whose `*.conf` files the stock nginx.conf includes in the http{} context. */
  confDir: string;
  /** The distro's access log (kept, so its logrotate rule still applies; our servers write it masked). */
  accessLog: string;
  /** The distro's error log. */
  errorLog: string;
  /** The config test, as an argv (run by the remote scripts, never through a shell). */
  configTestCommand: string[];
}

export interface ApacheFacts extends PackageFacts {
  service: string;
  version: string;
  /** The user and group Apache's workers run as. */
  user: string;
  group: string;
  /**
   * Directory whose `*.conf` files the stock configuration includes: Debian's sites-enabled (regular
   * files there, so `a2ensite` state is never ours to track), RHEL's conf.d.
   */
  confDir: string;
  /** The config test command (`apache2ctl` on Debian, `apachectl` on RHEL): run as `<it> configtest`. */
  configTest: "apache2ctl" | "apachectl";
  /**
   * How modules are enabled: Debian's `a2enmod` (mods-available → mods-enabled); RHEL has no a2enmod
   * — packages drop `LoadModule` files into conf.modules.d, and a module that is not loaded gets a
   * `LoadModule` line in a file of our own there.
   */
  modules:
    | { kind: "a2enmod"; /** a2enmod's source and target of `<module>.load` links */ availableDir: string; enabledDir: string }
    | { kind: "conf.modules.d"; dir: string; /** Where the packages' `mod_<name>.so` files are (any of them). */ libraryDirs: string[] };
  /** Runtime directory for server-wide caches (OCSP stapling); Debian's envvars define APACHE_RUN_DIR. */
  runDir: string;
  /**
   * `ProxyPass … upgrade=websocket` exists from Apache 2.4.47; older releases need mod_proxy_wstunnel
   * and a RewriteRule on the Upgrade header.
   */
  websocketMode: "proxypass-upgrade" | "wstunnel-rewrite";
  /**
   * Environment variable through which Debian's apache2ctl sets the server's open-files limit
   * (`ulimit -n 8192` by default, below the service's LimitNOFILE).
   */
  ulimitEnvironment?: string;
  /** The distro's access log (see NginxFacts.accessLog), as Apache's config writes it. */
  accessLog: string;
  /** The same file as a plain path (no Apache variables): what fail2ban reads. */
  accessLogPath: string;
  /**
   * The login rate limit's module (model/brute-force.ts): the distribution's mod_qos package and
   * the module it loads, or why this platform has none (then fail2ban alone guards the login).
   */
  loginRateLimit: ApacheRateLimitFacts;
}

/**
 * mod_qos (QS_CondClientEventLimitCount: events per client address in a fixed window, request
 * level, works with the event MPM) as the platform ships it; `none` with the reason otherwise.
 */
export type ApacheRateLimitFacts =
  | { kind: "mod_qos"; packages: string[]; module: string; version: string }
  | { kind: "none"; reason: string };

/**
 * fail2ban, the distribution's package: bans sources whose failed logins fill the proxy's access
 * log, through the host's own firewall (nftables).
 */
export interface Fail2banFacts {
  /** fail2ban itself, the nft tool its nftables action calls, and what its stock jails need to start. */
  packages: string[];
  /** Packages that enable the repository fail2ban comes from (EPEL on RHEL 9), installed first. */
  repositoryPackages: string[];
  /** What to enable by hand when those packages cannot be installed (the packages step's error says it). */
  repositoryHint?: string;
  service: string;
  /** The ban action (action.d/<name>.conf): rules in fail2ban's own nftables table, both families. */
  banaction: string;
  /** Where the jail and filter files go (read by the stock jail.conf / fail2ban.conf). */
  jailDir: string;
  filterDir: string;
  /** What the packages' purge leaves behind (deepest first). */
  purgeLeftovers: string[];
  /** Parses every jail and filter as the server would (a broken regex fails here, not at reload). */
  configTestCommand: string[];
  /**
   * The stock sshd jail must read sshd's journal for fail2ban to start at all: Debian 12's reads
   * /var/log/auth.log, which a Debian 12 without rsyslog does not have, and fail2ban refuses to start
   * (or test) while any enabled jail lacks its log. Debian 13 ships the journal settings itself.
   */
  sshdJournalMatch?: string;
}

export interface CertbotFacts {
  /** Packages that provide certbot (with its webroot plugin). */
  packages: string[];
  /** certbot's RFC 2136 (DNS-01) plugin, installed only when a certificate uses dns-01. */
  dnsRfc2136Packages: string[];
  /**
   * Packages that enable the repository certbot comes from (EPEL on RHEL 9 and its rebuilds),
   * installed first; like every package the program adds, removed again on destroy.
   */
  repositoryPackages: string[];
  /** What to enable by hand when those packages cannot be installed (the packages step's error says it). */
  repositoryHint?: string;
  /** The distro's renewal timer: Debian enables `certbot.timer`; Fedora/EPEL ship `certbot-renew.timer` disabled. */
  renewalTimer: string;
  /** The service the timer starts: a private ACME CA's trust goes into its drop-in. */
  renewalService: string;
  /** The system's CA bundle: with a private ACME CA, certbot trusts this file plus that CA. */
  systemCaBundle: string;
}

export interface PlatformFacts {
  id: PlatformId;
  /**
   * What /etc/os-release says (`ID`, `VERSION_ID`); preflight refuses any other host. `major`: only
   * VERSION_ID's major number must match (RHEL says 9.4, 9.5 … for the one platform rhel-9).
   */
  osRelease: { id: string; versionId: string; versionMatch: "exact" | "major" };
  /** The package manager the remote scripts drive (they branch on this value, never on a guess). */
  packageManager: "apt" | "dnf";
  /** A host firewall whose ports the program opens (80 + HTTPS) and closes again on destroy. */
  firewall: "none" | "firewalld";
  nginx: NginxFacts;
  apache: ApacheFacts;
  certbot: CertbotFacts;
  fail2ban: Fail2banFacts;
  /** The TLS library the proxies link against; both platforms here have OpenSSL ≥ 3.0 (TLS 1.3). */
  openssl: string;
  /** Inputs of the capacity formula (model/capacity.ts) and where its files go. */
  capacity: CapacityFacts;
}

/** Capacity facts: stock limits (the floor), measured memory cost, where the sizing lives. */
export interface CapacityFacts {
  /** Open files each proxy process keeps for itself (listen sockets, logs, temp files). */
  reservedFiles: number;
  /** Host memory assumed when the stack declares no hostMemoryMb (a small cloud VM). */
  assumedMemoryMb: number;
  /** Share of the host's memory the proxy may take at full load; the hub and kernels need the rest. */
  memoryShare: number;
  /** Where systemd drop-ins for a unit go: `<dir>/<unit>.service.d/`. */
  systemdDropInDir: string;
  nginx: {
    /** Main config, whose top level holds worker_processes and events{} (Debian sets both). */
    mainConfig: string;
    /** The managed file with the sized main-context settings, included by the main config. */
    managedMainFile: string;
    stockWorkerConnections: number;
    minWorkerProcesses: number;
    /** RSS per held TLS websocket (client + upstream), measured: bench/RESULTS.md. */
    memoryPerConnectionKiB: number;
    baseMemoryMiB: number;
  };
  apache: {
    /** A conf-enabled file is read after mods-enabled/mpm_event.conf, so its MPM settings win. */
    managedConfFile: string;
    stockMaxRequestWorkers: number;
    /**
     * The event MPM's ServerLimit / ThreadLimit when the config sets none (Apache's compiled
     * defaults; Debian's mpm_event.conf sets ThreadLimit 64 and no ServerLimit). The sizing never goes
     * below them, so putting the stock config back (destroy) is a graceful reload, not a restart.
     */
    stockServerLimit: number;
    stockThreadLimit: number;
    /** Threads per child are capped so that a crashed child takes few websockets with it. */
    maxThreadsPerChild: number;
    asyncRequestWorkerFactor: number;
    /** RSS per held TLS websocket (a thread + TLS + both sockets), measured: bench/RESULTS.md. */
    memoryPerConnectionKiB: number;
    baseMemoryMiB: number;
  };
}

// ---- Debian and Ubuntu -------------------------------------------------------------------------
const debianBase: Pick<PlatformFacts, "packageManager" | "firewall" | "certbot" | "fail2ban"> = {
  packageManager: "apt",
  firewall: "none",
  certbot: {
    packages: ["certbot"],
    dnsRfc2136Packages: ["python3-certbot-dns-rfc2136"],
    repositoryPackages: [],
    renewalTimer: "certbot.timer",
    renewalService: "certbot.service",
    systemCaBundle: "/etc/ssl/certs/ca-certificates.crt",
  },
  // Debian's stock sshd jail reads the journal (`backend = systemd`, no auth.log since Debian 12):
  // without python3-systemd (only Recommended on 12, which --no-install-recommends skips)
  // fail2ban does not start at all. nftables: the `nft` tool the ban action runs.
  fail2ban: {
    packages: ["fail2ban", "python3-systemd", "nftables"],
    repositoryPackages: [],
    service: "fail2ban",
    banaction: "nftables-multiport",
    jailDir: "/etc/fail2ban/jail.d",
    filterDir: "/etc/fail2ban/filter.d",
    purgeLeftovers: [],
    configTestCommand: ["fail2ban-client", "--test"],
  },
};
const debianNginxDirs = {
  confDir: "/etc/nginx/conf.d",
  accessLog: "/var/log/nginx/access.log",
  errorLog: "/var/log/nginx/error.log",
  configTestCommand: ["nginx", "-t", "-q"],
  service: "nginx",
  user: "www-data",
  group: "www-data",
  purgeLeftovers: ["/var/www/html/index.nginx-debian.html", "/var/www/html", "/var/www"],
};
// Debian and Ubuntu package nginx and Apache the same way. Memory per held TLS websocket measured on
// Debian 13 (`npm run bench -- --quick`, 2,000 sockets, RSS growth of all the proxy's processes:
// nginx 65.1 KiB, Apache 194.2 KiB; bench/RESULTS-quick.md), rounded up; assumed for the others.
const debianCapacity: CapacityFacts = {
  reservedFiles: 256,
  assumedMemoryMb: 2048,
  memoryShare: 0.5,
  systemdDropInDir: "/etc/systemd/system",
  nginx: {
    mainConfig: "/etc/nginx/nginx.conf",
    managedMainFile: "/etc/nginx/jupyterhub-edge-main.conf",
    stockWorkerConnections: 768,
    minWorkerProcesses: 2,
    memoryPerConnectionKiB: 66,
    baseMemoryMiB: 32,
  },
  apache: {
    managedConfFile: "/etc/apache2/conf-enabled/jupyterhub-edge-capacity.conf",
    stockMaxRequestWorkers: 150,
    stockServerLimit: 16,
    stockThreadLimit: 64,
    maxThreadsPerChild: 500,
    asyncRequestWorkerFactor: 2,
    memoryPerConnectionKiB: 195,
    baseMemoryMiB: 64,
  },
};
const debianApacheDirs: Omit<ApacheFacts, "packages" | "version" | "websocketMode" | "loginRateLimit"> = {
  service: "apache2",
  user: "www-data",
  group: "www-data",
  confDir: "/etc/apache2/sites-enabled",
  configTest: "apache2ctl",
  modules: { kind: "a2enmod", availableDir: "/etc/apache2/mods-available", enabledDir: "/etc/apache2/mods-enabled" },
  runDir: "${APACHE_RUN_DIR}",
  ulimitEnvironment: "APACHE_ULIMIT_MAX_FILES",
  accessLog: "${APACHE_LOG_DIR}/access.log",
  accessLogPath: "/var/log/apache2/access.log",
  purgeLeftovers: ["/var/www/html/index.html", "/var/www/html", "/var/www"],
};
// Debian 13's libapache2-mod-qos 11.76 (maintained again since 2024, upstream release 11.76) loads
// into its Apache 2.4.71 and limits as the render tier and the host tier check. Debian 12's 11.63
// (2019, built against libpcre3) does not load into Debian 12's current Apache (2.4.71-1~deb12u1,
// PCRE2): "Cannot load mod_qos.so: undefined symbol: pcre_free" (seen on a sandbox host).
const debianQos: ApacheRateLimitFacts = { kind: "mod_qos", packages: ["libapache2-mod-qos"], module: "qos", version: "11.76" };
const notVerified = (what: string): ApacheRateLimitFacts => ({
  kind: "none",
  reason: `${what}: not verified on this platform (no host of it here), so fail2ban alone guards the login`,
});

// ---- The RHEL family ----------------------------------------------------------------------------
// From the distributions' package lists (RHEL 9 AppStream, EPEL 9, Fedora updates), not run here:
// RHEL's packages cannot run on this Debian machine. The render tier checks the rendered files
// against this layout (test/render/rhel-layout.test.ts).
const rhelNginx = {
  service: "nginx",
  user: "nginx",
  group: "nginx",
  // The stock /etc/nginx/nginx.conf includes conf.d/*.conf inside http{} (and keeps its own
  // default server on :80, which our name-based server blocks leave alone).
  confDir: "/etc/nginx/conf.d",
  accessLog: "/var/log/nginx/access.log",
  errorLog: "/var/log/nginx/error.log",
  configTestCommand: ["nginx", "-t", "-q"],
  // `dnf remove` takes the package's files; nothing outside them is created.
  purgeLeftovers: [],
};
const rhelApache: Omit<ApacheFacts, "version" | "websocketMode"> = {
  // mod_ssl: TLS (and `Listen 443 https` in conf.d/ssl.conf); mod_http2: h2. proxy, proxy_http,
  // proxy_wstunnel, headers, rewrite and socache_shmcb come with httpd, loaded by conf.modules.d.
  packages: ["httpd", "mod_ssl", "mod_http2"],
  service: "httpd",
  user: "apache",
  group: "apache",
  confDir: "/etc/httpd/conf.d",
  configTest: "apachectl",
  modules: { kind: "conf.modules.d", dir: "/etc/httpd/conf.modules.d", libraryDirs: ["/etc/httpd/modules", "/usr/lib64/httpd/modules"] },
  runDir: "/run/httpd",
  accessLog: "logs/access_log",
  accessLogPath: "/var/log/httpd/access_log",
  purgeLeftovers: [],
  // RHEL 9 and Fedora ship no mod_qos in their own repositories that we could check.
  loginRateLimit: notVerified("mod_qos"),
};
// fail2ban is in EPEL (RHEL 9) and Fedora: the server without the firewalld action package (the
// nftables action talks to the kernel directly, beside firewalld's own table), plus nftables' tool.
const rhelFail2ban: Fail2banFacts = {
  packages: ["fail2ban-server", "nftables"],
  repositoryPackages: [],
  service: "fail2ban",
  banaction: "nftables-multiport",
  jailDir: "/etc/fail2ban/jail.d",
  filterDir: "/etc/fail2ban/filter.d",
  purgeLeftovers: [],
  configTestCommand: ["fail2ban-client", "--test"],
};
// RHEL's nginx.conf has the same top-level worker_processes / events{} (1024 connections); httpd's
// event MPM runs on compiled-in defaults (ServerLimit 16 × 25 threads = 400) and includes conf.d last.
// Memory figures measured on Debian, assumed here.
const rhelCertbot: CertbotFacts = {
  packages: ["certbot", "python3-certbot"],
  dnsRfc2136Packages: ["python3-certbot-dns-rfc2136"],
  repositoryPackages: [],
  renewalTimer: "certbot-renew.timer",
  renewalService: "certbot-renew.service",
  systemCaBundle: "/etc/pki/tls/certs/ca-bundle.crt",
};
const rhelCapacity: CapacityFacts = {
  ...debianCapacity,
  nginx: { ...debianCapacity.nginx, stockWorkerConnections: 1024 },
  apache: { ...debianCapacity.apache, managedConfFile: "/etc/httpd/conf.d/jupyterhub-edge-capacity.conf", stockMaxRequestWorkers: 400 },
};
/** On RHEL itself (not its rebuilds) epel-release is not in the enabled repositories. */
const epelHint = "on RHEL: enable EPEL, see https://docs.fedoraproject.org/en-US/epel/";
const rhel9: Omit<PlatformFacts, "id" | "osRelease"> = {
  packageManager: "dnf",
  firewall: "firewalld",
  // RHEL 9's default nginx stream is 1.20 (listen-line http2); httpd 2.4.62 has upgrade=websocket.
  nginx: { ...rhelNginx, packages: ["nginx"], version: "1.20.1", http2Directive: "listen-flag" },
  apache: { ...rhelApache, version: "2.4.62", websocketMode: "proxypass-upgrade" },
  // certbot is in EPEL, not in RHEL: epel-release (Rocky's and Alma's extras repositories carry it;
  // on RHEL itself EPEL must be enabled first — the packages step says so if epel-release is missing).
  certbot: { ...rhelCertbot, repositoryPackages: ["epel-release"], repositoryHint: epelHint },
  fail2ban: { ...rhelFail2ban, repositoryPackages: ["epel-release"], repositoryHint: epelHint },
  openssl: "3.0",
  capacity: rhelCapacity,
};
const fedora = (version: string, nginx: string, httpd: string, openssl: string): Omit<PlatformFacts, "id"> => ({
  osRelease: { id: "fedora", versionId: version, versionMatch: "exact" },
  packageManager: "dnf",
  firewall: "firewalld",
  nginx: { ...rhelNginx, packages: ["nginx"], version: nginx, http2Directive: "server-directive" },
  apache: { ...rhelApache, version: httpd, websocketMode: "proxypass-upgrade" },
  certbot: rhelCertbot,
  fail2ban: rhelFail2ban,
  openssl,
  capacity: rhelCapacity,
});
const rhelFamily: Record<Extract<PlatformId, `rhel-${string}` | `rocky-${string}` | `alma-${string}` | `fedora-${string}`>, PlatformFacts> = {
  "rhel-9": { id: "rhel-9", osRelease: { id: "rhel", versionId: "9", versionMatch: "major" }, ...rhel9 },
  // Rebuilds of RHEL 9: the same packages and layout; only /etc/os-release's ID differs.
  "rocky-9": { id: "rocky-9", osRelease: { id: "rocky", versionId: "9", versionMatch: "major" }, ...rhel9 },
  "alma-9": { id: "alma-9", osRelease: { id: "almalinux", versionId: "9", versionMatch: "major" }, ...rhel9 },
  "fedora-41": { id: "fedora-41", ...fedora("41", "1.26.3", "2.4.63", "3.2") },
  "fedora-42": { id: "fedora-42", ...fedora("42", "1.28.0", "2.4.63", "3.2") },
  "fedora-43": { id: "fedora-43", ...fedora("43", "1.28.0", "2.4.65", "3.5") },
};

// Debian versions are what the checker roots (scripts/sandbox/checker-root.sh) install today and the
// render tier asserts them; the Ubuntu rows are from the distributions' package lists, not run here.
export const platforms: Record<PlatformId, PlatformFacts> = {
  "debian-13": {
    id: "debian-13",
    osRelease: { id: "debian", versionId: "13", versionMatch: "exact" },
    ...debianBase,
    nginx: { ...debianNginxDirs, packages: ["nginx"], version: "1.26.3", http2Directive: "server-directive" },
    apache: { ...debianApacheDirs, packages: ["apache2"], version: "2.4.71", websocketMode: "proxypass-upgrade", loginRateLimit: debianQos },
    openssl: "3.5",
    capacity: debianCapacity,
  },
  "debian-12": {
    id: "debian-12",
    osRelease: { id: "debian", versionId: "12", versionMatch: "exact" },
    ...debianBase,
    nginx: { ...debianNginxDirs, packages: ["nginx"], version: "1.22.1", http2Directive: "listen-flag" },
    apache: {
      ...debianApacheDirs,
      packages: ["apache2"],
      version: "2.4.68",
      websocketMode: "proxypass-upgrade",
      loginRateLimit: { kind: "none", reason: "Debian 12's libapache2-mod-qos 11.63 does not load into its current Apache (undefined symbol pcre_free), so fail2ban alone guards the login" },
    },
    // What Debian 13's defaults-debian.conf says for sshd (the unit is ssh.service on Debian).
    fail2ban: { ...debianBase.fail2ban, sshdJournalMatch: "_SYSTEMD_UNIT=ssh.service + _COMM=sshd" },
    openssl: "3.0",
    capacity: debianCapacity,
  },
  "ubuntu-24.04": {
    id: "ubuntu-24.04",
    osRelease: { id: "ubuntu", versionId: "24.04", versionMatch: "exact" },
    ...debianBase,
    nginx: { ...debianNginxDirs, packages: ["nginx"], version: "1.24.0", http2Directive: "listen-flag" },
    apache: { ...debianApacheDirs, packages: ["apache2"], version: "2.4.58", websocketMode: "proxypass-upgrade", loginRateLimit: notVerified("libapache2-mod-qos") },
    openssl: "3.0",
    capacity: debianCapacity,
  },
  "ubuntu-22.04": {
    id: "ubuntu-22.04",
    osRelease: { id: "ubuntu", versionId: "22.04", versionMatch: "exact" },
    ...debianBase,
    nginx: { ...debianNginxDirs, packages: ["nginx"], version: "1.18.0", http2Directive: "listen-flag" },
    apache: { ...debianApacheDirs, packages: ["apache2"], version: "2.4.52", websocketMode: "proxypass-upgrade", loginRateLimit: notVerified("libapache2-mod-qos") },
    openssl: "3.0",
    capacity: debianCapacity,
  },
  // ---- The RHEL family ------------------------------------------------------------------------
  ...rhelFamily,
};

export const platformIds = Object.keys(platforms) as PlatformId[];

/** Where the project keeps its own state on a host (manifests, backups, ACME webroot). */
export const hostPaths = {
  stateDir: "/var/lib/jupyterhub-edge",
  /** The remote scripts, each under its content hash (steps/remote-scripts.ts). */
  installRoot: "/usr/local/lib/jupyterhub-edge",
  /** Held by every step while it runs: one step at a time on a host (scripts/remote/lib.sh). */
  stepLock: "/run/lock/jupyterhub-edge.lock",
  /** Outside the 0700 state directory: the proxy's workers must read challenge files here. */
  acmeWebroot: "/var/lib/jupyterhub-edge-acme",
  configDir: "/etc/jupyterhub-edge",
  tlsDir: "/etc/jupyterhub-edge/tls",
  letsencryptLive: "/etc/letsencrypt/live",
  /** Generated once per host when DHE is offered; never regenerated by a later `up`. */
  dhparam: "/etc/jupyterhub-edge/dhparam.pem",
  /** Split auth's users (bcrypt for given passwords, `{SHA}` for generated ones); no web root points here. */
  htpasswd: "/etc/jupyterhub-edge/htpasswd",
  /** certbot dns-rfc2136's credentials (TSIG key), root 0600, outside every web root; renewals read it. */
  acmeDnsCredentials: "/etc/jupyterhub-edge/acme-dns-rfc2136.ini",
  /** certbot options file holding the External Account Binding (root 0600): never on a command line. */
  acmeEabConfig: "/etc/jupyterhub-edge/acme-eab.ini",
} as const;

/** A proxy's config test as an argv: nginx's from its row, Apache's control program with `configtest`. */
export function proxyConfigTest(platform: PlatformFacts, proxy: "nginx" | "apache"): string[] {
  return proxy === "nginx" ? platform.nginx.configTestCommand : [platform.apache.configTest, "configtest"];
}
