/**
 * Host tier, real certificates: the plan's steps with certificateMode acme against a real ACME
 * server on the machine (Debian's pebble), validated over HTTP-01 through the proxy's own port 80.
 * Then: the grade testssl measures for every served domain, a second apply that requests nothing,
 * a forced renewal that the proxy serves (serials compared) thanks to the deploy hook, and undo
 * leaving the host as found (certificates deleted).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as tls from "tls";
import { parseConfig } from "../../config/schema";
import { ProxyKind, SiteSpec } from "../../model/site";
import { Step, certificatePayload, planSteps } from "../../steps/plan";
import { makeTestCa } from "../support/test-ca";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, runStep, ssh } from "../support/sandbox";
import { AcmeServer, renewAsTheTimerWould, startAcme } from "../support/acme";
import { formatGrade, gradeTls } from "../support/tls-grade";
import { probeHubKernel } from "../support/hub-probe";

/** The serial of the certificate a server presents for `servername`. */
function servedSerial(addr: string, servername: string, port = 443): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: addr, port, servername, rejectUnauthorized: false });
    s.once("secureConnect", () => { resolve(s.getPeerCertificate().serialNumber); s.destroy(); });
    s.once("error", reject);
    s.setTimeout(10_000, () => { s.destroy(); reject(new Error("TLS timeout")); });
  });
}

export function acmeScenario(proxy: ProxyKind): void {
  const hostName = `acme-${proxy}`;
  const HUB = `hub.${proxy}.acme.test`;
  const WWW = `www.${proxy}.acme.test`;
  const OWN = `own.${proxy}.acme.test`; // self-signed beside the ACME ones: every mode graded
  let host: SandboxHost;
  let acme: AcmeServer;
  let steps: Step[];
  let site: SiteSpec;
  let asFound: string;
  let issuingRoot: string;
  const testCa = makeTestCa([OWN]);

  before(async () => {
    acme = await startAcme();
    host = createHost(hostName, "trixie");
    for (const name of [HUB, WWW]) await acme.addName(name, host.addr);
    ({ site } = parseConfig({
      host: host.addr, sshPrivateKeyFile: host.sshKey, proxy, platform: "debian-13", hubDomain: HUB,
      certificateMode: "acme", acmeEmail: "admin@example.org", acmeServer: acme.directoryUrl(host.machineAddr),
      acmeCaBundlePem: acme.listenerCaPem,
      extraSites: [{ domain: WWW }, { domain: OWN, certificateMode: "selfSigned" }],
    }));
    steps = planSteps(site, certificatePayload(site, testCa.material));
    asFound = fingerprint(host);
  });
  after(async () => {
    if (process.env.JHE_KEEP_HOSTS === "1") return;
    if (host) removeHost(hostName);
    for (const name of [HUB, WWW]) await acme?.removeName(name).catch(() => undefined);
  });

  test(`acme/${proxy}: a fresh host gets certificates from the ACME server through its own port 80`, async () => {
    const t0 = Date.now();
    for (const step of steps) {
      const r = runStep(host, step, "apply");
      assert.equal(r.status, 0, `step ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
      if (step.name === "acme-certificates") console.log(`# ${r.stdout.trim().split("\n").join("\n# ")}`);
    }
    console.log(`# applied ${steps.length} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    issuingRoot = await acme.issuingRootPem();
    const r = await probeHubKernel({ baseUrl: `https://${HUB}/`, connectTo: { host: host.addr }, ca: issuingRoot, username: host.hubUser, password: host.hubPassword });
    assert.match(r.output, /42/, "a kernel works behind the ACME certificate, verified against pebble's root");
  });

  test(`acme/${proxy}: every served domain grades A+ by SSL Labs' criteria (testssl)`, async () => {
    // The three scans at once: each waits mostly on its own handshakes and timeouts, so together
    // they take about as long as the slowest one (each in its own temp dir).
    const domains = [[HUB, issuingRoot], [WWW, issuingRoot], [OWN, testCa.caPem]] as const;
    const grades = await Promise.all(domains.map(([domain, ca]) => gradeTls({ host: host.addr, servername: domain, caPem: ca })));
    for (const g of grades) {
      console.log(`# ${formatGrade(g).split("\n").join("\n# ")}`);
      assert.equal(g.verdict, "A+", formatGrade(g));
    }
  });

  test(`acme/${proxy}: a second apply requests no certificate`, () => {
    const step = steps.find((s) => s.name === "acme-certificates")!;
    const r = runStep(host, step, "apply");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`certificate for ${HUB.replace(/\./g, "\\.")} exists; not requested again`));
    assert.doesNotMatch(r.stdout, /requesting/);
  });

  test(`acme/${proxy}: a renewal is served at once (deploy hook reloads ${proxy})`, async () => {
    const before = await servedSerial(host.addr, HUB);
    const timer = ssh(host, "systemctl is-enabled certbot.timer").stdout.trim();
    assert.equal(timer, "enabled", "the distro's certbot.timer renews unattended");
    const r = renewAsTheTimerWould(host);
    assert.match(r.stdout, /exit=0/, r.stdout);
    // A graceful reload returns before the new workers take connections: poll for a while.
    let afterRenewal = await servedSerial(host.addr, HUB);
    for (let i = 0; afterRenewal === before && i < 40; i++) {
      await new Promise((r) => setTimeout(r, 500));
      afterRenewal = await servedSerial(host.addr, HUB);
    }
    console.log(`# ${HUB}: serial before renewal ${before}, after ${afterRenewal}`);
    assert.notEqual(afterRenewal, before, "the proxy serves the renewed certificate");
    const dropin = ssh(host, "systemctl show -p Environment certbot.service").stdout;
    assert.match(dropin, /REQUESTS_CA_BUNDLE=\/etc\/jupyterhub-edge\/acme-ca-bundle\.pem/, "unattended renewals trust the private ACME CA");
  });

  test(`acme/${proxy}: undo deletes the certificates and leaves the host as found`, () => {
    for (const step of [...steps].reverse()) {
      const r = runStep(host, step, "undo");
      assert.equal(r.status, 0, `undo of ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
    }
    assert.equal(ssh(host, "ls /etc/letsencrypt 2>&1 | head -1").stdout.trim(), "ls: cannot access '/etc/letsencrypt': No such file or directory");
    const diff = fingerprintDiff(asFound, fingerprint(host));
    assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
  });
}
