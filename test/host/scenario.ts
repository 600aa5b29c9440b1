/**
 * Host tier: the plan's steps — the same scripts, command lines and payloads the components send —
 * run over real SSH on a fresh sandbox host, then probed from outside as a user would: HTTPS with
 * the test CA trusted, the port-80 redirect, the other domain's page, a real kernel over its
 * websocket through the proxy. Then: a second apply changes nothing, a broken change is refused
 * while the site keeps serving, a topology change (sub-path, port 8443) works, and undo leaves the
 * host exactly as it was found.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as tls from "tls";
import { parseConfig } from "../../config/schema";
import { SiteSpec, allDomains } from "../../model/site";
import { PlatformId } from "../../model/platforms";
import { ProxyKind } from "../../model/site";
import { Step, certificatePayload, planSteps } from "../../steps/plan";
import { TestCa, makeTestCa } from "../support/test-ca";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, runStep, ssh } from "../support/sandbox";
import { httpsGet, probeHubKernel } from "../support/hub-probe";
import { assertHubOnIpv6AndPrintedLine, movedConfig } from "./ipv6-upstream";

const HUB = "hub.jhe.test";
const WWW = "www.jhe.test";

function planFor(host: SandboxHost, ca: TestCa, extra: Record<string, unknown>, platform: PlatformId, proxy: ProxyKind): { site: SiteSpec; steps: Step[] } {
  const { site } = parseConfig({
    proxy,
    host: host.addr,
    sshPrivateKeyFile: host.sshKey,
    hostKey: host.hostKey,
    platform,
    hubDomain: HUB,
    extraSites: [{ domain: WWW }],
    ...extra,
  });
  return { site, steps: planSteps(site, certificatePayload(site, ca.material)) };
}

function applyAll(host: SandboxHost, steps: Step[]): string[] {
  return steps.map((step) => {
    const r = runStep(host, step, "apply");
    assert.equal(r.status, 0, `step ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
    return `${step.name}: ${r.stdout.trim().split("\n").pop()}`;
  });
}

function undoAll(host: SandboxHost, steps: Step[]): void {
  for (const step of [...steps].reverse()) {
    const r = runStep(host, step, "undo");
    assert.equal(r.status, 0, `undo of ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
  }
}

const unitOf = (proxy: ProxyKind) => (proxy === "nginx" ? "nginx" : "apache2");
const mainPids = (host: SandboxHost, proxy: ProxyKind) => ssh(host, `systemctl show -p MainPID --value ${unitOf(proxy)} jupyterhub`).stdout.trim();

/** A site the host already serves before we arrive: it must keep working, untouched, throughout. */
const LEGACY = "legacy.jhe.test";
function installLegacySite(host: SandboxHost, proxy: ProxyKind): void {
  const script = proxy === "nginx"
    ? `set -e; apt-get install -y -q nginx >/dev/null
       mkdir -p /srv/legacy; echo 'legacy site' >/srv/legacy/index.html
       printf 'server {\n  listen 80;\n  server_name ${LEGACY};\n  root /srv/legacy;\n}\n' >/etc/nginx/sites-available/legacy
       ln -sf /etc/nginx/sites-available/legacy /etc/nginx/sites-enabled/legacy; nginx -t -q; systemctl reload nginx`
    : `set -e; apt-get install -y -q apache2 >/dev/null
       mkdir -p /srv/legacy; echo 'legacy site' >/srv/legacy/index.html
       printf '<VirtualHost *:80>\n  ServerName ${LEGACY}\n  DocumentRoot /srv/legacy\n  <Directory /srv/legacy>\n    Require all granted\n  </Directory>\n</VirtualHost>\n' >/etc/apache2/sites-available/legacy.conf
       a2ensite -q legacy >/dev/null; apache2ctl configtest 2>/dev/null; systemctl reload apache2`;
  const r = ssh(host, "bash -s", script);
  assert.equal(r.status, 0, `legacy site setup failed: ${r.stderr}`);
}

export interface ScenarioOptions {
  suite: "trixie" | "bookworm";
  platform: PlatformId;
  proxy: ProxyKind;
  /** Start from a host that already runs the proxy with a site of its own (else: a fresh host). */
  preexistingSite: boolean;
}

