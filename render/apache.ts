/**
 * SiteSpec → Apache 2.4 vhost file, with the same behaviour as render/nginx.ts: redirect on 80 with
 * the ACME path exempt, the hub proxied with websocket upgrade and unbuffered streaming, other
 * domains from their own roots, HSTS on every response, TLS 1.2/1.3. Pure.
 */
import { ServedSite, SiteSpec, StaticSite, TlsFiles, allNames, hubRoutes, hubUrl, isWildcard, pathPattern, portSuffix, publicOrigin } from "../model/site";
import { hostPaths } from "../model/platforms";
import { Node, blank, block, comment, d, quoted, serializeApache } from "./directives";
import { hstsValue, managedBanner, needsDhparam, tlsPolicy } from "./tls-policy";
import { ProxyFiles } from "./files";
import { credentialParamPattern, logFormatNames, redactedMarker } from "./access-log";
import { hubDownPage } from "./hub-down";
import { hubPagesRegex, rawPathTailInRequestLine } from "./split-auth";
import { frameAncestors, metricsPathRegex, rawAmbiguousMetricsInRequestLine } from "./public-edge";
import { apacheLoginLimitGlobal, apacheLoginLimitOn, apacheLoginLimitVhost } from "./brute-force";

/** Modules the rendered file needs, beyond Debian's defaults. */
export function apacheModules(site: SiteSpec): string[] {
  // setenvif: the access-log masking; authz_core + authz_host: the metrics path's Require (all
  // denied, or ip). On by default on Debian, but not ours to assume.
  const mods = ["ssl", "socache_shmcb", "proxy", "proxy_http", "headers", "http2", "rewrite", "setenvif", "authz_core", "authz_host"];
  if (site.platform.apache.websocketMode === "wstunnel-rewrite") mods.push("proxy_wstunnel");
  if (site.splitAuth) mods.push("auth_basic", "authn_core", "authn_file", "authz_user");
  // The login rate limit (its package: the rate-limit-packages step).
  const rl = site.platform.apache.loginRateLimit;
  if (apacheLoginLimitOn(site) && rl.kind === "mod_qos") mods.push(rl.module);
  return mods;
}

export function apacheConfigPaths(site: SiteSpec): { http: string; https: string } {
  // The directory the stock config includes (Debian: regular files in sites-enabled, so `a2ensite`
  // state is never ours to track; RHEL: conf.d).
  const dir = site.platform.apache.confDir;
  return { http: `${dir}/jupyterhub-edge-http.conf`, https: `${dir}/jupyterhub-edge.conf` };
}

function tlsDirectives(site: SiteSpec, files: TlsFiles): Node[] {
  const policy = tlsPolicy(site.tls.profile, site.tls.dhe);
  const hsts = hstsValue(site);
  return [
    d("SSLEngine", "on"),
    d("SSLCertificateFile", files.certificateFile),
    d("SSLCertificateKeyFile", files.keyFile),
    d("SSLProtocol", "-all", ...policy.protocols.map((p) => `+${p}`)),
    ...(policy.tls12Ciphers ? [d("SSLCipherSuite", policy.tls12Ciphers)] : []),
    d("SSLHonorCipherOrder", policy.preferServerCiphers ? "on" : "off"),
    d("SSLSessionTickets", policy.sessionTickets ? "on" : "off"),
    d("SSLOpenSSLConfCmd", "Curves", policy.curves.join(":")),
    ...(needsDhparam(site) ? [d("SSLOpenSSLConfCmd", "DHParameters", quoted(hostPaths.dhparam))] : []),
    ...(site.tls.ocspStapling ? [d("SSLUseStapling", "on")] : []),
    d("Protocols", "h2", "http/1.1"),
    // `always`: also on errors (401/404/5xx) and on proxied responses.
    ...(hsts ? [d("Header", "always", "set", "Strict-Transport-Security", quoted(hsts))] : []),
  ];
}

/** A path inside a RewriteRule pattern (model/site.ts pathPattern: `\.` as these have always been spelt). */
const rewritePattern = (text: string): string => pathPattern(text, "\\.");

/** ProxyPass's target: the upstream at the base path, through the socket for a unix one. */
function upstreamFor(site: SiteSpec): string {
  const up = hubRoutes(site).upstream;
  return up.kind === "tcp" ? up.atBase : `unix:${up.socketPath}|${up.atBase}`;
}

