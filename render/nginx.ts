/**
 * SiteSpec → nginx vhost file. Pure: the same model always gives the same bytes.
 */
import { HubSite, SiteSpec, StaticSite, TlsFiles, allDomains, hubUrl, portSuffix } from "../model/site";
import { hostPaths } from "../model/platforms";
import { Node, blank, block, comment, d, quoted, serializeNginx } from "./directives";
import { hstsValue, managedBanner, needsDhparam, tlsPolicy } from "./tls-policy";
import { ProxyFiles } from "./files";

/** Unique name: another site on the host may already define the common `$connection_upgrade`. */
const upgradeVar = "$jhe_connection_upgrade";

export function nginxConfigPaths(site: SiteSpec): { http: string; https: string } {
  return {
    http: `${site.platform.nginx.confDir}/jupyterhub-edge-http.conf`,
    https: `${site.platform.nginx.confDir}/jupyterhub-edge.conf`,
  };
}

function listen(site: SiteSpec, port: number, tls: boolean): Node[] {
  const flags = tls ? ["ssl", ...(site.platform.nginx.http2Directive === "listen-flag" ? ["http2"] : [])] : [];
  const nodes = [d("listen", port, ...flags)];
  if (site.ipv6) nodes.push(d("listen", `[::]:${port}`, ...flags));
  if (tls && site.platform.nginx.http2Directive === "server-directive") nodes.push(d("http2", "on"));
  return nodes;
}

/** `$host` plus the public port when it is not the default, as browsers send it. */
function publicHostExpr(site: SiteSpec): string {
  return `$host${portSuffix(site)}`;
}

function tlsServerDirectives(site: SiteSpec, files: TlsFiles): Node[] {
  const policy = tlsPolicy(site.tls.profile, site.tls.dhe);
  const hsts = hstsValue(site);
  return [
    d("ssl_certificate", files.certificateFile),
    d("ssl_certificate_key", files.keyFile),
    d("ssl_protocols", ...policy.protocols),
    ...(policy.tls12Ciphers ? [d("ssl_ciphers", policy.tls12Ciphers)] : []),
    d("ssl_prefer_server_ciphers", policy.preferServerCiphers ? "on" : "off"),
    d("ssl_ecdh_curve", policy.curves.join(":")),
    d("ssl_session_timeout", `${policy.sessionTimeoutSeconds}s`),
    d("ssl_session_cache", "shared:jhe_tls:10m"),
    d("ssl_session_tickets", policy.sessionTickets ? "on" : "off"),
    ...(needsDhparam(site) ? [d("ssl_dhparam", hostPaths.dhparam)] : []),
    ...(site.tls.ocspStapling ? [d("ssl_stapling", "on"), d("ssl_stapling_verify", "on")] : []),
    // `always`: HSTS must reach 401/404/5xx answers too. Only set at server level, because any
    // add_header inside a location would silently drop this one there.
    ...(hsts ? [d("add_header", "Strict-Transport-Security", quoted(hsts), "always")] : []),
  ];
}

function upstreamUrl(hub: HubSite): string {
  return hub.upstream.kind === "tcp" ? hub.upstream.origin : `http://unix:${hub.upstream.socketPath}:`;
}

function hubProxyLocation(site: SiteSpec): Node {
  const hub = site.hub;
  const timeout = `${site.limits.websocketIdleTimeoutSeconds}s`;
  return block("location", [hub.path], [
    // No URI part on proxy_pass: the request path goes upstream unchanged, and the hub's bind_url
    // carries the same prefix, so there is nothing to rewrite (and no redirect loop).
    d("proxy_pass", upstreamUrl(hub)),
    d("proxy_http_version", "1.1"),
    // Jupyter Server compares Origin with Host on websockets: Host must carry the public port.
    d("proxy_set_header", "Host", publicHostExpr(site)),
    d("proxy_set_header", "X-Real-IP", "$remote_addr"),
    d("proxy_set_header", "X-Forwarded-For", "$proxy_add_x_forwarded_for"),
    d("proxy_set_header", "X-Forwarded-Proto", "https"),
    d("proxy_set_header", "X-Forwarded-Port", site.httpsPort),
    d("proxy_set_header", "X-Scheme", "https"),
    d("proxy_set_header", "Upgrade", "$http_upgrade"),
    d("proxy_set_header", "Connection", upgradeVar),
    // Event streams (spawn progress) and kernel traffic must flow as produced.
    d("proxy_buffering", "off"),
    d("proxy_request_buffering", "off"),
    d("proxy_read_timeout", timeout),
    d("proxy_send_timeout", timeout),
  ]);
}

function hubServer(site: SiteSpec): Node {
  const hub = site.hub;
  const base = `https://${publicHostExpr(site)}`;
  const locations: Node[] = [hubProxyLocation(site)];
  if (hub.path !== "/") {
    const bare = hub.path.replace(/\/$/, "");
    locations.unshift(block("location", ["=", bare], [d("return", 301, `${base}${hub.path}$is_args$args`)]));
    const outside = hub.outsidePath;
    locations.push(
      block(
        "location",
        ["/"],
        outside.kind === "redirect"
          ? [d("return", 302, `${base}${hub.path}`)]
          : outside.kind === "notFound"
            ? [d("return", 404)]
            : [d("root", outside.root), d("try_files", "$uri", "$uri/", "=404")],
      ),
    );
  }
  return block("server", [], [
    ...listen(site, site.httpsPort, true),
    d("server_name", hub.domain),
    blank,
    ...tlsServerDirectives(site, hub.tls),
    blank,
    d("client_max_body_size", `${site.limits.maxUploadMb}m`),
    blank,
    ...locations,
  ]);
}

function staticServer(site: SiteSpec, s: StaticSite): Node {
  return block("server", [], [
    ...listen(site, site.httpsPort, true),
    d("server_name", s.domain),
    blank,
    ...tlsServerDirectives(site, s.tls),
    blank,
    d("root", s.root),
    d("index", "index.html"),
    block("location", ["/"], [d("try_files", "$uri", "$uri/", "=404")]),
  ]);
}

function redirectServer(site: SiteSpec): Node {
  return block("server", [], [
    ...listen(site, 80, false),
    d("server_name", ...allDomains(site)),
    blank,
    block("location", ["^~", "/.well-known/acme-challenge/"], [d("root", hostPaths.acmeWebroot), d("default_type", "text/plain")]),
    block("location", ["/"], [d("return", 301, `https://$host${portSuffix(site)}$request_uri`)]),
  ]);
}

export function renderNginx(site: SiteSpec): ProxyFiles {
  const paths = nginxConfigPaths(site);
  const http: Node[] = [
    ...comment(...managedBanner),
    blank,
    ...comment("Port 80: ACME HTTP-01 challenges are answered here; everything else moves to HTTPS."),
    redirectServer(site),
  ];
  const https: Node[] = [
    ...comment(...managedBanner),
    blank,
    block("map", ["$http_upgrade", upgradeVar], [d("default", "upgrade"), d("''", "close")]),
    blank,
    ...comment(`The hub: ${hubUrl(site)}`),
    hubServer(site),
    ...site.extraSites.flatMap((s) => [blank, ...comment(`Static site ${s.domain}, from ${s.root}`), staticServer(site, s)]),
  ];
  return {
    http: { path: paths.http, mode: "0644", content: serializeNginx(http) + "\n" },
    https: { path: paths.https, mode: "0644", content: serializeNginx(https) + "\n" },
  };
}