export function hostScenario({ suite, platform, proxy, preexistingSite }: ScenarioOptions): void {
  const hostName = `ht-${proxy}-${suite}`;

  let host: SandboxHost;
  let ca: TestCa;
  let asFound: string;
  let hubConfigBefore: string;
  let steps: Step[];
  let site: SiteSpec;

  const connectTo = () => ({ host: host.addr });
  const get = (url: string) => httpsGet(url, { connectTo: connectTo(), ca: ca.caPem, timeoutMs: 15_000 });

  before(() => {
    const t0 = Date.now();
    host = createHost(hostName, suite);
    console.log(`# host ${hostName} (${suite}) up at ${host.addr} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    ca = makeTestCa([HUB, WWW]);
    if (preexistingSite) installLegacySite(host, proxy);
    ({ site, steps } = planFor(host, ca, {}, platform, proxy));
    asFound = fingerprint(host);
    hubConfigBefore = ssh(host, "cat /etc/jupyterhub/jupyterhub_config.py").stdout;
  });
  after(() => {
    if (host && process.env.JHE_KEEP_HOSTS !== "1") removeHost(hostName);
  });

  test(`${proxy}/${suite}: first apply of every step succeeds`, () => {
    const t0 = Date.now();
    const lines = applyAll(host, steps);
    console.log(`# applied ${steps.length} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s:\n#   ${lines.join("\n#   ")}`);
  });

  test(`${proxy}/${suite}: key files are root-only, the hub config keeps the user's bytes`, () => {
    const modes = ssh(host, `stat -c '%a %U %n' /etc/jupyterhub-edge/tls/*/privkey.pem /etc/jupyterhub-edge/tls/*/fullchain.pem`).stdout;
    for (const d of allDomains(site)) {
      assert.match(modes, new RegExp(`^600 root /etc/jupyterhub-edge/tls/${d}/privkey\\.pem$`, "m"));
      assert.match(modes, new RegExp(`^644 root /etc/jupyterhub-edge/tls/${d}/fullchain\\.pem$`, "m"));
    }
    const config = ssh(host, "cat /etc/jupyterhub/jupyterhub_config.py").stdout;
    assert.ok(config.startsWith(hubConfigBefore), "everything before the managed block is the user's file, byte for byte");
    assert.match(config.slice(hubConfigBefore.length), /^# BEGIN jupyterhub-edge managed block.*\nc\.JupyterHub\.bind_url = 'http:\/\/127\.0\.0\.1:8000\/'\n# END jupyterhub-edge managed block\n$/s);
  });

  test(`${proxy}/${suite}: HTTPS login page, HSTS, redirect on 80 with the ACME path exempt, the other domain`, async () => {
    const login = await get(`https://${HUB}/hub/login`);
    assert.equal(login.status, 200, login.body.slice(0, 300));
    assert.match(login.body, /<form[^>]*action="[^"]*login/i);
    assert.equal(login.tls?.authorized, true, "certificate chain verifies against the test CA");
    assert.match(String(login.headers["strict-transport-security"]), /^max-age=63072000; includeSubDomains$/);

    const redirect = await get(`http://${HUB}/hub/home?x=1`);
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, `https://${HUB}/hub/home?x=1`);
    const acme = await get(`http://${HUB}/.well-known/acme-challenge/probe-token`);
    assert.equal(acme.status, 404, "ACME challenges are answered on port 80, not redirected");

    const www = await get(`https://${WWW}/`);
    assert.equal(www.status, 200);
    assert.match(www.body, /www\.jhe\.test is served by jupyterhub-edge/);
    assert.match(String(www.headers["strict-transport-security"]), /^max-age=/);
    const missing = await get(`https://${HUB}/hub/this-page-does-not-exist`);
    assert.equal(missing.status, 404);
    assert.match(String(missing.headers["strict-transport-security"]), /^max-age=/, "HSTS on error responses too");
  });

  test(`${proxy}/${suite}: only TLS 1.2 and 1.3 are offered`, async () => {
    const handshake = (min: tls.SecureVersion, max: tls.SecureVersion) =>
      new Promise<string>((resolve) => {
        const s = tls.connect({ host: host.addr, port: 443, servername: HUB, ca: ca.caPem, minVersion: min, maxVersion: max });
        s.once("secureConnect", () => { resolve(String(s.getProtocol())); s.destroy(); });
        s.once("error", (e) => resolve(`refused: ${e.message.slice(0, 80)}`));
        s.setTimeout(10_000, () => { resolve("timeout"); s.destroy(); });
      });
    assert.equal(await handshake("TLSv1.3", "TLSv1.3"), "TLSv1.3");
    assert.equal(await handshake("TLSv1.2", "TLSv1.2"), "TLSv1.2");
    assert.match(await handshake("TLSv1", "TLSv1.1"), /^refused/);
  });

  test(`${proxy}/${suite}: a real kernel runs code over its websocket through the proxy`, async () => {
    const r = await probeHubKernel({
      baseUrl: `https://${HUB}/`, connectTo: connectTo(), ca: ca.caPem,
      username: host.hubUser, password: host.hubPassword, requireStreamedProgress: false,
    });
    assert.match(r.output, /42/);
    console.log(`# kernel probe: ${r.output.trim()} in ${r.totalMs} ms (${r.steps.map((s) => `${s.name} ${s.ms}ms`).join(", ")})`);
  });

  test(`${proxy}/${suite}: the hub itself is not reachable from outside (bound to 127.0.0.1)`, async () => {
    await assert.rejects(httpsGet(`http://${host.addr}:8000/hub/health`, { timeoutMs: 5000 }));
  });

  test(`${proxy}/${suite}: a second apply changes nothing and restarts nothing`, () => {
    const before = fingerprint(host);
    const pids = mainPids(host, proxy);
    const lines = applyAll(host, steps);
    assert.equal(fingerprintDiff(before, fingerprint(host)), "", "host changed on a second apply");
    assert.equal(mainPids(host, proxy), pids, "the proxy or the hub was restarted");
    console.log(`# second apply:\n#   ${lines.join("\n#   ")}`);
  });

  test(`${proxy}/${suite}: a managed block whose comments alone changed (an upgrade's wording) is rewritten without restarting the hub`, () => {
    const hubStep = steps.find((s) => s.name === "hub-bind-url")!;
    const reworded = { ...hubStep, payload: String(hubStep.payload).replace(/^\|# BEGIN jupyterhub-edge managed block.*$/m, "|# BEGIN jupyterhub-edge managed block: an older wording") };
    assert.notEqual(reworded.payload, hubStep.payload);
    const pid = () => ssh(host, "systemctl show -p MainPID --value jupyterhub").stdout.trim();
    const before = pid();
    for (const step of [reworded, hubStep]) {
      const r = runStep(host, step, "apply");
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr + r.stdout, /only its comments changed; rewritten without restarting jupyterhub/);
    }
    assert.equal(pid(), before, "the hub was restarted for a comment");
    assert.match(ssh(host, "grep '^# BEGIN jupyterhub-edge' /etc/jupyterhub/jupyterhub_config.py").stdout, /`pulumi preview --refresh` shows hand edits/);
  });

  test(`${proxy}/${suite}: a broken config is refused by the config test and the live site keeps its old files`, async () => {
    const config = steps.find((s) => s.name === "proxy-config")!;
    const [good, bad] = proxy === "nginx" ? ["proxy_buffering off;", "proxy_buffering sideways;"] : ["ProxyPreserveHost on", "ProxyPreserveHost sideways"];
    const broken: Step = { ...config, payload: config.payload.replace(good, bad) };
    const before = fingerprint(host);
    const r = runStep(host, broken, "apply");
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /failed its test; the previous files are back/);
    assert.match(r.stderr, proxy === "nginx" ? /proxy_buffering/ : /ProxyPreserveHost/);
    assert.equal(fingerprintDiff(before, fingerprint(host)), "", "files changed although the test failed");
    assert.equal((await get(`https://${HUB}/hub/login`)).status, 200, "site still serving");
  });

  if (proxy === "apache") {
    test(`${proxy}/${suite}: a config that passes configtest but cannot serve TLS is rolled back after the handshake check`, async () => {
      const config = steps.find((s) => s.name === "proxy-config")!;
      // Another domain's key: configtest passes (it does not load keys), the reload cannot serve TLS.
      const broken: Step = { ...config, payload: config.payload.replace(`${HUB}/privkey.pem`, `${WWW}/privkey.pem`) };
      const before = fingerprint(host);
      const r = runStep(host, broken, "apply");
      assert.notEqual(r.status, 0, r.stdout);
      assert.match(r.stderr, /rolled back/);
      assert.equal(fingerprintDiff(before, fingerprint(host)), "", "files changed although the apply failed");
      assert.equal((await get(`https://${HUB}/hub/login`)).status, 200, "site serving again on the old files");
    });
  }

  if (preexistingSite) {
    test(`${proxy}/${suite}: the site that was there before still serves, its files untouched`, async () => {
      const r = await httpsGet(`http://${LEGACY}/`, { connectTo: connectTo(), timeoutMs: 10_000 });
      assert.equal(r.status, 200);
      assert.equal(r.body, "legacy site\n");
    });
  }

  test(`${proxy}/${suite}: moving the hub to /jhub/ on port 8443${suite === "trixie" ? " (and onto [::1])" : ""} works, with no redirect loop`, async () => {
    const moved = planFor(host, ca, movedConfig(suite), platform, proxy).steps;
    // Like `pulumi up` after a config change: only steps whose payload changed run again.
    const changed = moved.filter((s) => steps.find((o) => o.name === s.name)?.payload !== s.payload);
    // fail2ban's jail bans on the public ports: 8443 now.
    assert.deepEqual(changed.map((s) => s.name), ["proxy-http", "proxy-config", "fail2ban-jail", "hub-bind-url"]);
    applyAll(host, changed);
    const bare = await get(`https://${HUB}:8443/jhub`);
    assert.equal(bare.status, 301);
    assert.equal(bare.headers.location, `https://${HUB}:8443/jhub/`);
    const outside = await get(`https://${HUB}:8443/elsewhere`);
    assert.equal(outside.status, 302);
    assert.equal(outside.headers.location, `https://${HUB}:8443/jhub/`);
    const http = await get(`http://${HUB}/jhub/hub/`);
    assert.equal(http.headers.location, `https://${HUB}:8443/jhub/hub/`);
    const r = await probeHubKernel({
      baseUrl: `https://${HUB}:8443/jhub/`, connectTo: connectTo(), ca: ca.caPem,
      username: host.hubUser, password: host.hubPassword,
    });
    assert.match(r.output, /42/);
    console.log(`# kernel probe at /jhub/ on 8443: ${r.output.trim()} in ${r.totalMs} ms`);
    if (suite === "trixie") assertHubOnIpv6AndPrintedLine(host, ca, HUB, `https://${HUB}:8443/jhub/`);
    steps = moved;
  });

  if ((proxy === "nginx") === (suite === "bookworm")) {
    test(`${proxy}/${suite}: DHE on request: a dhparam generated once, used by ${proxy}, never regenerated`, async () => {
      const withDhe = planFor(host, ca, { ...movedConfig(suite), dhe: true }, platform, proxy).steps;
      const changed = withDhe.filter((s) => steps.find((o) => o.name === s.name)?.payload !== s.payload);
      assert.deepEqual(changed.map((s) => s.name), ["dhparam", "proxy-config"]);
      const t0 = Date.now();
      applyAll(host, changed);
      const made = ssh(host, "stat -c %Y /etc/jupyterhub-edge/dhparam.pem; openssl dhparam -in /etc/jupyterhub-edge/dhparam.pem -noout -text | head -1").stdout;
      console.log(`# dhparam generated in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${made.trim().split("\n")[1]}`);
      assert.match(made, /DH Parameters: \(2048 bit\)/);
      const again = runStep(host, withDhe.find((s) => s.name === "dhparam")!, "apply");
      assert.match(again.stdout, /exists; kept/);
      assert.equal(ssh(host, "stat -c %Y /etc/jupyterhub-edge/dhparam.pem").stdout.trim(), made.split("\n")[0], "not regenerated");
      assert.equal((await get(`https://${HUB}:8443/jhub/hub/login`)).status, 200);
      steps = withDhe;
    });
  }

  test(`${proxy}/${suite}: undo leaves the host exactly as it was found`, () => {
    undoAll(host, steps);
    const diff = fingerprintDiff(asFound, fingerprint(host));
    assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
    assert.equal(ssh(host, "cat /etc/jupyterhub/jupyterhub_config.py").stdout, hubConfigBefore, "hub config restored byte for byte");
    assert.equal(ssh(host, "curl -fsS -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/hub/health").stdout, "200", "hub back on its own config");
    if (preexistingSite) {
      assert.equal(ssh(host, `curl -fsS -H 'Host: ${LEGACY}' http://127.0.0.1/`).stdout, "legacy site\n", "the other site still serves after undo");
    }
  });
}
