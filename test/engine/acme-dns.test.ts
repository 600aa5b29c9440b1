/**
 * Engine tier, DNS-01 (issue 20) through the real engine, on one sandbox host (nginx on Debian 13):
 * certificateMode acme with acmeChallenge dns-01 against BIND on the machine (RFC 2136 updates
 * signed with TSIG, test/support/dns-server.ts) and a private pebble that validates through it and
 * requires External Account Binding; per-user subdomains, so the hub's certificate covers *.<hub>.
 * The host-tier proof of the same parts is test/host/acme-dns-scenario.ts; this one proves the
 * stack around them:
 * - `up` gets the hub's certificate (hub and *.hub), served for the hub and a user's subdomain;
 * - `preview --diff` of a change of acmeDns.propagationSeconds shows the certbot step's readable
 *   payload change, and neither the TSIG secret nor the EAB HMAC key is in the preview, the up and
 *   preview event logs, or `pulumi stack export`; the next `up` (value put back) changes nothing;
 * - a refused value (acmeDns.server given as a name) on the live stack fails `up` with the message
 *   naming the key, and deletes nothing: same resources, the certificate still served;
 * - `destroy` leaves the host and the zone as found, the credentials file gone.
 * Without the CLI or plugins it prints one SKIP line naming what is missing.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { edgeStack } from "../../scripts/automation";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, ssh } from "../support/sandbox";
import { AcmeInstance, AcmeServer, startAcme, stopAcme } from "../support/acme";
import { DnsServer, startDns } from "../support/dns-server";
import { Secret, findLeaks, formatLeaks, leakForms } from "../support/secret-audit";
import { missingToolchain } from "./scenario";
import { servedCertificate } from "../support/served-certificate";

const ZONE = "dns01.test";
const HUB = `hub.engine.${ZONE}`;
const STACK = "engine-acme-dns";
const EAB_KID = "jhe-engine";
const EAB_HMAC = crypto.randomBytes(32).toString("base64url");
const CREDENTIALS = "/etc/jupyterhub-edge/acme-dns-rfc2136.ini";
const CHANGING_OPS = new Set(["create", "update", "delete", "replace", "create-replacement", "delete-replaced", "discard", "discard-replaced", "import", "import-replacement"]);


const sortedNames = (names: string) => names.split(", ").sort().join(", ");
const secs = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

const missing = missingToolchain();
if (missing) {
  console.log(`SKIP engine tier (acme dns-01): ${missing}`);
  test("engine acme dns-01", { skip: `missing: ${missing}` }, () => {});
} else {
  const hostName = "engine-dns01";
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-engine-dns01-"));
  const workDir = path.join(work, "project");
  const backendDir = path.join(work, "backend");
  const passphrase = crypto.randomBytes(16).toString("hex");
  const caBundleFile = path.join(work, "acme-listener-ca.pem");
  // A private pebble (ports and state of its own, apart from the host scenario's) resolving through BIND.
  const instance = (dnsPort: number): AcmeInstance => ({
    stateDir: "/var/lib/jupyterhub-edge-sandbox/acme-dns01-engine",
    ports: [14110, 15110, 8180, 8190],
    dnsUpstream: `127.0.0.1:${dnsPort}`,
    eabKeys: { [EAB_KID]: EAB_HMAC },
  });
  let host: SandboxHost;
  let dns: DnsServer;
  let acme: AcmeServer;
  let stack: Stack;
  let asFound: string;
  let zoneAsFound: string[];
  let issuingRoot = "";
  let goodDns: Record<string, string | number>;
  let secrets: Secret[] = [];
  /** Every place audited for the secrets: name → text. */
  const places = new Map<string, string>();
  const addPlace = (where: string, text: string) => places.set(where, (places.get(where) ?? "") + text + "\n");

  /** An engine operation's output, its events (as JSON lines) and the operations it planned or ran. */
  const recorder = () => {
    const out: string[] = [];
    const events: string[] = [];
    const ops: Record<string, number> = {};
    return {
      onOutput: (s: string) => out.push(s),
      onEvent: (e: EngineEvent) => {
        events.push(JSON.stringify(e));
        const o = e.resourcePreEvent?.metadata.op;
        if (o) ops[o] = (ops[o] ?? 0) + 1;
      },
      out: () => out.join(""),
      events: () => events.join("\n"),
      changed: () => Object.entries(ops).filter(([o]) => CHANGING_OPS.has(o)).map(([o, n]) => `${o} ${n}`),
    };
  };

  /** `pulumi stack export` as a user runs it (the Automation API's exportStack adds --show-secrets). */
  const exportText = (): string => {
    const r = spawnSync("pulumi", ["stack", "export", "--stack", STACK, "--non-interactive"], {
      cwd: workDir, encoding: "utf8", timeout: 2 * 60_000, maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, PULUMI_BACKEND_URL: `file://${backendDir}`, PULUMI_CONFIG_PASSPHRASE: passphrase, PULUMI_SKIP_UPDATE_CHECK: "true" },
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  const urns = (): string[] => ((JSON.parse(exportText()).deployment.resources ?? []) as { urn: string }[]).map((r) => r.urn).sort();

  before(async () => {
    const t0 = Date.now();
    dns = await startDns();
    acme = await startAcme(instance(dns.port));
    fs.writeFileSync(caBundleFile, acme.listenerCaPem);
    host = createHost(hostName, "trixie");
    asFound = fingerprint(host);
    zoneAsFound = await dns.records();
    secrets = [
      { name: "TSIG secret (acmeDnsTsigSecret)", value: dns.tsigSecret },
      { name: "EAB HMAC key (acmeEabHmacKey)", value: EAB_HMAC },
    ];
    goodDns = { server: host.machineAddr, port: dns.port, tsigKeyName: dns.tsigName, tsigAlgorithm: dns.tsigAlgorithm.toLowerCase(), propagationSeconds: 2 };
    stack = await edgeStack({
      stackName: STACK, workDir, backendDir, passphrase,
      config: {
        host: host.addr, sshPrivateKeyFile: host.sshKey, hostKey: host.hostKey, platform: "debian-13", proxy: "nginx",
        hubDomain: HUB, certificateMode: "acme", acmeEmail: "admin@example.org",
        acmeServer: acme.directoryUrl(host.machineAddr), acmeCaBundleFile: caBundleFile,
        acmeChallenge: "dns-01",
        acmeDns: JSON.stringify(goodDns),
        acmeEabKeyId: EAB_KID,
        hubSubdomains: "true",
      },
      secretConfig: { acmeDnsTsigSecret: dns.tsigSecret, acmeEabHmacKey: EAB_HMAC },
    });
    console.log(`# setup (BIND, private pebble with EAB, host, stack): ${secs(t0)}`);
  });
  after(async () => {
    if (dns) await stopAcme(instance(dns.port)).catch(() => undefined);
    if (process.env.JHE_KEEP_HOSTS === "1") return;
    try { await stack?.destroy(); } catch { /* already destroyed, or the failure is reported by a test */ }
    if (host) removeHost(hostName);
    fs.rmSync(work, { recursive: true, force: true });
  });

  test("engine dns-01: up gets the hub's certificate (hub and *.hub) by DNS-01 with an EAB-bound account", async () => {
    const t0 = Date.now();
    const rec = recorder();
    const up = await stack.up({ onOutput: rec.onOutput, onEvent: rec.onEvent });
    console.log(`# up: ${JSON.stringify(up.summary.resourceChanges)} in ${secs(t0)}`);
    assert.equal(up.summary.result, "succeeded");
    addPlace("up output", up.stdout + up.stderr + rec.out());
    addPlace("up events", rec.events());
    issuingRoot = await acme.issuingRootPem();
    for (const name of [HUB, `${host.hubUser}.${HUB}`]) {
      const c = await servedCertificate(host.addr, name, issuingRoot);
      console.log(`# ${name}: ${c.names}, verified against pebble's root: ${c.authorized}${c.error ? ` (${c.error})` : ""}`);
      assert.equal(c.authorized, true, `${name}: ${c.error}`);
      assert.equal(sortedNames(c.names), sortedNames(`DNS:${HUB}, DNS:*.${HUB}`));
    }
    assert.deepEqual(await dns.records(), zoneAsFound, "certbot removed the _acme-challenge TXT records it added");
    assert.equal(ssh(host, `stat -c '%a %U' ${CREDENTIALS}`).stdout.trim(), "600 root");
  });

  test("engine dns-01: preview --diff of propagationSeconds shows the payload change, no secret anywhere; the next up is a no-op", async () => {
    await stack.setConfig("jupyterhub-edge:acmeDns.propagationSeconds", { value: "7" }, true);
    const rec = recorder();
    const t0 = Date.now();
    try {
      const preview = await stack.preview({ diff: true, onOutput: rec.onOutput, onEvent: rec.onEvent });
      console.log(`# preview --diff (propagationSeconds 2 → 7): ${JSON.stringify(preview.changeSummary)} in ${secs(t0)}`);
      assert.equal(preview.changeSummary.update, 1, JSON.stringify(preview.changeSummary));
      assert.match(preview.stdout, /acme-certificates/, "the certbot step is the one updated");
      assert.match(preview.stdout, /-\s*\|?\s*dns_propagation 2\b/, "the old value, readable");
      assert.match(preview.stdout, /\+\s*\|?\s*dns_propagation 7\b/, "the new value, readable");
      console.log(`# ${preview.stdout.split("\n").filter((l) => /dns_propagation/.test(l)).map((l) => l.trim()).join("\n# ")}`);
      addPlace("preview --diff", preview.stdout + preview.stderr + rec.out());
      addPlace("preview events", rec.events());
    } finally {
      await stack.setConfig("jupyterhub-edge:acmeDns.propagationSeconds", { value: String(goodDns.propagationSeconds) }, true);
    }
    const t1 = Date.now();
    const again = recorder();
    const up = await stack.up({ onOutput: again.onOutput, onEvent: again.onEvent });
    console.log(`# second up: ${JSON.stringify(up.summary.resourceChanges)} in ${secs(t1)}`);
    assert.deepEqual(Object.keys(up.summary.resourceChanges ?? {}), ["same"], JSON.stringify(up.summary.resourceChanges));
    addPlace("up output", up.stdout + up.stderr + again.out());
    addPlace("up events", again.events());
    addPlace("pulumi stack export", exportText());
    assert.match(places.get("pulumi stack export")!, /"ciphertext"/, "secrets are stored encrypted");
    // The audit looks where the secrets are: decrypted (--show-secrets), the state holds both.
    const decrypted = JSON.stringify(await stack.exportStack());
    assert.equal(findLeaks([{ where: "export --show-secrets", text: decrypted }], secrets).length, secrets.length, "both secrets are in the decrypted state");
    const leaks = findLeaks([...places].map(([where, text]) => ({ where, text })), secrets);
    for (const s of secrets) {
      const found = leaks.filter((l) => l.secret === s.name);
      console.log(`# audit ${s.name}: ${leakForms(s.value).length} forms × ${places.size} places (${[...places].map(([w, t]) => `${w} ${t.length} B`).join(", ")}): ${found.length} leaks`);
    }
    assert.equal(leaks.length, 0, formatLeaks(leaks));
  });

  test("engine dns-01: a refused acmeDns.server on the live stack fails up with the key named and deletes nothing", async () => {
    const urnsBefore = urns();
    const serialBefore = (await servedCertificate(host.addr, HUB, issuingRoot)).serial;
    await stack.setConfig("jupyterhub-edge:acmeDns.server", { value: "ns1.example.org" }, true);
    const rec = recorder();
    let err: Error | null;
    try {
      err = await stack.up({ onOutput: rec.onOutput, onEvent: rec.onEvent }).then(() => null, (e: Error) => e);
    } finally {
      await stack.setConfig("jupyterhub-edge:acmeDns.server", { value: String(goodDns.server) }, true);
    }
    assert.ok(err, "up must fail");
    const text = `${rec.out()}\n${String(err)}`;
    const message = /jupyterhub-edge:acmeDns\.server: [^\n]*/.exec(text)?.[0];
    console.log(`# refused: ${message}; ran: ${rec.changed().join(", ") || "no change"}`);
    assert.ok(message, `the message names jupyterhub-edge:acmeDns.server:\n${text.slice(-2000)}`);
    assert.match(message, /ns1\.example\.org/);
    assert.deepEqual(rec.changed(), [], "the failed up changed no resource");
    const leaks = findLeaks([{ where: "refused up output", text: text + rec.events() }], secrets);
    assert.equal(leaks.length, 0, formatLeaks(leaks));
    const urnsAfter = urns();
    console.log(`# resources before ${urnsBefore.length}, after ${urnsAfter.length}`);
    assert.deepEqual(urnsAfter, urnsBefore, "the same resources in state");
    const c = await servedCertificate(host.addr, HUB, issuingRoot);
    assert.equal(c.authorized, true, c.error);
    assert.equal(c.serial, serialBefore, "the site still serves its certificate");
  });

  test("engine dns-01: destroy leaves the host and the zone as found", async () => {
    const t0 = Date.now();
    const res = await stack.destroy();
    console.log(`# destroy: ${JSON.stringify(res.summary.resourceChanges)} in ${secs(t0)}`);
    assert.equal(ssh(host, `test -e ${CREDENTIALS} && echo present || echo gone`).stdout.trim(), "gone");
    const diff = fingerprintDiff(asFound, fingerprint(host));
    assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
    assert.deepEqual(await dns.records(), zoneAsFound, "the zone as found");
  });
}
