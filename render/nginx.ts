/**
 * SiteSpec → nginx vhost file. Pure: the same model always gives the same bytes.
 */
import { SiteSpec, StaticSite, TlsFiles, allNames, hubRoutes, hubUrl, portSuffix } from "../model/site";
import { hostPaths } from "../model/platforms";
import { Node, blank, block, comment, d, quoted, serializeNginx } from "./directives";
import { hstsValue, managedBanner, needsDhparam, tlsPolicy } from "./tls-policy";
import { ProxyFiles } from "./files";
import { credentialParamPattern, logFormatNames, redactedMarker } from "./access-log";
import { hubDownPage } from "./hub-down";
import { hubApiPrefix, hubPagesRegex, rawAmbiguousPathRegex, rawHubApiRegex } from "./split-auth";
import { nginxLoginLimit, nginxLoginLimitHttp } from "./brute-force";
import { frameAncestors, metricsPathRegex, rawAmbiguousMetricsRegex } from "./public-edge";

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

/** proxy_pass's target: the upstream without a path (the request's own path goes up unchanged). */
function upstreamUrl(site: SiteSpec): string {
  const up = hubRoutes(site).upstream;
  return up.kind === "tcp" ? up.origin : `http://unix:${up.socketPath}:`;
}

/**
 * The open location: everything under the base path that is neither the hub's pages nor its API
 * (JupyterLab, kernels, websockets). With split auth, a raw path nginx and the hub's own proxy may
 * read differently (a backslash in any spelling) takes the password check here, where nginx alone
 * would have let it through (see render/split-auth.ts).
 */
function hubProxyLocation(site: SiteSpec): Node {
  const guard: Node[] = site.splitAuth
    ? [
        ...comment(`Split auth: \`\\\` is a separator to the hub's proxy (WHATWG URL), not to nginx: \`${site.hub.path}hub\\login\` lands here.`),
        d("error_page", 418, "=", hubPagesLocation),
        block("if", [`(${ambiguousPathVar}`, "=", "1)"], [d("return", 418)]),
      ]
    : [];
  return block("location", [site.hub.path], [...guard, ...hubProxyDirectives(site)]);
}

function hubProxyDirectives(site: SiteSpec): Node[] {
  const timeout = `${site.limits.websocketIdleTimeoutSeconds}s`;
  return [
    // No URI part on proxy_pass: the request path goes upstream unchanged, and the hub's bind_url
    // carries the same prefix, so there is nothing to rewrite (and no redirect loop).
    d("proxy_pass", upstreamUrl(site)),
    d("proxy_http_version", "1.1"),
    // Jupyter Server compares Origin with Host on websockets: Host must carry the public port.
    d("proxy_set_header", "Host", publicHostExpr(site)),
    // The connection's address, never what the client sent: $proxy_add_x_forwarded_for would append
    // to a forged X-Forwarded-For, and a forged Forwarded header would reach the hub as it is.
    d("proxy_set_header", "X-Real-IP", "$remote_addr"),
    d("proxy_set_header", "X-Forwarded-For", "$remote_addr"),
    d("proxy_set_header", "Forwarded", quoted("")),
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
    // nginx's own 502/504 (hub stopped or restarting) become the hub-down page, as a 503 (`=503`:
    // without it the original status stays); the hub's own error responses are not intercepted.
    d("error_page", 502, 503, 504, "=503", "@jhe_hub_down"),
    // Brute-force protection: counts login POSTs only (render/brute-force.ts).
    ...nginxLoginLimit(site),
  ];
}

/** 1 when the raw request path is a plain `<base>hub/api/` one (see render/split-auth.ts). */
const rawApiVar = "$jhe_hub_api_raw";
/** 1 when the raw request path holds a backslash in any spelling (see render/split-auth.ts). */
const ambiguousPathVar = "$jhe_path_ambiguous";
const hubPagesLocation = "@jhe_hub_pages";

/** 1 when the raw request path may mean the metrics to the hub's proxy (see render/public-edge.ts). */
const metricsRawVar = "$jhe_metrics_ambiguous";

function metricsMap(): Node[] {
  return [block("map", ["$request_uri", metricsRawVar], [d("default", 0), d(quoted(`~${rawAmbiguousMetricsRegex}`), 1)]), blank];
}

/**
 * `<base>hub/metrics` in any letter case and any spelling nginx normalises (`%2F`, `/./`, `//`, `..`):
 * only metricsAllowFrom. Before the split-auth regex location, which would otherwise take it (nginx
 * uses the first matching regex location): a scraper has no password, and needs none from its address.
 */
function metricsLocation(site: SiteSpec): Node[] {
  const sources = site.metrics.allowFrom;
  return [
    ...comment(sources.length ? "The hub's metrics: only the scrapers (metricsAllowFrom)." : "The hub's metrics: refused for everyone (metricsAllowFrom is empty)."),
    block("location", ["~*", quoted(metricsPathRegex(site))], sources.length
      ? [...sources.map((c) => d("allow", c)), d("deny", "all"), ...hubProxyDirectives(site)]
      : [d("deny", "all")]),
  ];
}