function hubVhost(site: SiteSpec): Node {
  const hub = site.hub;
  const port = site.httpsPort;
  const base = publicOrigin(site);
  const target = upstreamFor(site);
  const timeout = site.limits.websocketIdleTimeoutSeconds;
  const proxy: Node[] = [];
  if (site.platform.apache.websocketMode === "wstunnel-rewrite") {
    const ws = target.replace(/^http:/, "ws:");
    proxy.push(
      d("RewriteEngine", "on"),
      d("RewriteCond", "%{HTTP:Upgrade}", "=websocket", "[NC]"),
      d("RewriteRule", `^${rewritePattern(hub.path)}(.*)$`, `${ws}$1`, "[P,L]"),
      d("ProxyPass", hub.path, target, "flushpackets=on", `timeout=${timeout}`, "retry=0"),
    );
  } else {
    // upgrade=websocket (2.4.47+): mod_proxy_http tunnels the kernel websockets itself.
    // flushpackets=on: the spawn progress event stream reaches the browser as it is produced.
    // retry=0: a hub back from a restart is used at once (the default keeps answering 503 for 60 s).
    proxy.push(d("ProxyPass", hub.path, target, "upgrade=websocket", "flushpackets=on", `timeout=${timeout}`, "retry=0"));
  }
  proxy.push(d("ProxyPassReverse", hub.path, target));

  const outside: Node[] = [];
  if (hub.path !== "/") {
    // hubPath may hold '.', which a RewriteRule pattern would read as "any character".
    const bare = rewritePattern(hub.path.replace(/\/$/, ""));
    const rest = rewritePattern(hub.path.slice(1));
    outside.push(d("RewriteEngine", "on"), d("RewriteRule", `^${bare}$`, `${base}${hub.path}`, "[R=301,L]"));
    if (hub.outsidePath.kind === "redirect") outside.push(d("RewriteRule", `^/(?!${rest})`, `${base}${hub.path}`, "[R=302,L]"));
    else if (hub.outsidePath.kind === "notFound") outside.push(d("RewriteRule", `^/(?!${rest})`, "-", "[R=404,L]"));
    else {
      outside.push(
        d("DocumentRoot", hub.outsidePath.root),
        block("Directory", [hub.outsidePath.root], [d("Options", "-Indexes"), d("Require", "all", "granted")]),
      );
    }
  }

  return block("VirtualHost", [`*:${port}`], [
    ...serverNames(hub),
    blank,
    ...tlsDirectives(site, hub.tls),
    blank,
    d("LimitRequestBody", site.limits.maxUploadMb * 1024 * 1024),
    // Idle kernels must not be cut off: the tunnel lives as long as this allows silence.
    d("ProxyTimeout", timeout),
    d("ProxyRequests", "off"),
    // The public Host (with its port) reaches the hub: Jupyter Server compares it with Origin.
    d("ProxyPreserveHost", "on"),
    d("RequestHeader", "set", "X-Forwarded-Proto", "https"),
    d("RequestHeader", "set", "X-Forwarded-Port", quoted(String(port))),
    d("RequestHeader", "set", "X-Scheme", "https"),
    d("RequestHeader", "set", "X-Real-IP", quoted("%{REMOTE_ADDR}s")),
    // The connection's address, never what the client sent: mod_proxy appends the client's address
    // to any X-Forwarded-For it got, so the client's own goes before anything else reads it (early);
    // a forged Forwarded header would reach the hub as it is.
    d("RequestHeader", "unset", "X-Forwarded-For", "early"),
    d("RequestHeader", "unset", "Forwarded", "early"),
    // mod_proxy's own 502/503 (hub stopped or restarting); the hub's own errors pass through.
    d("ErrorDocument", 502, quoted(hubDownPage(site))),
    d("ErrorDocument", 503, quoted(hubDownPage(site))),
    ...maskedAccessLog(site),
    ...metricsRawGuard(),
    ...outside,
    ...proxy,
    // Before split auth's section: its SetEnvIf lines are merged after these (config order).
    ...apacheLoginLimitVhost(site),
    ...splitAuthSection(site),
    ...metricsSection(site),
    ...embeddingHeaders(site),
  ]);
}

/**
 * `<base>hub/metrics` in any letter case and any spelling Apache normalises (it refuses `%2F`
 * outright): only metricsAllowFrom. After the split-auth section, so that its Require replaces
 * theirs (a scraper has no password). A raw path the hub's proxy may read as the metrics (a
 * backslash in any spelling, see render/public-edge.ts) is refused by metricsRawGuard.
 */
