/**
 * Host tier, certificate carry-over and teardown: a workshop server gets an ACME certificate
 * (pebble), its bundle is exported (the acme-export step), the server is torn down to exactly how
 * it was found (/etc and the program's other trees hashed; only files of the packages it installed
 * and purged may differ, and they are listed), then the same domain is rebuilt on a new server
 * (nginx, beside a site of its own that keeps serving throughout) from the bundle: pebble sees
 * 0 new orders, the same certificate is served, and a forced renewal by the distro's certbot.service
 * on the new server works (exactly one order: the renewal).
 *
 * Its own pebble instance (own state dir and ports), so the order count is this test's alone.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as tls from "tls";
import { parseConfig } from "../../config/schema";
import { SiteSpec } from "../../model/site";
import { Step, carryOverImportPayload, parseCarryOverExport, planSteps } from "../../steps/plan";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, packageOwnedFiles, removeHost, runStep, ssh, treeHashes } from "../support/sandbox";
import { AcmeServer, startAcme, stopAcme } from "../support/acme";
import { httpsGet } from "../support/hub-probe";

const sandboxDir = process.env.JHE_SANDBOX_DIR ?? "/var/lib/jupyterhub-edge-sandbox";
const prefix = process.env.JHE_HOST_PREFIX ?? "";
// A private pebble: own state and ports (the shared one may serve other tests' orders meanwhile).
Object.assign(process.env, {
  JHE_ACME_DIR: path.join(sandboxDir, `acme-${prefix}carry-over`),
  JHE_ACME_PORT: "14110", JHE_ACME_MGMT_PORT: "15110", JHE_ACME_DNS_PORT: "8163", JHE_ACME_CTS_PORT: "8165",
});
const pebbleLog = path.join(process.env.JHE_ACME_DIR!, "pebble.log");
/** Orders pebble created so far (its log: one "Added order" line per newOrder). */
const orders = (): number => (fs.existsSync(pebbleLog) ? (fs.readFileSync(pebbleLog, "utf8").match(/Added order /g) ?? []).length : 0);

const HUB = "hub.carry-over.test";
const LEGACY = "legacy.carry-over.test";

function servedSerial(addr: string, servername = HUB): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: addr, port: 443, servername, rejectUnauthorized: false });
    s.once("secureConnect", () => { resolve(s.getPeerCertificate().serialNumber); s.destroy(); });
    s.once("error", reject);
    s.setTimeout(10_000, () => { s.destroy(); reject(new Error("TLS timeout")); });
  });
}

/** A site of the host's own, polled from outside while steps run (curl in a child: steps block). */
function probeLegacy(host: SandboxHost): { stop(): { total: number; failed: string[] } } {
  const out = path.join(fs.mkdtempSync("/tmp/jhe-legacy-"), "codes");
  const child: ChildProcess = spawn("bash", ["-c",
    `while :; do curl -s -o /dev/null -w '%{http_code}\\n' --max-time 3 --resolve ${LEGACY}:80:${host.addr} http://${LEGACY}/ >>${out}; sleep 0.25; done`], { stdio: "ignore" });
  return {
    stop() {
      child.kill("SIGKILL");
      const codes = fs.existsSync(out) ? fs.readFileSync(out, "utf8").trim().split("\n").filter(Boolean) : [];
      return { total: codes.length, failed: codes.filter((c) => c !== "200") };
    },
  };
}

function applyAll(host: SandboxHost, steps: Step[]): Record<string, string> {
  const stdout: Record<string, string> = {};
  for (const step of steps) {
    const r = runStep(host, step, "apply");
    assert.equal(r.status, 0, `step ${step.name} failed:\n${step.secret ? "(secret step: output withheld)" : r.stdout}\n${r.stderr}`);
    stdout[step.name] = r.stdout;
  }
  return stdout;
}