/**
 * Embedding (embedAllowFrom): the hub's and the user servers' CSP with its frame-ancestors replaced
 * (or added), the rest kept as the upstream sent it; JupyterHub and Jupyter Server each send their own.
 */
const cspVar = "$jhe_content_security_policy";

function embeddingMap(site: SiteSpec): Node[] {
  const ancestors = frameAncestors(site);
  if (!ancestors) return [];
  return [
    ...comment("Embedding: the upstream's Content-Security-Policy with only frame-ancestors replaced (added when it has none)."),
    block("map", ["$upstream_http_content_security_policy", cspVar], [
      d("default", quoted(ancestors)),
      d(quoted("~*^(?<jhe_csp_before>.*?)frame-ancestors[^;]*(?<jhe_csp_after>.*)$"), quoted(`\${jhe_csp_before}${ancestors}\${jhe_csp_after}`)),
      d(quoted("~."), quoted(`$upstream_http_content_security_policy; ${ancestors}`)),
    ]),
    blank,
  ];
}

/**
 * Server level, so that every location of the hub (its pages, the API, the users' servers) gets it
 * and the HSTS add_header beside it stays inherited: an add_header in a location would drop it.
 */
function embeddingDirectives(site: SiteSpec): Node[] {
  if (!site.embedding) return [];
  return [
    ...comment("Embedding (embedAllowFrom): framed by the learning platform; cookies sent into its frame."),
    d("proxy_hide_header", "Content-Security-Policy"),
    d("add_header", "Content-Security-Policy", cspVar, "always"),
    // A frame on another site gets no SameSite=Lax (or unmarked) cookie: no session, a login loop.
    d("proxy_cookie_flags", "~", "secure", "samesite=none"),
  ];
}

function splitAuthMap(site: SiteSpec): Node[] {
  if (!site.splitAuth) return [];
  return [
    block("map", ["$request_uri", rawApiVar], [d("default", 0), d(quoted(`~${rawHubApiRegex(site)}`), 1)]),
    block("map", ["$request_uri", ambiguousPathVar], [d("default", 0), d(quoted(`~${rawAmbiguousPathRegex}`), 1)]),
    blank,
  ];
}

/**
 * Split auth: the hub's pages (any letter case) ask for a password unless the client is
 * allow-listed; the REST API and everything under `<base>user/` (Lab, kernels, websockets) do not.
 */
function splitAuthLocations(site: SiteSpec): Node[] {
  const auth = site.splitAuth;
  if (!auth) return [];
  const access: Node[] = [
    ...(auth.allowFrom.length ? [d("satisfy", "any"), ...auth.allowFrom.map((c) => d("allow", c)), d("deny", "all")] : []),
    d("auth_basic", quoted(auth.realm)),
    d("auth_basic_user_file", auth.userFile),
  ];
  return [
    ...comment("Split auth: the hub's own pages need an allow-listed source or a password (any letter case)."),
    block("location", ["~*", quoted(hubPagesRegex(site))], [...access, ...hubProxyDirectives(site)]),
    ...comment(
      "The hub's REST API keeps JupyterHub's token auth, but only for a raw path that means what the",
      "normalised one says (no encoded slash or dot, no // or /., no backslash): anything else takes the password check.",
    ),
    block("location", ["^~", hubApiPrefix(site)], [
      d("error_page", 418, "=", hubPagesLocation),
      block("if", [`(${rawApiVar}`, "=", "0)"], [d("return", 418)]),
      ...hubProxyDirectives(site),
    ]),
    block("location", [hubPagesLocation], [...access, ...hubProxyDirectives(site)]),
  ];
}

/** Served while the hub does not answer. No add_header here: it would drop the server's HSTS. */
function hubDownLocation(site: SiteSpec): Node {
  return block("location", ["@jhe_hub_down"], [d("default_type", "text/html"), d("return", 503, quoted(hubDownPage(site)))]);
}

/**
 * Every server of ours logs through the masked format (a server-level access_log replaces the
 * http{} one). nginx's error messages quote the request line, the upstream URL and the Referer
 * verbatim ("connect() failed … request: "GET /hub/api?token=…""), tokens included, and cannot be
 * reformatted: our servers log only `crit` and worse. A hub that does not answer is reported by
 * the hub step and by the hub-down page instead.
 */
const serverLogs = (site: SiteSpec): Node[] => [
  d("access_log", site.platform.nginx.accessLog, logFormatNames.nginx),
  d("error_log", site.platform.nginx.errorLog, "crit"),
];

/**
 * The masked request target and referer, and the log format using them (http{} context, in the
 * port-80 file, which goes live first). `$request_uri` with the last credential parameter's value
 * replaced; if another one is left, the whole query is dropped. Referers with one lose their query.
 */
