/**
 * Engine tier: the project's own program through the real Pulumi engine (Automation API, inline
 * program), the real CLI and the real command/tls/random plugins, against a sandbox host:
 * up → user probes → a second up with no changes → preview of a change shows the rendered diff →
 * bad config refused before SSH → proxy switches in place → destroy → host as found. Without the
 * CLI or plugins it prints one SKIP line naming what is missing.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import type { Stack } from "@pulumi/pulumi/automation";
import { edgeStack, repoRoot } from "../../scripts/automation";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, ssh } from "../support/sandbox";
import { ProxyKind } from "../../model/site";
import { PlatformId } from "../../model/platforms";
import { httpsGet, probeHubKernel } from "../support/hub-probe";

export function missingToolchain(): string {
  if (process.env.JHE_ENGINE_MISSING !== undefined) return process.env.JHE_ENGINE_MISSING;
  if (spawnSync("pulumi", ["version"]).status !== 0) return "pulumi CLI not on PATH (source scripts/toolchain/env.sh)";
  const r = spawnSync("bash", [path.join(repoRoot, "scripts/toolchain/check-plugins.sh"), "--check"], { encoding: "utf8" });
  // The nodejs language host too: it runs this package's own provider plugin (the drift watch).
  return r.stdout.split("\n").filter((l) => l.startsWith("missing plugin") || l.startsWith("missing language-host pulumi-language-nodejs")).join("; ");
}

const HUB = "hub.engine.test";
const WWW = "www.engine.test";
const LEGACY = "legacy.engine.test";

export interface EngineScenario {
  suite: "trixie" | "bookworm";
  platform: PlatformId;
  proxy: ProxyKind;
  /** The host already runs `proxy` with a site of its own, which must keep serving. */
  preexistingSite: boolean;
  /** Proxies to switch to, in order, with one `pulumi up` each (e.g. ["apache", "nginx"]). */
  switchTo: ProxyKind[];
}

const serverProcess = { nginx: /"nginx"/, apache: /"apache2"/ };

/** A site the host served before the program came (on port 80, "legacy site"), which must keep serving. */
export function installPreexistingSite(host: SandboxHost, proxy: ProxyKind, domain: string): void {
  const unit = proxy === "nginx" ? "nginx" : "apache2";
  const site = proxy === "nginx"
    ? `printf 'server {\n  listen 80;\n  server_name ${domain};\n  root /srv/legacy;\n}\n' >/etc/nginx/sites-enabled/legacy`
    : `printf '<VirtualHost *:80>\n  ServerName ${domain}\n  DocumentRoot /srv/legacy\n  <Directory /srv/legacy>\n    Require all granted\n  </Directory>\n</VirtualHost>\n' >/etc/apache2/sites-enabled/legacy.conf`;
  const r = ssh(host, "bash -s", `set -e; apt-get install -y -q ${unit} >/dev/null; mkdir -p /srv/legacy; echo 'legacy site' >/srv/legacy/index.html; ${site}; systemctl reload ${unit}`);
  assert.equal(r.status, 0, r.stderr);
}