function undoAll(host: SandboxHost, steps: Step[]): void {
  for (const step of [...steps].reverse()) {
    const r = runStep(host, step, "undo");
    assert.equal(r.status, 0, `undo of ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
  }
}

let acme: AcmeServer;
let first: SandboxHost;
let rebuilt: SandboxHost;
const asFound = new Map<string, { fingerprint: string; hashes: string }>();
let bundles: Record<string, string> = {};
let firstSerial = "";
let ordersBefore = 0;

function siteFor(host: SandboxHost, proxy: "nginx" | "apache"): SiteSpec {
  return parseConfig({
    host: host.addr, sshPrivateKeyFile: host.sshKey, proxy, platform: "debian-13", hubDomain: HUB,
    certificateMode: "acme", acmeEmail: "admin@example.org",
    // By name, as a real ACME server is: the renewal config a bundle carries names this URL, and
    // each sandbox host maps the name to its own side of the machine.
    acmeServer: acme.env.ACME_DIRECTORY_BY_NAME, acmeCaBundlePem: acme.listenerCaPem,
    acmeCarryOverDomains: Object.keys(bundles),
  }).site;
}

function recordAsFound(host: SandboxHost): void {
  asFound.set(host.name, { fingerprint: fingerprint(host), hashes: treeHashes(host) });
}

before(async () => {
  acme = await startAcme();
  ordersBefore = orders();
  first = createHost("carry-first", "trixie");
  rebuilt = createHost("carry-rebuilt", "trixie");
  for (const h of [first, rebuilt]) {
    // The environment, not the program: the ACME server's name resolves on every server.
    assert.equal(ssh(h, `echo '${h.machineAddr} acme.jhe.test' >>/etc/hosts`).status, 0);
  }
  // The rebuilt server already runs nginx with a site of its own, which must keep serving.
  const site = `printf 'server {\\n  listen 80;\\n  server_name ${LEGACY};\\n  root /srv/legacy;\\n}\\n' >/etc/nginx/sites-enabled/legacy`;
  const r = ssh(rebuilt, "bash -s", `set -e; apt-get install -y -q nginx >/dev/null; mkdir -p /srv/legacy; echo 'legacy site' >/srv/legacy/index.html; ${site}; systemctl reload nginx`);
  assert.equal(r.status, 0, r.stderr);
  recordAsFound(first);
  recordAsFound(rebuilt);
});

after(async () => {
  if (process.env.JHE_KEEP_HOSTS === "1") return;
  for (const h of [first, rebuilt]) if (h) removeHost(h.name.slice(prefix.length));
  await acme?.removeName(HUB).catch(() => undefined);
  await stopAcme().catch(() => undefined);
});

let firstSteps: Step[];
let ownedWhileUp: string[] = [];

test("carry-over: the first server orders its certificate once and exports it", async () => {
  await acme.addName(HUB, first.addr);
  firstSteps = planSteps(siteFor(first, "nginx"), "after none\n");
  assert.ok(firstSteps.some((s) => s.name === "acme-import") && firstSteps.some((s) => s.name === "acme-export"));
  const out = applyAll(first, firstSteps);
  console.log(`# first server: ${out["acme-certificates"].trim().split("\n").join("\n#   ")}`);
  assert.equal(orders() - ordersBefore, 1, "one order for the first certificate");
  const login = await httpsGet(`https://${HUB}/hub/login`, { connectTo: { host: first.addr }, ca: await acme.issuingRootPem(), timeoutMs: 15_000 });
  assert.equal(login.status, 200);
  firstSerial = await servedSerial(first.addr);
  bundles = parseCarryOverExport(out["acme-export"]);
  assert.deepEqual(Object.keys(bundles), [HUB]);
  assert.ok(!/PRIVATE KEY/.test(out["acme-export"]), "the bundle is not plaintext PEM");
  ownedWhileUp = packageOwnedFiles(first);
  console.log(`# first server: serial ${firstSerial}; exported bundle of ${HUB}: ${bundles[HUB].length} base64 chars`);
});

test("teardown: undo leaves the first server as found (/etc and the program's trees hashed)", () => {
  undoAll(first, firstSteps);
  const now = fingerprint(first);
  const hashes = treeHashes(first);
  const found = asFound.get(first.name)!;
  console.log(`# first server (nginx, installed by the program) before the first apply:\n#   ${found.hashes.trim().split("\n").join("\n#   ")}`);
  console.log(`# after undo:\n#   ${hashes.trim().split("\n").join("\n#   ")}`);
  const gone = ownedWhileUp.filter((f) => !now.includes(` ${f} -> `));
  console.log(`# package-owned files purged by the package manager (present while up, gone after): ${gone.length}\n#   ${gone.slice(0, 40).join("\n#   ")}${gone.length > 40 ? `\n#   … ${gone.length - 40} more` : ""}`);
  // Only package-owned files may differ; in fact nothing does (they were not there before either).
  const diff = fingerprintDiff(found.fingerprint, now);
  const unexplained = diff.split("\n").filter((l) => l && !ownedWhileUp.some((f) => l.includes(` ${f}`)));
  assert.deepEqual(unexplained, [], `host differs from how it was found:\n${diff}`);
  assert.equal(hashes, found.hashes);
});

let rebuiltSteps: Step[];

test("carry-over: the same domain rebuilt on a new server orders nothing and serves the same certificate", async () => {
  await acme.addName(HUB, rebuilt.addr);
  const ordersAtRebuild = orders();
  rebuiltSteps = planSteps<string>(siteFor(rebuilt, "nginx"), "after none\n", undefined, carryOverImportPayload(bundles));
  const probe = probeLegacy(rebuilt);
  let out: Record<string, string>;
  try {
    out = applyAll(rebuilt, rebuiltSteps);
  } finally {
    const p = probe.stop();
    console.log(`# legacy site during the rebuild: ${p.total - p.failed.length}/${p.total} answers 200`);
    assert.ok(p.total > 5 && p.failed.length === 0, `the site that was there failed: ${p.failed.join(",")}`);
  }
  console.log(`# rebuilt server: ${out["acme-certificates"].trim().split("\n").join("\n#   ")}`);
  assert.match(out["acme-certificates"], /certificate for hub\.carry-over\.test carried over from an earlier server; not requested/);
  assert.doesNotMatch(out["acme-certificates"], /requesting/);
  const newOrders = orders() - ordersAtRebuild;
  console.log(`# new ACME orders for the rebuild: ${newOrders} (pebble's log: "Added order" lines ${ordersAtRebuild} → ${orders()})`);
  assert.equal(newOrders, 0);
  assert.equal(await servedSerial(rebuilt.addr), firstSerial, "the carried-over certificate is served");
  const login = await httpsGet(`https://${HUB}/hub/login`, { connectTo: { host: rebuilt.addr }, ca: await acme.issuingRootPem(), timeoutMs: 15_000 });
  assert.equal(login.status, 200);
  const modes = ssh(rebuilt, "stat -c '%a %n' /etc/letsencrypt/archive/hub.carry-over.test/privkey1.pem; find /etc/letsencrypt/accounts -name private_key.json -exec stat -c '%a' {} +").stdout;
  assert.match(modes, /^600 /m, modes);
});

test("carry-over: the distro's certbot.service renews on the rebuilt server (one order: the renewal)", async () => {
  const before = orders();
  const r = ssh(rebuilt, "echo 'force-renewal = true' >>/etc/letsencrypt/cli.ini; systemctl start certbot.service; echo exit=$?; sed -i '/^force-renewal = true$/d' /etc/letsencrypt/cli.ini; [ -s /etc/letsencrypt/cli.ini ] || rm -f /etc/letsencrypt/cli.ini");
  assert.match(r.stdout, /exit=0/, `${r.stdout}\n${ssh(rebuilt, "journalctl -u certbot.service -n 20 --no-pager").stdout}`);
  const serial = await servedSerial(rebuilt.addr);
  console.log(`# forced renewal on the rebuilt server: serial ${firstSerial} -> ${serial}, orders +${orders() - before}`);
  assert.notEqual(serial, firstSerial);
  assert.equal(orders() - before, 1);
});

test("teardown: undo leaves the rebuilt server (nginx with a site of its own) as found, the site serving throughout", () => {
  const owned = packageOwnedFiles(rebuilt);
  const probe = probeLegacy(rebuilt);
  try {
    undoAll(rebuilt, rebuiltSteps);
  } finally {
    const p = probe.stop();
    console.log(`# legacy site during undo: ${p.total - p.failed.length}/${p.total} answers 200`);
    assert.ok(p.total > 3 && p.failed.length === 0, `the site that was there failed: ${p.failed.join(",")}`);
  }
  const found = asFound.get(rebuilt.name)!;
  const hashes = treeHashes(rebuilt);
  console.log(`# rebuilt server (nginx, there before) before the first apply:\n#   ${found.hashes.trim().split("\n").join("\n#   ")}`);
  console.log(`# after undo:\n#   ${hashes.trim().split("\n").join("\n#   ")}`);
  const now = fingerprint(rebuilt);
  const gone = owned.filter((f) => !now.includes(` ${f} -> `));
  console.log(`# package-owned files purged by the package manager (certbot's; nginx was there before and stays): ${gone.length}\n#   ${gone.slice(0, 40).join("\n#   ")}${gone.length > 40 ? `\n#   … ${gone.length - 40} more` : ""}`);
  const diff = fingerprintDiff(found.fingerprint, now);
  assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
  assert.equal(hashes, found.hashes);
});
