/**
 * Host tier, DNS-01 (issue 20): the plan's steps with acmeChallenge dns-01 against real parts on
 * the machine — BIND 9 taking RFC 2136 updates signed with TSIG (scripts/sandbox/dns-server.sh) and
 * a pebble that validates through it and requires External Account Binding — for a hub with
 * per-user subdomains (its certificate covers *.<hub>) behind split auth, and a wildcard extra site.
 * No name of the host resolves anywhere: no HTTP-01 could succeed, only DNS-01.
 *
 * Proven: a wrong TSIG key fails the certbot step with certbot's reason and leaves the port-80 site
 * serving; the right one gets every certificate; the zone is left as found (certbot removes its
 * _acme-challenge TXT records); a real kernel runs on the user's own subdomain while the hub's pages
 * still ask for the password; the secrets are in root 0600 files only; a renewal by the distro's
 * certbot.service uses the same challenge and is served at once; undo leaves host and zone as found.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "crypto";
import { parseConfig } from "../../config/schema";
import { ProxyKind, SiteSpec } from "../../model/site";
import { Step, acmeSecretsPayload, certificatePayload, planSteps } from "../../steps/plan";
import { htpasswdPayload } from "../../render/split-auth";
import { bcryptWithSalt } from "../../components/split-auth";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, runStep, ssh } from "../support/sandbox";
import { AcmeInstance, AcmeServer, renewAsTheTimerWould, startAcme, stopAcme } from "../support/acme";
import { DnsServer, startDns } from "../support/dns-server";
import { probeHubKernel, httpRequest } from "../support/hub-probe";
import { servedAfterChange, servedCertificate } from "../support/served-certificate";


export function acmeDnsScenario(proxy: ProxyKind, suite: "trixie" | "bookworm", index: number): void {
  const hostName = `dns01-${proxy}`;
  const ZONE = "dns01.test";
  const HUB = `hub.${proxy}.${ZONE}`;
  const WILD = `*.sites.${proxy}.${ZONE}`;
  const BASIC = { username: "workshop", password: "correct-horse-dns01" };
  const EAB_KID = `jhe-${proxy}`;
  const EAB_HMAC = crypto.randomBytes(32).toString("base64url");
  // A private pebble (own ports per proxy, so both scenarios may run at once) resolving through BIND.
  const instance = (dnsPort: number): AcmeInstance => ({
    stateDir: `/var/lib/jupyterhub-edge-sandbox/acme-dns01-${proxy}`,
    ports: [14100 + index, 15100 + index, 8160 + index, 8170 + index],
    dnsUpstream: `127.0.0.1:${dnsPort}`,
    eabKeys: { [EAB_KID]: EAB_HMAC },
  });
  let host: SandboxHost;
  let dns: DnsServer;
  let acme: AcmeServer;
  let site: SiteSpec;
  let steps: Step[];
  let asFound: string;
  let zoneAsFound: string[];
  let issuingRoot: string;

  const basicHash = bcryptWithSalt(BASIC.password, crypto.randomBytes(16).toString("hex"));
  const plan = (tsigSecret: string): Step[] =>
    planSteps<string>(
      site,
      certificatePayload(site, []),
      htpasswdPayload(site, [{ user: BASIC.username, hash: basicHash }]),
      undefined,
      acmeSecretsPayload(site, { tsigSecret, eabHmacKey: EAB_HMAC }),
    );

  before(async () => {
    dns = await startDns();
    acme = await startAcme(instance(dns.port));
    host = createHost(hostName, suite);
    ({ site } = parseConfig({
      host: host.addr, sshPrivateKeyFile: host.sshKey, proxy, platform: suite === "trixie" ? "debian-13" : "debian-12", hubDomain: HUB,
      certificateMode: "acme", acmeEmail: "admin@example.org", acmeServer: acme.directoryUrl(host.machineAddr), acmeCaBundlePem: acme.listenerCaPem,
      acmeChallenge: "dns-01",
      // The algorithm in lower case, as BIND writes it: certbot < 4.0 (Debian 12 has 2.1) would sign with HMAC-MD5.
      acmeDns: { server: host.machineAddr, port: dns.port, tsigKeyName: dns.tsigName, tsigAlgorithm: dns.tsigAlgorithm.toLowerCase(), propagationSeconds: 2 },
      acmeDnsTsigSecretGiven: true,
      acmeEabKeyId: EAB_KID,
      acmeEabHmacKeyGiven: true,
      hubSubdomains: true,
      extraSites: [{ domain: WILD }],
      splitAuth: { users: [{ name: BASIC.username, passwordGiven: true }] },
    }));
    steps = plan(dns.tsigSecret);
    asFound = fingerprint(host);
    zoneAsFound = await dns.records();
  });
  after(async () => {
    if (process.env.JHE_KEEP_HOSTS === "1") return;
    if (host) removeHost(hostName);
    if (dns) await stopAcme(instance(dns.port)).catch(() => undefined);
  });

  test(`dns-01/${proxy}: a wrong TSIG key fails the certificate step with certbot's reason; the port-80 site keeps serving`, async () => {
    const wrong = plan(crypto.randomBytes(32).toString("base64"));
    for (const step of wrong) {
      const r = runStep(host, step, "apply");
      if (step.name !== "acme-certificates") {
        assert.equal(r.status, 0, `step ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
        continue;
      }
      assert.notEqual(r.status, 0, "certbot must fail with a key the DNS server does not know");
      // The step's message, and certbot's own reason (its last lines) below it.
      const lines = r.stderr.trim().split("\n");
      console.log(`# ${[lines[0].slice(0, 160) + "…", ...lines.slice(1).filter((l) => !/^\s*$/.test(l)).slice(-6)].join("\n# ")}`);
      assert.match(r.stderr, /could not get a certificate for hub\.\S+ .*does the DNS server take the TSIG-signed updates/);
      assert.doesNotMatch(r.stderr + r.stdout, new RegExp(dns.tsigSecret.replace(/[+/=]/g, "\\$&")), "no key in the message");
      break;
    }
    const redirect = await httpRequest(`http://${HUB}/hub/`, { connectTo: { host: host.addr } });
    assert.equal(redirect.status, 301, "port 80 still answers with its redirect");
    assert.deepEqual(await dns.records(), zoneAsFound, "a refused update leaves the zone as found");
  });

  test(`dns-01/${proxy}: with the right key, every certificate comes by DNS-01 (EAB-bound account), and the zone is left as found`, async () => {
    const t0 = Date.now();
    for (const step of steps) {
      const r = runStep(host, step, "apply");
      assert.equal(r.status, 0, `step ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
      if (step.name === "acme-certificates") console.log(`# ${r.stdout.trim().split("\n").join("\n# ")}`);
    }
    console.log(`# applied ${steps.length} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    issuingRoot = await acme.issuingRootPem();
    for (const [name, expectNames] of [
      [HUB, `DNS:${HUB}, DNS:*.${HUB}`],
      [`${host.hubUser}.${HUB}`, `DNS:${HUB}, DNS:*.${HUB}`],
      [`anything.sites.${proxy}.${ZONE}`, `DNS:${WILD}`],
    ]) {
      const c = await servedCertificate(host.addr, name, issuingRoot);
      console.log(`# ${name}: ${c.names}, verified against pebble's root: ${c.authorized}${c.error ? ` (${c.error})` : ""}`);
      assert.equal(c.authorized, true, `${name}: ${c.error}`);
      assert.equal(c.names.split(", ").sort().join(", "), expectNames.split(", ").sort().join(", "));
    }
    assert.deepEqual(await dns.records(), zoneAsFound, "certbot removed every _acme-challenge TXT record it added");
    const renewal = ssh(host, `grep -h -E '^(authenticator|dns_rfc2136_credentials|dns_rfc2136_propagation_seconds) ' /etc/letsencrypt/renewal/${HUB}.conf`).stdout;
    assert.match(renewal, /^authenticator = dns-rfc2136$/m, "renewals use the same challenge");
    assert.match(renewal, /^dns_rfc2136_credentials = \/etc\/jupyterhub-edge\/acme-dns-rfc2136\.ini$/m);
  });

  test(`dns-01/${proxy}: a kernel runs on the user's own subdomain, the hub's pages still ask for the password`, async () => {
    const r = await probeHubKernel({
      baseUrl: `https://${HUB}/`, connectTo: { host: host.addr }, ca: issuingRoot, userSubdomains: true,
      username: host.hubUser, password: host.hubPassword, basicAuth: BASIC,
    });
    assert.match(r.output, /42/);
    const block = ssh(host, "cat /etc/jupyterhub/jupyterhub_config.py").stdout;
    assert.match(block, new RegExp(`^c\\.JupyterHub\\.subdomain_host = 'https://${HUB.replace(/\./g, "\\.")}'$`, "m"));
    for (const url of [`https://${HUB}/hub/home`, `https://${host.hubUser}.${HUB}/hub/home`]) {
      const page = await httpRequest(url, { connectTo: { host: host.addr, subdomainsOf: HUB }, ca: issuingRoot });
      assert.equal(page.status, 401, `${url} without the password`);
    }
    const wild = await httpRequest(`https://docs.sites.${proxy}.${ZONE}/`, { connectTo: { host: host.addr, subdomainsOf: `sites.${proxy}.${ZONE}` }, ca: issuingRoot });
    assert.equal(wild.status, 200);
    assert.match(wild.body.toString(), /\*\.sites\.\S+ is served by jupyterhub-edge/, "the wildcard site's placeholder page");
  });

  test(`dns-01/${proxy}: the TSIG and EAB keys are in root 0600 files only`, () => {
    assert.equal(ssh(host, "stat -c '%a %U %G' /etc/jupyterhub-edge/acme-dns-rfc2136.ini /etc/jupyterhub-edge/acme-eab.ini").stdout.trim(), "600 root root\n600 root root");
    for (const secret of [dns.tsigSecret, EAB_HMAC]) {
      const found = ssh(host, "grep -rlF -f /dev/stdin /etc /var/log /var/lib /root /run /tmp 2>/dev/null | grep -v -x -e /etc/jupyterhub-edge/acme-dns-rfc2136.ini -e /etc/jupyterhub-edge/acme-eab.ini; journalctl --no-pager -o cat | grep -cF -f /dev/stdin || true", `${secret}\n`);
      assert.equal(found.stdout.trim(), "0", `a key is also in:\n${found.stdout}`);
    }
  });

  test(`dns-01/${proxy}: a renewal by the distro's certbot.service uses DNS-01 again and is served at once`, async () => {
    const before = await servedCertificate(host.addr, HUB, issuingRoot);
    const r = renewAsTheTimerWould(host);
    assert.match(r.stdout, /exit=0/, r.stdout + r.stderr);
    const afterRenewal = await servedAfterChange(host.addr, HUB, issuingRoot, before.serial);
    const onDisk = ssh(host, `openssl x509 -noout -serial -in /etc/letsencrypt/live/${HUB}/cert.pem`).stdout.trim();
    console.log(`# ${HUB}: serial of the lineage's certificate on disk after the renewal: ${onDisk}`);
    console.log(`# ${HUB}: serial before renewal ${before.serial}, after ${afterRenewal.serial}`);
    assert.notEqual(afterRenewal.serial, before.serial, "the proxy serves the renewed certificate");
    assert.equal(afterRenewal.authorized, true);
    assert.deepEqual(await dns.records(), zoneAsFound, "the renewal's TXT records are gone too");
    const second = runStep(host, steps.find((s) => s.name === "acme-certificates")!, "apply");
    assert.equal(second.status, 0, second.stderr);
    assert.doesNotMatch(second.stdout, /requesting/, "a second apply requests nothing");
  });

  test(`dns-01/${proxy}: undo removes the credentials, the lineages and nothing else; host and zone as found`, async () => {
    for (const step of [...steps].reverse()) {
      const r = runStep(host, step, "undo");
      assert.equal(r.status, 0, `undo of ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
    }
    assert.equal(ssh(host, "ls /etc/jupyterhub-edge /etc/letsencrypt 2>&1 | wc -l").stdout.trim(), "2", "both directories are gone");
    const diff = fingerprintDiff(asFound, fingerprint(host));
    assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
    assert.deepEqual(await dns.records(), zoneAsFound);
  });
}