function metricsSection(site: SiteSpec): Node[] {
  const sources = site.metrics.allowFrom;
  return [
    ...comment(sources.length ? "The hub's metrics: only the scrapers (metricsAllowFrom)." : "The hub's metrics: refused for everyone (metricsAllowFrom is empty)."),
    block("LocationMatch", [quoted(`(?i)${metricsPathRegex(site)}`)], [
      sources.length ? d("Require", "ip", ...sources) : d("Require", "all", "denied"),
    ]),
  ];
}

/** Before every other rewrite rule of the vhost (the websocket rule on wstunnel platforms proxies at once). */
function metricsRawGuard(): Node[] {
  return [
    ...comment("A raw path the hub's proxy may read as its metrics (a backslash in any spelling): refused."),
    d("RewriteEngine", "on"),
    // Not quoted: Apache's tokenizer would keep a doubled backslash (see splitAuthSection).
    d("RewriteCond", "%{THE_REQUEST}", rawAmbiguousMetricsInRequestLine),
    d("RewriteRule", "^", "-", "[F]"),
  ];
}

/**
 * Embedding (embedAllowFrom): the upstream's Content-Security-Policy with only its frame-ancestors
 * replaced (added when it has none; set when there is no CSP), and every cookie of the hub and the
 * users' servers marked SameSite=None; Secure, which a frame on another site needs to get them.
 * mod_proxy_http puts the upstream's headers in the default ("onsuccess") table, whatever the status.
 * No backslash in these patterns: Apache's tokenizer would keep it doubled.
 */
function embeddingHeaders(site: SiteSpec): Node[] {
  const ancestors = frameAncestors(site);
  if (!ancestors) return [];
  const csp = "Content-Security-Policy";
  return [
    ...comment("Embedding (embedAllowFrom): framed by the learning platform; cookies sent into its frame."),
    d("Header", "edit", csp, quoted("(?i)^(?!.*frame-ancestors)(.+)$"), quoted(`$1; ${ancestors}`)),
    d("Header", "edit", csp, quoted("(?i)frame-ancestors[^;]*"), quoted(ancestors)),
    d("Header", "setifempty", csp, quoted(ancestors)),
    d("Header", "edit*", "Set-Cookie", quoted("(?i); *(?:SameSite=[^;]*|Secure)(?=;|$)"), quoted("")),
    d("Header", "edit", "Set-Cookie", quoted("^(.+)$"), quoted("$1; SameSite=None; Secure")),
  ];
}

/**
 * Split auth: the hub's pages (any letter case) need an allow-listed source or a password. The REST
 * API is granted by the raw request line (THE_REQUEST): Apache picks sections by the normalised
 * path but proxies the raw one, so only a plain `<base>hub/api/` path skips the password (see
 * render/split-auth.ts). Everything under `<base>user/` is outside this section altogether.
 */
function splitAuthSection(site: SiteSpec): Node[] {
  const auth = site.splitAuth;
  if (!auth) return [];
  const rawApi = `^[A-Z]+ ${hubRoutes(site).patterns.api}${rawPathTailInRequestLine}[? ]`;
  return [
    ...comment("Split auth: the hub's own pages need an allow-listed source or a password; the API keeps the hub's token auth."),
    block("LocationMatch", [quoted(`(?i)${hubPagesRegex(site)}`)], [
      d("AuthType", "Basic"),
      d("AuthName", quoted(auth.realm)),
      d("AuthBasicProvider", "file"),
      d("AuthUserFile", auth.userFile),
      block("RequireAny", [], [
        // Not quoted(): Require hands its argument over raw (the expr parser strips the quotes and
        // unescapes nothing); quoted() doubles each `\`, and PCRE would get `\\x5C`: a backslash, then "x5C".
        d("Require", "expr", `"%{THE_REQUEST} =~ m#${rawApi}#"`),
        ...(auth.allowFrom.length ? [d("Require", "ip", ...auth.allowFrom)] : []),
        d("Require", "valid-user"),
      ]),
    ]),
  ];
}

function staticVhost(site: SiteSpec, s: StaticSite): Node {
  return block("VirtualHost", [`*:${site.httpsPort}`], [
    ...serverNames(s),
    blank,
    ...tlsDirectives(site, s.tls),
    blank,
    ...maskedAccessLog(site),
    d("DocumentRoot", s.root),
    block("Directory", [s.root], [d("Options", "-Indexes"), d("AllowOverride", "None"), d("Require", "all", "granted")]),
  ]);
}

/**
 * Apache's log formats cannot rewrite a value, so a request whose query or Referer names a
 * credential parameter is logged by a second format that leaves both out (`%U`: path only).
 * Neither format has %r (request line with query) or any header but Referer and User-Agent.
 */
