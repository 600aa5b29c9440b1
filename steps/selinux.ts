/**
 * The SELinux step's payload: what an enforcing host needs so that the proxy (confined as `httpd_t`
 * on Debian, Fedora and RHEL alike) may reach the hub and read what it serves. Pure. The payload is
 * what `pulumi preview` shows, so every change carries a `#` line saying why.
 *
 * What was measured (scripts/sandbox/selinux-guest.sh, test/selinux/): on an enforcing Debian 12
 * guest, the port label alone is not enough — `httpd_t` may `name_connect` to `http_port_t` only
 * with `httpd_can_network_relay`; `httpd_can_network_connect` (any port) is never needed.
 */
import { SiteSpec, hubRoutes } from "../model/site";
import { hostPaths } from "../model/platforms";

/** The TCP port type the proxy may connect to (and bind) once the boolean below is on. */
export const httpPortType = "http_port_t";

/**
 * Booleans each proxy needs beyond the port label, and why; the narrowest that worked on the
 * enforcing guest (see the file comment and the selinux tier's log).
 */
export const proxyBooleans: Record<SiteSpec["proxy"], { name: string; why: string }[]> = {
  nginx: [{ name: "httpd_can_network_relay", why: "httpd_t may connect to http_port_t only with it (the label alone was denied on the enforcing guest)" }],
  apache: [{ name: "httpd_can_network_relay", why: "httpd_t may connect to http_port_t only with it (the label alone was denied on the enforcing guest)" }],
};

/** Directories every SELinux policy already labels as web content (so they need no rule of ours). */
const standardWebContent = [/^\/var\/www(\/|$)/];

/** Ports both reference policy (Debian) and Fedora/RHEL's policy label http_port_t already. */
const standardHttpPorts = new Set([80, 81, 443, 488, 8008, 8009, 8443, 9000]);

function hubPort(site: SiteSpec): number | undefined {
  const up = hubRoutes(site).upstream;
  return up.kind === "tcp" ? up.port : undefined;
}

/** A unix socket's directory gets the label (the hub recreates the socket at each start; new files inherit it), unless it is a shared one. */
function socketLabelTarget(socketPath: string): { path: string; tree: boolean } {
  const dir = socketPath.replace(/\/[^/]+$/, "") || "/";
  return ["/", "/run", "/var/run", "/tmp", "/var/tmp"].includes(dir) ? { path: socketPath, tree: false } : { path: dir, tree: true };
}

/**
 * Payload lines (read by scripts/remote/selinux.sh):
 *   require auto|on        — auto: nothing happens where selinuxenabled says SELinux is off
 *   port tcp PORT TYPE     — `semanage port -a` (or `-m` where the policy already has the port)
 *   boolean NAME on        — persistent (`semanage boolean -m`, like `setsebool -P`)
 *   fcontext PATH TYPE tree|file — `semanage fcontext` for PATH(/.*)? or PATH alone, then restorecon
 *   # …                    — why (shown in the preview; ignored by the script)
 */
export function selinuxPayload(site: SiteSpec): string {
  const lines: string[] = [
    `# jupyterhub-edge:selinux = ${site.selinux}: ${site.selinux === "on" ? "SELinux must be enabled on the host" : "applied only where selinuxenabled says SELinux is on"}.`,
    `# The ${site.proxy} workers run confined as httpd_t. All changes go in one semanage transaction and are reverted on destroy`,
    "# (a label or boolean the admin had set already is left as it is).",
    `require ${site.selinux === "on" ? "on" : "auto"}`,
  ];
  const port = hubPort(site);
  if (port !== undefined) {
    lines.push(
      `# ${site.proxy} connects to the hub on tcp/${port}: that port gets ${httpPortType} (policies define 8000 as soundd_port_t; -m then).`,
      `port tcp ${port} ${httpPortType}`,
    );
    for (const b of proxyBooleans[site.proxy]) lines.push(`# ${b.name}: ${b.why}.`, `boolean ${b.name} on`);
  } else if (site.hub.upstream.kind === "unix") {
    const target = socketLabelTarget(site.hub.upstream.socketPath);
    lines.push(
      `# ${site.proxy} connects to the hub's unix socket: it must be web-server run data (httpd_var_run_t); no port or boolean is involved.`,
      `fcontext ${target.path} httpd_var_run_t ${target.tree ? "tree" : "file"}`,
    );
  }
  if (!standardHttpPorts.has(site.httpsPort)) {
    lines.push(`# ${site.proxy} binds the HTTPS port tcp/${site.httpsPort}: it must be ${httpPortType} (nothing is done where it is already).`, `port tcp ${site.httpsPort} ${httpPortType}`);
  }
  const roots: { path: string; why: string }[] = [
    { path: hostPaths.acmeWebroot, why: "the ACME challenge webroot" },
    ...site.extraSites.map((s) => ({ path: s.root, why: `the web root of ${s.domain}` })),
    ...(site.hub.outsidePath.kind === "webRoot" ? [{ path: site.hub.outsidePath.root, why: `the web root around the hub on ${site.hub.domain}` }] : []),
  ];
  for (const r of roots.filter((r) => !standardWebContent.some((re) => re.test(r.path)))) {
    lines.push(`# ${r.why}, outside /var/www: readable web content.`, `fcontext ${r.path} httpd_sys_content_t tree`);
  }
  if (site.hub.certificate !== "acme" || site.extraSites.some((s) => s.certificate !== "acme")) {
    lines.push("# the certificates and keys the program pushes: certificate files (cert_t) like /etc/pki's.", `fcontext ${hostPaths.tlsDir} cert_t tree`);
  }
  if (site.acme) {
    lines.push("# certbot's certificates (skipped where the policy labels them cert_t already).", `fcontext /etc/letsencrypt cert_t tree`);
  }
  return lines.join("\n") + "\n";
}
