/**
 * Engine tier, real certificates: the program through the real engine with certificateMode acme
 * against pebble on the machine, on Debian 13: a certificate issued and served, a second up that
 * changes (and requests) nothing, a new domain getting a certificate of its own, a renewal by the
 * distro's certbot.service served at once, destroy deleting the certificates and leaving the host
 * as found. On the nginx run (the default tier's; Apache's runs with the variants) also the
 * certificate carry-over (issue 13; the host tier proves its steps): the stack keeps the ACME account and certificates as its secret `acmeCarryOver`
 * output; a rebuilt server (a fresh host, the same domains) given them back by config gets them
 * with 0 new orders at the ACME server, serves the same certificate, and is destroyed as found.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";
import { randomBytes } from "crypto";
import type { Stack } from "@pulumi/pulumi/automation";
import { edgeStack } from "../../scripts/automation";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost } from "../support/sandbox";
import { AcmeServer, renewAsTheTimerWould, startAcme } from "../support/acme";
import { httpsGet, probeHubKernel } from "../support/hub-probe";
import { missingToolchain } from "./scenario";
import { ProxyKind } from "../../model/site";

export function engineAcmeScenario(proxy: ProxyKind): void {
const HUB = `hub.${proxy}.engine-acme.test`;
const WWW = `www.${proxy}.engine-acme.test`;
const hostName = `engine-acme-${proxy}`;
const servedSerial = (addr: string, servername = HUB) =>
  new Promise<string>((resolve, reject) => {
    const s = tls.connect({ host: addr, port: 443, servername, rejectUnauthorized: false });
    s.once("secureConnect", () => { resolve(s.getPeerCertificate().serialNumber); s.destroy(); });
    s.once("error", reject);
  });

const missing = missingToolchain();
if (missing) {
  console.log(`SKIP engine tier (acme/${proxy}): ${missing}`);
  test(`engine acme/${proxy}`, { skip: `missing: ${missing}` }, () => {});
} else {
  let host: SandboxHost;
  let acme: AcmeServer;
  let stack: Stack;
  let asFound: string;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-engine-acme-"));
  const carryOver = proxy === "nginx";
  /** Orders the shared pebble has taken so far (test files run one at a time: all of them ours). */
  const orders = () => (fs.readFileSync(path.join(process.env.JHE_SANDBOX_DIR ?? "/var/lib/jupyterhub-edge-sandbox", "acme", "pebble.log"), "utf8").match(/Added order /g) ?? []).length;
  let carried: Record<string, string> = {};
  let exportedSerial = "";

  before(async () => {
    acme = await startAcme();
    host = createHost(hostName, "trixie");
    await acme.addName(HUB, host.addr);
    await acme.addName(WWW, host.addr);
    asFound = fingerprint(host);
    stack = await edgeStack({
      stackName: hostName,
      workDir: path.join(work, "project"),
      backendDir: path.join(work, "backend"),
      passphrase: randomBytes(16).toString("hex"),
      config: {
        host: host.addr, sshPrivateKeyFile: host.sshKey, hostKey: host.hostKey, platform: "debian-13", proxy,
        hubDomain: HUB, certificateMode: "acme", acmeEmail: "admin@example.org",
        acmeServer: acme.directoryUrl(host.machineAddr), acmeCaBundleFile: acme.listenerCaFile,
      },
      // `pulumi config set --secret acmeCarryOver '{}'`: export the bundles as a secret output.
      ...(carryOver ? { secretConfig: { acmeCarryOver: "{}" } } : {}),
    });
  });
  after(async () => {
    if (process.env.JHE_KEEP_HOSTS === "1") return;
    try { await stack?.destroy(); } catch { /* reported by the destroy test */ }
    if (host) removeHost(hostName);
    await acme?.removeName(HUB).catch(() => undefined);
    await acme?.removeName(WWW).catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  });

  test(`engine acme/${proxy}: up gets a certificate from the ACME server and a kernel works behind it`, async () => {
    const t0 = Date.now();
    const up = await stack.up();
    console.log(`# up: ${JSON.stringify(up.summary.resourceChanges)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(up.outputs.caCertificate.value, "", "no self-signed CA when every domain uses ACME");
    const r = await probeHubKernel({ baseUrl: `https://${HUB}/`, connectTo: { host: host.addr }, ca: await acme.issuingRootPem(), username: host.hubUser, password: host.hubPassword });
    assert.match(r.output, /42/);
  });

  test(`engine acme/${proxy}: a second up changes nothing (no certificate requested)`, async () => {
    const serial = await servedSerial(host.addr);
    const up = await stack.up();
    assert.deepEqual(Object.keys(up.summary.resourceChanges ?? {}), ["same"], JSON.stringify(up.summary.resourceChanges));
    assert.equal(await servedSerial(host.addr), serial);
  });

  test(`engine acme/${proxy}: adding a domain requests a certificate for it alone`, async () => {
    const hubSerial = await servedSerial(host.addr);
    await stack.setConfig("jupyterhub-edge:extraSites[0].domain", { value: WWW }, true);
    const out: string[] = [];
    const up = await stack.up({ onOutput: (s) => out.push(s) });
    console.log(`# add ${WWW}: ${JSON.stringify(up.summary.resourceChanges)}`);
    const log = out.join("");
    assert.match(log, new RegExp(`requesting a certificate for ${WWW.replace(/\./g, "\\.")}`));
    assert.match(log, new RegExp(`certificate for ${HUB.replace(/\./g, "\\.")} exists; not requested again`));
    assert.equal(await servedSerial(host.addr), hubSerial, "the hub's certificate was not re-issued");
    // This up exported the bundles (acme-export re-runs when the domains change): what a rebuild gets.
    exportedSerial = hubSerial;
    const probe = await httpsGet(`https://${WWW}/`, { connectTo: { host: host.addr }, ca: await acme.issuingRootPem(), timeoutMs: 15_000 });
    assert.equal(probe.status, 200);
    assert.equal(probe.tls?.authorized, true, "the new domain is served with its ACME certificate");
  });

  test(`engine acme/${proxy}: the distro's certbot.service renews and ${proxy} serves the new certificate`, async () => {
    const before = await servedSerial(host.addr);
    const r = renewAsTheTimerWould(host);
    assert.match(r.stdout, /exit=0/);
    // A graceful reload returns before the new workers take connections: poll for a while.
    let after = await servedSerial(host.addr);
    for (let i = 0; after === before && i < 40; i++) {
      await new Promise((res) => setTimeout(res, 500));
      after = await servedSerial(host.addr);
    }
    console.log(`# renewal by certbot.service: serial ${before} -> ${after}`);
    assert.notEqual(after, before);
  });

  test(`engine acme/${proxy}: destroy deletes the certificate and leaves the host as found`, async () => {
    if (carryOver) {
      const out = await stack.outputs();
      assert.equal(out.acmeCarryOver.secret, true, "the carried-over bundles are a secret output");
      carried = out.acmeCarryOver.value as Record<string, string>;
      assert.deepEqual(Object.keys(carried).sort(), [HUB, WWW].sort());
    }
    const res = await stack.destroy();
    console.log(`# destroy: ${JSON.stringify(res.summary.resourceChanges)}`);
    const diff = fingerprintDiff(asFound, fingerprint(host));
    assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
  });

  if (carryOver) {
    test(`engine acme/${proxy}: a rebuilt server given the carried-over bundles gets its certificates with 0 new orders`, async () => {
      removeHost(hostName);
      host = createHost(hostName, "trixie");
      await acme.addName(HUB, host.addr);
      await acme.addName(WWW, host.addr);
      const rebuiltAsFound = fingerprint(host);
      await stack.setConfig("jupyterhub-edge:host", { value: host.addr });
      await stack.setConfig("jupyterhub-edge:hostKey", { value: host.hostKey });
      // What `pulumi config set --secret acmeCarryOver "$(pulumi stack output --show-secrets acmeCarryOver)"` writes.
      await stack.setConfig("jupyterhub-edge:acmeCarryOver", { value: JSON.stringify(carried), secret: true });
      const before = orders();
      const out: string[] = [];
      const up = await stack.up({ onOutput: (s) => out.push(s) });
      const newOrders = orders() - before;
      const served = await servedSerial(host.addr);
      console.log(`# rebuilt server: ${JSON.stringify(up.summary.resourceChanges)}; new orders at the ACME server: ${newOrders}; serial exported ${exportedSerial}, served by the rebuilt server ${served}`);
      assert.equal(newOrders, 0, "the rebuilt server must not order certificates again");
      assert.equal(served, exportedSerial, "the carried-over certificate is served");
      assert.ok(!/PRIVATE KEY/.test(out.join("")), "key material in the engine's output");
      const r = await probeHubKernel({ baseUrl: `https://${HUB}/`, connectTo: { host: host.addr }, ca: await acme.issuingRootPem(), username: host.hubUser, password: host.hubPassword });
      assert.match(r.output, /42/);
      await stack.destroy();
      const diff = fingerprintDiff(rebuiltAsFound, fingerprint(host));
      assert.equal(diff, "", `the rebuilt host differs from how it was found:\n${diff}`);
    });
  }
}
}
