/**
 * Render tier: pure renderers against golden files, and every variant through the real `nginx -t`
 * of its platform's nginx release. UPDATE_GOLDEN=1 rewrites the golden files (review the diff!).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../config/schema";
import { renderNginx } from "../../render/nginx";
import { renderHubBlock } from "../../render/hub-config";
import { filesPayload } from "../../render/files";
import { variants } from "./variants";
import { apacheTest, nginxTest } from "../support/proxy-check";
import { apacheModules, renderApache } from "../../render/apache";
import { golden } from "../support/golden";


for (const [name, raw] of Object.entries(variants)) {
  const { site } = parseConfig(raw);
  const rendered = renderNginx(site);
  const files = [rendered.http, rendered.https];

  test(`render nginx ${name}: matches golden files`, () => {
    golden(`nginx/${name}.http.conf`, rendered.http.content);
    golden(`nginx/${name}.conf`, rendered.https.content);
    golden(`hub-block/${name}.py`, renderHubBlock(site));
  });

  test(`render nginx ${name}: real nginx -t (${site.platform.id}, nginx ${site.platform.nginx.version}) accepts it`, () => {
    const r = nginxTest(files, site.platform);
    assert.equal(r.version, site.platform.nginx.version, "checked by the platform's own nginx release");
    assert.ok(r.ok, `nginx -t failed:\n${r.output}`);
  });

  const apacheSite = parseConfig({ ...raw, proxy: "apache" }).site;
  const apacheRendered = renderApache(apacheSite);
  const apacheFiles = [apacheRendered.http, apacheRendered.https];
  test(`render apache ${name}: matches golden files`, () => {
    golden(`apache/${name}.http.conf`, apacheRendered.http.content);
    golden(`apache/${name}.conf`, apacheRendered.https.content);
  });
  test(`render apache ${name}: real apache2ctl -t (${site.platform.id}, Apache ${site.platform.apache.version}) accepts it`, () => {
    const r = apacheTest(apacheFiles, apacheSite.platform, apacheModules(apacheSite));
    assert.equal(r.version, apacheSite.platform.apache.version, "checked by the platform's own Apache release");
    assert.ok(r.ok, `apache2ctl -t failed:\n${r.output}`);
  });
}

test("apache2ctl -t catches a broken config (the check can fail)", () => {
  const { site } = parseConfig({ ...variants["debian13-default"], proxy: "apache" });
  const file = renderApache(site).https;
  const r = apacheTest([{ ...file, content: file.content.replace("ProxyPreserveHost on", "ProxyPreserveHost sideways") }], site.platform, apacheModules(site));
  assert.equal(r.ok, false);
  assert.match(r.output, /ProxyPreserveHost/);
});

test("apache: required behaviours are present in every variant", () => {
  for (const [name, raw] of Object.entries(variants)) {
    const { site } = parseConfig({ ...raw, proxy: "apache" });
    const { http, https } = renderApache(site);
    const text = http.content + https.content;
    for (const re of [
      /RewriteCond %\{REQUEST_URI\} !\^\/\\\.well-known\/acme-challenge\//,
      /RewriteRule \^ https:\/\/%\{SERVER_NAME\}(:\d+)?%\{REQUEST_URI\} \[R=301,L\]/,
      /ProxyPass \S+ \S+ upgrade=websocket flushpackets=on timeout=\d+/,
      /ProxyPreserveHost on/,
      /RequestHeader set X-Forwarded-Proto https/,
      /RequestHeader set X-Forwarded-Port "\d+"/,
      /RequestHeader set X-Real-IP "%\{REMOTE_ADDR\}s"/,
      /RequestHeader unset X-Forwarded-For early/,
      /RequestHeader unset Forwarded early/,
      /<LocationMatch "\(\?i\)\^\/(?:[^"]*\/)?hub\/metrics">\n\s+Require (?:all denied|ip \S)/,
      /RewriteCond %\{THE_REQUEST\} \S+metrics\S+\n\s+RewriteRule \^ - \[F\]/,
      /SSLProtocol -all \+TLSv1\.2 \+TLSv1\.3|SSLProtocol -all \+TLSv1\.3/,
      /Protocols h2 http\/1\.1/,
      /LimitRequestBody \d+/,
    ]) assert.match(text, re, `${name}: missing ${re}`);
    if (site.tls.hstsMaxAge > 0) assert.match(text, /Header always set Strict-Transport-Security "max-age=\d+/);
  }
});

test("render is deterministic and payload round-trips line structure", () => {
  const { site } = parseConfig(variants["debian13-extra-site"]);
  assert.deepEqual(renderNginx(site), renderNginx(site));
  const payload = filesPayload([renderNginx(site).https]);
  const body = payload.split("\n").filter((l) => l.startsWith("|")).map((l) => l.slice(1));
  assert.equal(body.join("\n") + "\n", renderNginx(site).https.content);
});

test("nginx -t catches a broken config (the check can fail)", () => {
  const { site } = parseConfig(variants["debian12-default"]);
  const { http, https: file } = renderNginx(site);
  const broken = { ...file, content: file.content.replace("proxy_buffering off;", "proxy_buffering sideways;") };
  // With the port-80 file, as on a host: it defines the masked log format both files use.
  const r = nginxTest([http, broken], site.platform);
  assert.equal(r.ok, false);
  assert.match(r.output, /proxy_buffering/);
});

test("required behaviours are present in every variant", () => {
  for (const [name, raw] of Object.entries(variants)) {
    const { site } = parseConfig(raw);
    const { http, https } = renderNginx(site);
    const text = http.content + https.content;
    assert.doesNotMatch(http.content, /ssl_certificate/, `${name}: the port-80 file must load without certificates`);
    const must = [
      /location \^~ \/\.well-known\/acme-challenge\//,
      /return 301 https:\/\/\$host(:\d+)?\$request_uri;/,
      /proxy_set_header Upgrade \$http_upgrade;/,
      /proxy_set_header Connection \$jhe_connection_upgrade;/,
      /proxy_set_header X-Forwarded-Proto https;/,
      /proxy_set_header X-Real-IP \$remote_addr;/,
      /proxy_set_header X-Forwarded-For \$remote_addr;/,
      /proxy_set_header Forwarded "";/,
      /if \(\$jhe_metrics_ambiguous = 1\) \{\n\s+return 403;/,
      /location ~\* "\^\/(?:[^"]*\/)?hub\/metrics" \{/,
      /proxy_set_header X-Scheme https;/,
      /proxy_http_version 1\.1;/,
      /proxy_buffering off;/,
      /client_max_body_size \d+m;/,
    ];
    for (const re of must) assert.match(text, re, `${name}: missing ${re}`);
    assert.doesNotMatch(text, /\$proxy_add_x_forwarded_for/, `${name}: a client's X-Forwarded-For must not reach the hub`);
    assert.doesNotMatch(text, /\bssl on;/, `${name}: 'ssl on' was removed in nginx 1.25.1`);
    assert.doesNotMatch(text, /TLSv1(\.1)?\b(?!\.)/, `${name}: TLS 1.0/1.1 must not be offered`);
    if (site.tls.hstsMaxAge > 0) assert.match(text, /add_header Strict-Transport-Security "max-age=\d+[^"]*" always;/);
    const http2 = site.platform.nginx.http2Directive === "server-directive" ? /^\s+http2 on;$/m : /listen \S+ ssl http2;/;
    assert.match(text, http2, `${name}: HTTP/2 in ${site.platform.id}'s syntax`);
  }
});

test("embedding: CSP frame-ancestors and cookie flags only when embedAllowFrom is set; nginx keeps HSTS on every location", () => {
  for (const [name, raw] of Object.entries(variants)) {
    const { site } = parseConfig(raw);
    const nginx = renderNginx(site).https.content;
    const apache = renderApache(parseConfig({ ...raw, proxy: "apache" }).site).https.content;
    if (!site.embedding) {
      for (const text of [nginx, apache]) assert.doesNotMatch(text, /Content-Security-Policy|frame-ancestors|proxy_cookie_flags|Set-Cookie/i, `${name}: embedding off changes nothing`);
      continue;
    }
    const ancestors = ["frame-ancestors", "'self'", ...site.embedding.allowFrom].join(" ");
    // An add_header inside a location drops the server's HSTS there: none may have one.
    const hubServer = /# The hub: [^\n]*\nserver \{([\s\S]*?)\n\}/.exec(nginx)![1];
    for (const loc of hubServer.matchAll(/\n    location [^\n]*\{([\s\S]*?)\n    \}/g)) assert.doesNotMatch(loc[1], /add_header/, `${name}: add_header in a location`);
    assert.match(hubServer, /\n    add_header Strict-Transport-Security "[^"]+" always;\n/);
    assert.match(hubServer, /\n    proxy_hide_header Content-Security-Policy;\n    add_header Content-Security-Policy \$jhe_content_security_policy always;\n    proxy_cookie_flags ~ secure samesite=none;\n/);
    assert.ok(nginx.includes(`default "${ancestors}";`), `${name}: the CSP when the upstream sends none`);
    assert.match(apache, new RegExp(`Header setifempty Content-Security-Policy "${ancestors.replace(/[.*]/g, "\\$&")}"`));
    assert.match(apache, /Header edit Set-Cookie "\^\(\.\+\)\$" "\$1; SameSite=None; Secure"/);
    // Static sites are not framed by the platform's rules: only the hub's vhost/server carries them.
    assert.equal((nginx.match(/proxy_cookie_flags/g) ?? []).length, 1);
    assert.equal((apache.match(/Header setifempty/g) ?? []).length, 1);
  }
});

test("embedding: the nginx map replaces only frame-ancestors of the upstream's CSP (the same regexes, run here)", () => {
  const { site } = parseConfig(variants["debian13-embed"]);
  const nginx = renderNginx(site).https.content;
  const map = /map \$upstream_http_content_security_policy \$jhe_content_security_policy \{\n([\s\S]*?)\n\}/.exec(nginx)![1];
  const rules = [...map.matchAll(/^\s+"~(\*?)([^"]*)" "([^"]*)";$/gm)].map((m) => ({ re: new RegExp(m[2].replace(/\(\?<jhe_/g, "(?<jhe_"), m[1] ? "i" : ""), out: m[3] }));
  const fallback = /default "([^"]*)";/.exec(map)![1];
  // nginx: the first matching regex wins; named captures as ${name}; the default when none matches.
  const apply = (csp: string) => {
    for (const r of rules) {
      const m = r.re.exec(csp);
      if (m) return r.out.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string, b: string) => (a ? m.groups![a] : b === "upstream_http_content_security_policy" ? csp : ""));
    }
    return fallback;
  };
  const fa = "frame-ancestors 'self' https://lms.example.edu https://*.instructure.com https://moodle.example.edu:8443";
  // What JupyterHub 6 and Jupyter Server 2 send (measured on the sandbox hosts).
  assert.equal(apply("frame-ancestors 'self'; report-uri /hub/security/csp-report"), `${fa}; report-uri /hub/security/csp-report`);
  assert.equal(apply("frame-ancestors 'self'; report-uri /user/learner/api/security/csp-report; default-src 'none'"), `${fa}; report-uri /user/learner/api/security/csp-report; default-src 'none'`);
  assert.equal(apply("default-src 'self'; Frame-Ancestors 'none'"), `default-src 'self'; ${fa}`);
  assert.equal(apply("default-src 'self'"), `default-src 'self'; ${fa}`);
  assert.equal(apply(""), fa);
});