function maskedLogFormat(): Node[] {
  const p = credentialParamPattern;
  return [
    block("map", ["$request_uri", "$jhe_log_uri1"], [
      d("default", "$request_uri"),
      d(quoted(`~*^(?<jhe_u1a>[^?]*[?](?:.*&)?${p}=)[^&]*(?<jhe_u1b>.*)$`), quoted(`\${jhe_u1a}${redactedMarker}\${jhe_u1b}`)),
    ]),
    block("map", ["$jhe_log_uri1", "$jhe_log_uri"], [
      d("default", "$jhe_log_uri1"),
      d(quoted(`~*^(?<jhe_u2a>[^?]*)[?](?:.*&)?${p}=(?![[]REDACTED[]])`), quoted(`\${jhe_u2a}?${redactedMarker}`)),
    ]),
    block("map", ["$http_referer", "$jhe_log_referer"], [
      d("default", "$http_referer"),
      d(quoted(`~*^(?<jhe_ra>[^?]*)[?].*${p}=`), quoted(`\${jhe_ra}?${redactedMarker}`)),
    ]),
    d("log_format", logFormatNames.nginx, quoted(
      '$remote_addr - $remote_user [$time_local] "$request_method $jhe_log_uri $server_protocol" ' +
      '$status $body_bytes_sent "$jhe_log_referer" "$http_user_agent"')),
  ];
}

function hubServer(site: SiteSpec): Node {
  const hub = site.hub;
  const base = `https://${publicHostExpr(site)}`;
  const locations: Node[] = [hubProxyLocation(site), ...metricsLocation(site), ...splitAuthLocations(site)];
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
    // With per-user subdomains, *.<domain> too: the users' servers, under the same rules as the hub.
    d("server_name", ...hub.names),
    blank,
    ...tlsServerDirectives(site, hub.tls),
    ...embeddingDirectives(site),
    blank,
    d("client_max_body_size", `${site.limits.maxUploadMb}m`),
    ...serverLogs(site),
    blank,
    ...comment("A raw path the hub's proxy may read as its metrics (a backslash in any spelling): refused."),
    block("if", [`(${metricsRawVar}`, "=", "1)"], [d("return", 403)]),
    ...locations,
    hubDownLocation(site),
  ]);
}

function staticServer(site: SiteSpec, s: StaticSite): Node {
  return block("server", [], [
    ...listen(site, site.httpsPort, true),
    d("server_name", ...s.names),
    blank,
    ...tlsServerDirectives(site, s.tls),
    blank,
    ...serverLogs(site),
    d("root", s.root),
    d("index", "index.html"),
    block("location", ["/"], [d("try_files", "$uri", "$uri/", "=404")]),
  ]);
}

function redirectServer(site: SiteSpec): Node {
  return block("server", [], [
    ...listen(site, 80, false),
    d("server_name", ...allNames(site)),
    ...serverLogs(site),
    blank,
    block("location", ["^~", "/.well-known/acme-challenge/"], [d("root", hostPaths.acmeWebroot), d("default_type", "text/plain")]),
    block("location", ["/"], [d("return", 301, `https://$host${portSuffix(site)}$request_uri`)]),
  ]);
}

/**
 * nginx keeps the names of the servers that share a listen address in a hash whose buckets (by
 * default one 64-byte cache line) must each hold the longest name with two pointers: a name of 47
 * characters or more fails `nginx -t` ("could not build server_names_hash") as soon as another
 * server shares the port — Debian's default site on 80, or an extra site on the HTTPS port. Found by
 * the config property test (test/render/config-property.test.ts). Set only when a name needs it: a
 * host whose nginx.conf sets it already refuses a second one ("is duplicate"), loudly, at nginx -t.
 */
function serverNamesHash(site: SiteSpec): Node[] {
  const align = (n: number, to: number) => Math.ceil(n / to) * to;
  const longest = Math.max(...allNames(site).map((name) => name.length));
  const needed = 2 * 8 + align(longest + 2, 8); // ngx_hash_init: an element and the bucket's end marker
  if (needed <= 64) return [];
  return [...comment(`A ${longest}-character server name needs hash buckets larger than nginx's default 64 bytes.`), d("server_names_hash_bucket_size", align(needed, 64)), blank];
}

export function renderNginx(site: SiteSpec): ProxyFiles {
  const paths = nginxConfigPaths(site);
  const http: Node[] = [
    ...comment(...managedBanner),
    blank,
    ...serverNamesHash(site),
    ...comment("Access log format of every server of ours: no credentials (render/access-log.ts)."),
    ...maskedLogFormat(),
    blank,
    ...comment("Port 80: ACME HTTP-01 challenges are answered here; everything else moves to HTTPS."),
    redirectServer(site),
  ];
  const https: Node[] = [
    ...comment(...managedBanner),
    blank,
    block("map", ["$http_upgrade", upgradeVar], [d("default", "upgrade"), d("''", "close")]),
    blank,
    ...metricsMap(),
    ...splitAuthMap(site),
    ...nginxLoginLimitHttp(site),
    ...embeddingMap(site),
    ...comment(`The hub: ${hubUrl(site)}`),
    hubServer(site),
    ...site.extraSites.flatMap((s) => [blank, ...comment(`Static site ${s.domain}, from ${s.root}`), staticServer(site, s)]),
  ];
  return {
    http: { path: paths.http, mode: "0644", content: serializeNginx(http) + "\n" },
    https: { path: paths.https, mode: "0644", content: serializeNginx(https) + "\n" },
  };
}