function maskedLogFormats(): Node[] {
  const common = ["%h %l %u %t", "%>s %O"];
  return [
    d("LogFormat", quoted(`${common[0]} "%m %U%q %H" ${common[1]} "%{Referer}i" "%{User-Agent}i"`), logFormatNames.apachePlain),
    d("LogFormat", quoted(`${common[0]} "%m %U?${redactedMarker} %H" ${common[1]} "${redactedMarker}" "%{User-Agent}i"`), logFormatNames.apacheRedacted),
  ];
}

/** The vhost's access log, masked (a vhost with its own CustomLog does not use the server's). */
function maskedAccessLog(site: SiteSpec): Node[] {
  const p = credentialParamPattern;
  const log = site.platform.apache.accessLog;
  return [
    d("SetEnvIfExpr", quoted(`%{QUERY_STRING} =~ /(^|&)${p}=/i || %{HTTP_REFERER} =~ /[?&]${p}=/i`), "jhe_credentials"),
    d("CustomLog", log, logFormatNames.apachePlain, "env=!jhe_credentials"),
    d("CustomLog", log, logFormatNames.apacheRedacted, "env=jhe_credentials"),
  ];
}

/**
 * ServerName and ServerAlias of a site. Apache matches wildcards only in ServerAlias, so a
 * wildcard site's ServerName is its lineage name (`_wildcard.example.org`, which no client sends)
 * and the wildcard itself an alias; the hub's `*.<domain>` (per-user subdomains) is an alias too.
 */
function serverNames(s: ServedSite): Node[] {
  const aliases = s.names.filter((n) => n !== s.domain || isWildcard(n));
  return [d("ServerName", isWildcard(s.domain) ? s.certificateName : s.domain), ...(aliases.length ? [d("ServerAlias", ...aliases)] : [])];
}

function redirectVhost(site: SiteSpec): Node {
  const [first, ...aliases] = allNames(site);
  return block("VirtualHost", ["*:80"], [
    d("ServerName", first),
    ...(aliases.length ? [d("ServerAlias", ...aliases)] : []),
    ...maskedAccessLog(site),
    d("DocumentRoot", hostPaths.acmeWebroot),
    block("Directory", [hostPaths.acmeWebroot], [d("Options", "None"), d("AllowOverride", "None"), d("Require", "all", "granted")]),
    d("RewriteEngine", "on"),
    d("RewriteCond", "%{REQUEST_URI}", "!^/\\.well-known/acme-challenge/"),
    d("RewriteRule", "^", `https://%{SERVER_NAME}${portSuffix(site)}%{REQUEST_URI}`, "[R=301,L]"),
  ]);
}

export function renderApache(site: SiteSpec): ProxyFiles {
  const paths = apacheConfigPaths(site);
  const http: Node[] = [
    ...comment(...managedBanner),
    blank,
    ...comment("Access log formats of every vhost of ours: no credentials (render/access-log.ts)."),
    ...maskedLogFormats(),
    blank,
    ...comment("Port 80: ACME HTTP-01 challenges are answered here; everything else moves to HTTPS."),
    redirectVhost(site),
  ];
  const https: Node[] = [
    ...comment(...managedBanner),
    blank,
    // Debian's ports.conf (RHEL: httpd.conf and mod_ssl's ssl.conf) listens on 80 and 443 already;
    // another port needs its own Listen.
    ...(site.httpsPort !== 443 ? [d("Listen", site.httpsPort, "https"), blank] : []),
    // The stapling cache is server-wide; a name of our own avoids clashing with another site's.
    ...(site.tls.ocspStapling ? [d("SSLStaplingCache", quoted(`shmcb:${site.platform.apache.runDir}/jhe_ocsp(128000)`)), blank] : []),
    ...apacheLoginLimitGlobal(site),
    ...comment(`The hub: ${hubUrl(site)}`),
    hubVhost(site),
    // Apache takes the first vhost whose name or alias matches, in file order (nginx prefers an
    // exact name whatever the order): exact names before wildcards, so *.example.org never
    // catches a www.example.org served by its own site.
    ...[...site.extraSites.filter((s) => !isWildcard(s.domain)), ...site.extraSites.filter((s) => isWildcard(s.domain))].flatMap((s) => [
      blank,
      ...comment(`Static site ${s.domain}, from ${s.root}`),
      staticVhost(site, s),
    ]),
  ];
  return {
    http: { path: paths.http, mode: "0644", content: serializeApache(http) + "\n" },
    https: { path: paths.https, mode: "0644", content: serializeApache(https) + "\n" },
  };
}
