/**
 * Render tier, RHEL family: golden files for the RHEL layout, and the rendered files and plan
 * checked against the platform table's layout. RHEL's nginx/httpd cannot run on this Debian machine,
 * so instead of `nginx -t` / `apachectl -t` this checks what those would depend on: where the files
 * go (the directories the stock configs include), that nothing Debian-only leaks in (a2enmod,
 * sites-enabled, ${APACHE_RUN_DIR}, www-data), that every Apache directive's module is one the
 * modules step makes sure is loaded, and that the steps drive dnf, httpd and firewalld-era names
 * from the table. UPDATE_GOLDEN=1 rewrites the golden files.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "path";
import { parseConfig } from "../../config/schema";
import { renderNginx } from "../../render/nginx";
import { apacheModules, renderApache } from "../../render/apache";
import { platforms } from "../../model/platforms";
import { certificatePayload, planSteps } from "../../steps/plan";
import { installedScript } from "../../steps/remote-scripts";
import { baseConfig } from "./variants";
import { golden } from "../support/golden";


const rhelVariants: Record<string, Record<string, unknown>> = {
  "rhel9-default": { ...baseConfig, platform: "rhel-9" },
  "rhel9-extra-site-ocsp-provided": {
    ...baseConfig,
    platform: "rhel-9",
    certificateMode: "provided",
    providedDomains: ["hub.example.org", "www.example.org"],
    ocspStapling: true,
    extraSites: [{ domain: "www.example.org", root: "/srv/www-site" }],
  },
  "fedora42-subpath-port-acme": {
    ...baseConfig,
    platform: "fedora-42",
    hubPath: "/jhub/",
    httpsPort: 8443,
    certificateMode: "acme",
    acmeEmail: "admin@example.org",
  },
};

const debianOnly = [/\/etc\/apache2\b/, /sites-(enabled|available)/, /\$\{APACHE_[A-Z_]+\}/, /\bwww-data\b/, /\ba2enmod\b/, /\bapache2(ctl)?\b/];

/** Which module provides each directive the Apache renderer uses (httpd 2.4 module docs). */
function modulesNeeded(text: string): Set<string> {
  const needed = new Set<string>();
  const by: [RegExp, string][] = [
    [/^\s*SSL\w+/m, "ssl"],
    [/shmcb:/, "socache_shmcb"],
    [/^\s*Proxy\w+/m, "proxy"],
    [/^\s*ProxyPass\s+\S+\s+(http|unix):/m, "proxy_http"],
    [/^\s*RequestHeader\b|^\s*Header\b/m, "headers"],
    [/^\s*Rewrite\w+/m, "rewrite"],
    [/^\s*Protocols\b.*\bh2\b/m, "http2"],
    [/ws:\/\//, "proxy_wstunnel"],
  ];
  for (const [re, mod] of by) if (re.test(text)) needed.add(mod);
  return needed;
}

for (const [name, raw] of Object.entries(rhelVariants)) {
  for (const proxy of ["nginx", "apache"] as const) {
    const { site } = parseConfig({ ...raw, proxy });
    const files = proxy === "nginx" ? renderNginx(site) : renderApache(site);
    const facts = proxy === "nginx" ? site.platform.nginx : site.platform.apache;

    test(`render ${proxy} ${name}: matches golden files`, () => {
      golden(`${proxy}/${name}.http.conf`, files.http.content);
      golden(`${proxy}/${name}.conf`, files.https.content);
    });

    test(`render ${proxy} ${name}: files fit ${site.platform.id}'s layout`, () => {
      const dir = proxy === "nginx" ? "/etc/nginx/conf.d" : "/etc/httpd/conf.d";
      for (const f of [files.http, files.https]) {
        assert.equal(path.dirname(f.path), dir, `${f.path}: in the directory whose *.conf the stock config includes`);
        assert.match(f.path, /\.conf$/, "only *.conf files are included");
        for (const re of debianOnly) assert.doesNotMatch(f.content, re, `${f.path}: nothing Debian-only (${re})`);
      }
      if (proxy === "apache") {
        const mods = new Set(apacheModules(site));
        for (const m of modulesNeeded(files.http.content + files.https.content)) assert.ok(mods.has(m), `module ${m} is used and must be ensured loaded`);
        if (site.tls.ocspStapling) assert.match(files.https.content, /SSLStaplingCache "shmcb:\/run\/httpd\/jhe_ocsp/, "the stapling cache in RHEL's run dir");
        // mod_ssl's conf.d/ssl.conf has `Listen 443 https`: a second Listen 443 would fail to start.
        if (site.httpsPort === 443) assert.doesNotMatch(files.https.content, /^Listen\b/m);
        else assert.match(files.https.content, new RegExp(`^Listen ${site.httpsPort} https$`, "m"));
      } else {
        const http2 = site.platform.nginx.http2Directive === "server-directive" ? /^\s+http2 on;$/m : /listen \S+ ssl http2;/;
        assert.match(files.https.content, http2, `HTTP/2 in nginx ${facts.version}'s syntax`);
        assert.doesNotMatch(files.https.content + files.http.content, /^\s*(user|include)\b/m, "a conf.d file is inside http{}: no user/include of its own");
      }
    });

    test(`plan ${proxy} ${name}: steps drive ${site.platform.id}'s tools from the table`, () => {
      const material = ["hub.example.org", "www.example.org"].map((domain) => ({ domain, fullchainPem: "-----BEGIN CERTIFICATE-----\nx\n", privateKeyPem: "k\n" }));
      const steps = planSteps(site, certificatePayload(site, material));
      const payload = (n: string) => String(steps.find((s) => s.name === n)?.payload ?? assert.fail(`no step ${n}`));
      const pre = payload("preflight");
      assert.match(pre, new RegExp(`^os_id ${site.platform.osRelease.id}$`, "m"));
      assert.match(pre, /^package_manager dnf$/m);
      assert.match(pre, new RegExp(`^version_match ${site.platform.id === "rhel-9" ? "major" : "exact"}$`, "m"));
      const pkgs = payload("proxy-packages");
      assert.match(pkgs, /^manager dnf$/m);
      assert.match(pkgs, new RegExp(`^packages ${facts.packages.join(" ")}$`, "m"));
      assert.match(pkgs, new RegExp(`^service ${proxy === "nginx" ? "nginx" : "httpd"}$`, "m"));
      assert.match(payload("proxy-http"), new RegExp(`^after ${facts.service}$`, "m"));
      assert.match(installedScript("files").text, /\['httpd'\]='apachectl configtest'/, "files.sh tests httpd's config with apachectl (the shipped table)");
      if (proxy === "apache") {
        assert.deepEqual(platforms["rhel-9"].apache.packages, ["httpd", "mod_ssl", "mod_http2"]);
        const mods = payload("apache-modules");
        assert.match(mods, /^mechanism conf\.modules\.d$/m);
        assert.match(mods, /^modules_dir \/etc\/httpd\/conf\.modules\.d$/m);
        assert.match(mods, /^configtest apachectl$/m);
      }
      // (The install step carries every script, Debian's branches included: it is the same bundle everywhere.)
      for (const s of steps.filter((s) => s.script !== "install")) assert.doesNotMatch(String(s.payload), /a2enmod|apt-get|www-data/, `${s.name}: no Debian tool in a RHEL payload`);
      if (site.acme) {
        const certbot = payload("certbot-packages");
        assert.match(certbot, /^packages certbot python3-certbot$/m);
        assert.match(certbot, /^service certbot-renew\.timer$/m);
        if (site.platform.id === "rhel-9") assert.match(certbot, /^repositories epel-release$/m);
        else assert.doesNotMatch(certbot, /^repositories/m, "Fedora ships certbot itself");
      }
      assert.ok(steps.some((s) => s.name === "selinux"), "selinux: auto plans the step");
      const fw = payload("firewall");
      assert.match(fw, /^firewall firewalld$/m);
      assert.match(fw, new RegExp(`^ports 80/tcp ${site.httpsPort}/tcp$`, "m"));
      assert.ok(steps.find((s) => s.name === "proxy-http")!.after.includes("firewall"), "port 80 open before the ACME challenge");
    });
  }
}

test("Debian plans have no firewall step (platform firewall: none)", () => {
  const { site } = parseConfig({ ...baseConfig, platform: "debian-12" });
  assert.ok(!planSteps(site, "after none\n").some((s) => s.name === "firewall"));
});

test("the RHEL rebuilds are aliases: the same facts as rhel-9 but /etc/os-release's ID", () => {
  const { id: _a, osRelease: rhelRelease, ...rhel } = platforms["rhel-9"];
  for (const [alias, osId] of [["rocky-9", "rocky"], ["alma-9", "almalinux"]] as const) {
    const { id, osRelease, ...facts } = platforms[alias];
    assert.equal(id, alias);
    assert.deepEqual(facts, rhel);
    assert.deepEqual(osRelease, { ...rhelRelease, id: osId });
  }
});
