/**
 * Distro differences, as data, in one place. Renderers and steps read these facts; nothing else in
 * the project branches on a distro name. Add a platform by adding a row.
 */

export type PlatformId = "debian-13" | "debian-12" | "ubuntu-24.04" | "ubuntu-22.04";

/** What a proxy's packages are, and what their purge leaves behind that was not there before. */
interface PackageFacts {
  /** Debian package(s) that provide the server. */
  packages: string[];
  /**
   * Paths the packages' install scripts create and `apt-get purge` does not remove (deepest first).
   * The packages step removes those of them that did not exist before it installed anything.
   */
  purgeLeftovers: string[];
}

export interface NginxFacts extends PackageFacts {
  service: string;
  /** Upstream version shipped by the platform; decides syntax (see `http2Directive`). */
  version: string;
  /**
   * nginx ≥ 1.25.1 wants `http2 on;` in the server block and warns about (later: rejects) `http2` on
   * the listen line; older nginx has only the listen-line form.
   */
  http2Directive: "listen-flag" | "server-directive";
  /** Directory whose `*.conf` files the stock nginx.conf includes in the http{} context. */
  confDir: string;
}

export interface ApacheFacts extends PackageFacts {
  service: string;
  version: string;
  /** Directory whose `*.conf` files are enabled by `a2ensite` (via symlinks in sites-enabled). */
  sitesAvailableDir: string;
  sitesEnabledDir: string;
  /**
   * `ProxyPass … upgrade=websocket` exists from Apache 2.4.47; older releases need mod_proxy_wstunnel
   * and a RewriteRule on the Upgrade header.
   */
  websocketMode: "proxypass-upgrade" | "wstunnel-rewrite";
}

export interface PlatformFacts {
  id: PlatformId;
  /** What /etc/os-release says (`ID` and `VERSION_ID`); preflight refuses any other host. */
  osRelease: { id: string; versionId: string };
  nginx: NginxFacts;
  apache: ApacheFacts;
  /** The TLS library the proxies link against; both platforms here have OpenSSL ≥ 3.0 (TLS 1.3). */
  openssl: string;
}

const debianNginxDirs = {
  confDir: "/etc/nginx/conf.d",
  service: "nginx",
  purgeLeftovers: ["/var/www/html/index.nginx-debian.html", "/var/www/html", "/var/www"],
};
const debianApacheDirs = {
  service: "apache2",
  sitesAvailableDir: "/etc/apache2/sites-available",
  sitesEnabledDir: "/etc/apache2/sites-enabled",
  purgeLeftovers: ["/var/www/html/index.html", "/var/www/html", "/var/www"],
};

// Debian versions are what the checker roots (scripts/sandbox/checker-root.sh) install today and the
// render tier asserts them; the Ubuntu rows are from the distributions' package lists, not run here.
export const platforms: Record<PlatformId, PlatformFacts> = {
  "debian-13": {
    id: "debian-13",
    osRelease: { id: "debian", versionId: "13" },
    nginx: { ...debianNginxDirs, packages: ["nginx"], version: "1.26.3", http2Directive: "server-directive" },
    apache: { ...debianApacheDirs, packages: ["apache2"], version: "2.4.71", websocketMode: "proxypass-upgrade" },
    openssl: "3.5",
  },
  "debian-12": {
    id: "debian-12",
    osRelease: { id: "debian", versionId: "12" },
    nginx: { ...debianNginxDirs, packages: ["nginx"], version: "1.22.1", http2Directive: "listen-flag" },
    apache: { ...debianApacheDirs, packages: ["apache2"], version: "2.4.68", websocketMode: "proxypass-upgrade" },
    openssl: "3.0",
  },
  "ubuntu-24.04": {
    id: "ubuntu-24.04",
    osRelease: { id: "ubuntu", versionId: "24.04" },
    nginx: { ...debianNginxDirs, packages: ["nginx"], version: "1.24.0", http2Directive: "listen-flag" },
    apache: { ...debianApacheDirs, packages: ["apache2"], version: "2.4.58", websocketMode: "proxypass-upgrade" },
    openssl: "3.0",
  },
  "ubuntu-22.04": {
    id: "ubuntu-22.04",
    osRelease: { id: "ubuntu", versionId: "22.04" },
    nginx: { ...debianNginxDirs, packages: ["nginx"], version: "1.18.0", http2Directive: "listen-flag" },
    apache: { ...debianApacheDirs, packages: ["apache2"], version: "2.4.52", websocketMode: "proxypass-upgrade" },
    openssl: "3.0",
  },
};

export const platformIds = Object.keys(platforms) as PlatformId[];

/** Where the project keeps its own state on a host (manifests, backups, ACME webroot). */
export const hostPaths = {
  stateDir: "/var/lib/jupyterhub-edge",
  /** Outside the 0700 state directory: the proxy's workers must read challenge files here. */
  acmeWebroot: "/var/lib/jupyterhub-edge-acme",
  tlsDir: "/etc/jupyterhub-edge/tls",
} as const;