export function engineScenario(sc: EngineScenario): void {
const missing = missingToolchain();
const tag = `${sc.proxy}/${sc.suite}`;
if (missing) {
  console.log(`SKIP engine tier (${tag}): ${missing}`);
  test(`engine ${tag}`, { skip: `missing: ${missing}` }, () => {});
} else {
  const hostName = `engine-${sc.proxy}-${sc.suite}`;
  let host: SandboxHost;
  let stack: Stack;
  let asFound: string;
  let caPem: string;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-engine-"));
  const stackConfig = (h: SandboxHost): Record<string, string> => ({
    host: h.addr,
    sshPrivateKeyFile: h.sshKey,
    hostKey: h.hostKey,
    platform: sc.platform,
    proxy: sc.proxy,
    hubDomain: HUB,
    extraSites: JSON.stringify([{ domain: WWW }]),
  });
  const log: string[] = [];
  const onOutput = (s: string) => log.push(s);

  before(async () => {
    host = createHost(hostName, sc.suite);
    if (sc.preexistingSite) installPreexistingSite(host, sc.proxy, LEGACY);
    asFound = fingerprint(host);
    stack = await edgeStack({
      stackName: `engine-${sc.proxy}-${sc.suite}`,
      workDir: path.join(work, "project"),
      backendDir: path.join(work, "backend"),
      passphrase: randomBytes(16).toString("hex"),
      config: stackConfig(host),
    });
  });
  after(async () => {
    if (process.env.JHE_KEEP_HOSTS === "1") return;
    try { await stack?.destroy({ onOutput }); } catch { /* already destroyed, or the failure is reported by a test */ }
    removeHost(hostName);
    fs.rmSync(work, { recursive: true, force: true });
  });

  test(`engine ${tag}: pulumi up creates the site`, async () => {
    const t0 = Date.now();
    const up = await stack.up({ onOutput });
    const changes = up.summary.resourceChanges ?? {};
    console.log(`# up: ${JSON.stringify(changes)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(up.summary.result, "succeeded");
    assert.ok((changes.create ?? 0) >= 15, `expected the whole graph created, got ${JSON.stringify(changes)}`);
    assert.equal(up.outputs.url.value, `https://${HUB}/`);
    assert.equal(up.outputs.caCertificate.secret, false);
    caPem = up.outputs.caCertificate.value as string;
    assert.match(caPem, /BEGIN CERTIFICATE/);
  });

  test(`engine ${tag}: a user gets the login page, the redirect, the other domain and a kernel`, async () => {
    const get = (url: string) => httpsGet(url, { connectTo: { host: host.addr }, ca: caPem, timeoutMs: 15_000 });
    const login = await get(`https://${HUB}/hub/login`);
    assert.equal(login.status, 200);
    assert.equal(login.tls?.authorized, true, "served certificate chains to the stack's CA");
    assert.match(String(login.headers["strict-transport-security"]), /max-age=63072000/);
    assert.equal((await get(`http://${HUB}/hub/`)).headers.location, `https://${HUB}/hub/`);
    assert.equal((await get(`https://${WWW}/`)).status, 200);
    const r = await probeHubKernel({ baseUrl: `https://${HUB}/`, connectTo: { host: host.addr }, ca: caPem, username: host.hubUser, password: host.hubPassword });
    assert.match(r.output, /42/);
    console.log(`# kernel through the engine-deployed proxy: ${r.output.trim()} in ${r.totalMs} ms`);
  });

  test(`engine ${tag}: a second up changes nothing and runs no remote command`, async () => {
    const before = fingerprint(host);
    const t0 = Date.now();
    const up = await stack.up({ onOutput });
    const changes = up.summary.resourceChanges ?? {};
    console.log(`# second up: ${JSON.stringify(changes)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.deepEqual(Object.keys(changes), ["same"], `expected only unchanged resources, got ${JSON.stringify(changes)}`);
    assert.equal(fingerprintDiff(before, fingerprint(host)), "");
  });

  test(`engine ${tag}: the hub moves to /jhub/ on port 8443 and back, with no redirect loop`, async () => {
    const get = (url: string) => httpsGet(url, { connectTo: { host: host.addr }, ca: caPem, timeoutMs: 15_000 });
    await stack.setConfig("jupyterhub-edge:hubPath", { value: "/jhub/" });
    await stack.setConfig("jupyterhub-edge:httpsPort", { value: "8443" });
    try {
      const up = await stack.up({ onOutput });
      console.log(`# move to :8443/jhub/: ${JSON.stringify(up.summary.resourceChanges)}`);
      assert.equal(up.outputs.url.value, `https://${HUB}:8443/jhub/`);
      assert.equal((await get(`https://${HUB}:8443/jhub`)).headers.location, `https://${HUB}:8443/jhub/`);
      assert.equal((await get(`https://${HUB}:8443/`)).headers.location, `https://${HUB}:8443/jhub/`);
      assert.equal((await get(`http://${HUB}/jhub/hub/`)).headers.location, `https://${HUB}:8443/jhub/hub/`);
      const r = await probeHubKernel({ baseUrl: `https://${HUB}:8443/jhub/`, connectTo: { host: host.addr }, ca: caPem, username: host.hubUser, password: host.hubPassword });
      assert.match(r.output, /42/);
    } finally {
      await stack.removeConfig("jupyterhub-edge:hubPath");
      await stack.removeConfig("jupyterhub-edge:httpsPort");
    }
    await stack.up({ onOutput });
    assert.equal((await get(`https://${HUB}/hub/login`)).status, 200, "back at / on 443");
  });

  test(`engine ${tag}: preview of a config change shows the rendered file diff, and nothing runs`, async () => {
    const before = fingerprint(host);
    await stack.setConfig("jupyterhub-edge:maxUploadMb", { value: "2048" });
    try {
      const preview = await stack.preview({ diff: true, onOutput });
      assert.equal(preview.changeSummary.update, 1, JSON.stringify(preview.changeSummary));
      const [before, after] = sc.proxy === "nginx"
        ? [/-\s*\|\s+client_max_body_size 512m;/, /\+\s*\|\s+client_max_body_size 2048m;/]
        : [/-\s*\|\s+LimitRequestBody 536870912/, /\+\s*\|\s+LimitRequestBody 2147483648/];
      assert.match(preview.stdout, before, "preview shows the old rendered line");
      assert.match(preview.stdout, after, "preview shows the new rendered line");
      assert.ok(!/PRIVATE KEY-----\n[A-Za-z0-9+/]/.test(preview.stdout), "no key material in preview");
    } finally {
      await stack.removeConfig("jupyterhub-edge:maxUploadMb");
    }
    assert.equal(fingerprintDiff(before, fingerprint(host)), "");
  });

  test(`engine ${tag}: bad config is refused before anything reaches the host`, async () => {
    await stack.setConfig("jupyterhub-edge:hubDomain", { value: "not a domain" });
    await stack.setConfig("jupyterhub-edge:httpsPort", { value: "99999" });
    try {
      const err = await stack.preview({ onOutput }).then(() => null, (e: Error) => e);
      assert.ok(err, "preview must fail");
      assert.match(String(err), /jupyterhub-edge:hubDomain: must be a DNS name/);
      assert.match(String(err), /jupyterhub-edge:httpsPort: must be 1–65535/);
    } finally {
      await stack.setConfig("jupyterhub-edge:hubDomain", { value: HUB });
      await stack.removeConfig("jupyterhub-edge:httpsPort");
    }
  });

  test(`engine ${tag}: no secret in state or logs in plaintext`, async () => {
    // The state as stored: every file of the backend (checkpoint, history, backups). (exportStack
    // would not do: the Automation API exports with --show-secrets.)
    const files: string[] = [];
    const walk = (d: string) => fs.readdirSync(d, { withFileTypes: true }).forEach((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : files.push(path.join(d, e.name))));
    walk(path.join(work, "backend"));
    assert.ok(files.some((f) => f.endsWith(`engine-${sc.proxy}-${sc.suite}.json`)), `no checkpoint among ${files.join(", ")}`);
    const state = files.map((f) => fs.readFileSync(f, "utf8")).join("\n");
    // The first base64 lines of an OpenSSH key are its header and public half; the rest is secret.
    const secretLines = fs.readFileSync(host.sshKey, "utf8").split("\n").filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l)).slice(2);
    assert.ok(secretLines.length > 0);
    for (const line of secretLines) assert.ok(!state.includes(line), "SSH private key in state");
    assert.ok(!/PRIVATE KEY/.test(state), `a private key in state in plaintext: ${/.{80}PRIVATE KEY.{40}/.exec(state)?.[0]}`);
    assert.match(state, /"ciphertext"/, "secrets are stored encrypted");
    const all = log.join("");
    assert.ok(!secretLines.some((l) => all.includes(l)) && !/PRIVATE KEY/.test(all), "key material in engine output");
    const modes = ssh(host, "stat -c '%a' /etc/jupyterhub-edge/tls/*/privkey.pem").stdout.trim().split("\n");
    assert.deepEqual([...new Set(modes)], ["600"]);
  });

  const legacyServes = async () => {
    if (!sc.preexistingSite) return;
    const r = await httpsGet(`http://${LEGACY}/`, { connectTo: { host: host.addr }, timeoutMs: 10_000 });
    assert.equal(`${r.status} ${r.body}`, "200 legacy site\n", "the site that was there before serves as before");
  };
  if (sc.preexistingSite) test(`engine ${tag}: the site that was there before still serves after up`, legacyServes);

  let current = sc.proxy;
  for (const next of sc.switchTo) {
    const from = current;
    test(`engine ${tag}: switching ${from} → ${next} in one up; the old proxy is gone, a kernel works`, async () => {
      await stack.setConfig("jupyterhub-edge:proxy", { value: next });
      const t0 = Date.now();
      const up = await stack.up({ onOutput });
      console.log(`# switch ${from} → ${next}: ${JSON.stringify(up.summary.resourceChanges)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const login = await httpsGet(`https://${HUB}/hub/login`, { connectTo: { host: host.addr }, ca: caPem, timeoutMs: 15_000 });
      assert.equal(login.status, 200);
      // Who holds the public port (Apache passes the hub's own Server header through; nginx does not).
      const listener = ssh(host, "ss -ltnpH 'sport = :443'").stdout;
      assert.match(listener, serverProcess[next], `port 443 is served by ${next}: ${listener}`);
      const old = from === "nginx" ? "nginx" : "apache2";
      const oldState = ssh(host, `systemctl is-active ${old}; ls /etc/nginx/conf.d/jupyterhub-edge.conf /etc/apache2/sites-enabled/jupyterhub-edge.conf 2>/dev/null`).stdout.trim().split("\n");
      assert.notEqual(oldState[0], "active", `${old} must not run after the switch`);
      assert.deepEqual(oldState.slice(1), [next === "nginx" ? "/etc/nginx/conf.d/jupyterhub-edge.conf" : "/etc/apache2/sites-enabled/jupyterhub-edge.conf"], "only the new proxy's vhost file is left");
      const r = await probeHubKernel({ baseUrl: `https://${HUB}/`, connectTo: { host: host.addr }, ca: caPem, username: host.hubUser, password: host.hubPassword });
      assert.match(r.output, /42/);
    });
    current = next;
  }

  test(`engine ${tag}: destroy leaves the host as it was found`, async () => {
    const t0 = Date.now();
    const res = await stack.destroy({ onOutput });
    console.log(`# destroy: ${JSON.stringify(res.summary.resourceChanges)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const diff = fingerprintDiff(asFound, fingerprint(host));
    assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
    await legacyServes();
  });
}
}
