/**
 * Host tier, the status board (issue 22): a fleet of three — a healthy nginx server with split auth
 * on and a hand edit in its vhost and in its password file, an Apache server whose proxy a tutor
 * stopped and whose nftables package was removed, and a server that does not answer — asked by
 * scripts/status.ts as `npm run status` does. Drift comes from the drift watch's own probe over the
 * plan's items (steps/drift.ts): each edit is shown with its server and item, a clean host shows
 * none, and no secret text reaches the board. The table, the JSON and the HTML page (looked at in
 * the real Chromium, screenshot saved) must say exactly that, within 10 s with the unreachable
 * server in the list.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { chromium } from "playwright-core";
import { loadStackFromStrings, LoadedStack } from "../../config/fleet";
import { certificatePayload, planSteps } from "../../steps/plan";
import { htpasswdPayload } from "../../render/split-auth";
import { generatedHash } from "../../components/split-auth";
import { SERVER_STATE_TYPE } from "../../steps/drift";
import { SecretPayloads, boardWatch, collectStatus, deployedSecretPayloads, formatTable, keyReader, renderHtml, ServerStatus } from "../../scripts/status";
import { SandboxHost, createHost, removeHost, runStep, ssh } from "../support/sandbox";
import { makeTestCa } from "../support/test-ca";
import { CHROMIUM } from "../support/lab-browser";

const repo = path.join(__dirname, "..", "..");
const artifactsDir = path.join(repo, "test-artifacts", "status-board");
const HUBS = { room1: "room1.status.test", room2: "room2.status.test", room3: "room3.status.test" };
// An address on a host network no sandbox host uses: nothing answers there.
const UNREACHABLE = "10.213.251.2";

let a: SandboxHost;
let b: SandboxHost;
let stack: LoadedStack;
let strings: Record<string, string>;
const ca = makeTestCa(Object.values(HUBS));
/** The secret steps' payloads as applied, by server: what `npm run status` reads from the stack's export. */
const secrets: Record<string, SecretPayloads> = {};
const secretsFor = (h: { name: string }) => secrets[h.name] ?? {};

before(() => {
  a = createHost("status-a", "trixie");
  b = createHost("status-b", "trixie");
  strings = {
    certificateMode: "selfSigned",
    // Split auth on (shared by the fleet): its password file is a secret file the board watches.
    splitAuth: JSON.stringify({ users: [{ name: "tutor", passwordGiven: false }] }),
    hosts: JSON.stringify([
      { name: "room1", host: a.addr, hostKey: a.hostKey, sshPrivateKeyFile: a.sshKey, hubDomain: HUBS.room1, proxy: "nginx", platform: "debian-13" },
      { name: "room2", host: b.addr, hostKey: b.hostKey, sshPrivateKeyFile: b.sshKey, hubDomain: HUBS.room2, proxy: "apache", platform: "debian-13" },
      { name: "room3", host: UNREACHABLE, sshPrivateKeyFile: a.sshKey, hubDomain: HUBS.room3 },
    ]),
  };
  stack = loadStackFromStrings(strings, undefined, repo);
  for (const [host, name] of [[a, "room1"], [b, "room2"]] as const) {
    const site = stack.hosts.find((h) => h.name === name)!.site;
    const material = ca.material.filter((m) => m.domain === site.hub.domain);
    const htpasswd = site.splitAuth ? htpasswdPayload(site, [{ user: "tutor", hash: generatedHash("correct-horse-battery-staple-42") }]) : undefined;
    const steps = planSteps<string>(site, certificatePayload(site, material), htpasswd);
    secrets[name] = Object.fromEntries(steps.filter((st) => st.secret).map((st) => [st.name, st.payload]));
    for (const step of steps) {
      const r = runStep(host, step, "apply");
      assert.equal(r.status, 0, `${name}: step ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
    }
  }
});
after(() => {
  if (process.env.JHE_KEEP_HOSTS === "1") return;
  removeHost("status-a");
  removeHost("status-b");
});

const byName = (statuses: ServerStatus[], n: string) => statuses.find((s) => s.name === n)!;
const driftOf = (s: ServerStatus) => s.drift.map((d) => `${d.item}: ${d.what}`).sort();

test("status board: the secret payloads come from the drift resource each server's last `up` recorded", () => {
  const steps = [{ name: "split-auth-users", command: "x", payload: "after nginx\n", items: [] }, { name: "proxy-http", command: "y", payload: "p\n", items: [] }];
  const secret = (v: unknown) => ({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", plaintext: JSON.stringify(v) });
  const exported = {
    deployment: {
      resources: [
        { urn: "urn:pulumi:ws::jupyterhub-edge::jupyterhub-edge:index:EdgeSite$jupyterhub-edge:index:ServerState::edge-room1-drift", type: SERVER_STATE_TYPE, inputs: { server: "edge-room1", steps: secret(steps) } },
        { urn: "urn:pulumi:ws::jupyterhub-edge::command:remote:Command::edge-room2-drift", type: "command:remote:Command", inputs: {} },
      ],
    },
  };
  assert.deepEqual(deployedSecretPayloads(exported, stack), { room1: { "split-auth-users": "after nginx\n", "proxy-http": "p\n" }, room2: {}, room3: {} });
  assert.deepEqual(deployedSecretPayloads({}, stack), { room1: {}, room2: {}, room3: {} });
  // Without them the secret files are left out, never reported as changed.
  const site = stack.hosts[0].site;
  const watched = (w: ReturnType<typeof boardWatch>) => w.flatMap((st) => st.items.map((i) => `${st.name} ${"path" in i ? i.path : i.kind}`));
  assert.ok(!watched(boardWatch(site, "root")).some((i) => i.startsWith("split-auth-users") || i.startsWith("tls-files")));
  assert.ok(watched(boardWatch(site, "root", secrets.room1)).includes("split-auth-users /etc/jupyterhub-edge/htpasswd"));
});

test("status board: a fresh fleet is all OK, no drift, except the server that does not answer", async () => {
  const statuses = await collectStatus(stack, keyReader(strings, repo), undefined, secretsFor);
  console.log(`# ${formatTable(statuses).trimEnd().split("\n").join("\n# ")}`);
  for (const n of ["room1", "room2"]) {
    const s = byName(statuses, n);
    assert.equal(s.verdict, "ok", `${n}: ${JSON.stringify(s)}`);
    assert.deepEqual(s.drift, [], `${n}: a clean host shows no drift`);
    assert.equal(s.driftError, undefined);
    assert.equal(s.certificates[0].daysLeft! > 300, true, "the self-signed leaf lasts a year");
  }
  assert.equal(byName(statuses, "room3").reachable, false);
});

test("status board: hand edits (vhost, password file), a stopped proxy, a removed package and an unreachable server are shown as such, within 10 s", async () => {
  ssh(a, "printf '# tutor was here\\n' >>/etc/nginx/conf.d/jupyterhub-edge.conf");
  ssh(a, "printf 'intruder:{SHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA=\\n' >>/etc/jupyterhub-edge/htpasswd");
  const passwordFile = ssh(a, "cat /etc/jupyterhub-edge/htpasswd").stdout;
  ssh(b, "systemctl stop apache2");
  assert.equal(ssh(b, "apt-get remove -y -q nftables >/dev/null").status, 0);
  const t0 = Date.now();
  const statuses = await collectStatus(stack, keyReader(strings, repo), undefined, secretsFor);
  const ms = Date.now() - t0;
  const table = formatTable(statuses);
  console.log(`# ${table.trimEnd().split("\n").join("\n# ")}`);
  console.log(`# asked 3 servers in ${(ms / 1000).toFixed(1)} s`);
  assert.ok(ms < 10_000, `the board took ${ms} ms`);

  const room1 = byName(statuses, "room1");
  assert.equal(room1.verdict, "warning");
  assert.deepEqual(driftOf(room1), [
    "proxy-config: /etc/nginx/conf.d/jupyterhub-edge.conf: content changed (+1/-0 lines)",
    "split-auth-users: /etc/jupyterhub-edge/htpasswd: content changed (secret file: not shown)",
  ]);
  assert.equal(room1.proxy!.active, "active");
  assert.equal(room1.hub!.healthy, true);
  assert.equal(room1.splitAuth, "on");
  assert.equal(byName(statuses, "room2").splitAuth, "on");

  const room2 = byName(statuses, "room2");
  assert.equal(room2.verdict, "down");
  assert.equal(room2.proxy!.active, "inactive");
  assert.deepEqual(driftOf(room2), [
    "fail2ban-packages: package nftables: not installed (the program installed it)",
    "proxy-packages: unit apache2: inactive, the program keeps it running",
  ]);
  assert.match(table, /^room1: drift: proxy-config: \/etc\/nginx\/conf\.d\/jupyterhub-edge\.conf: content changed/m);
  assert.match(table, /^room2: drift: proxy-packages: unit apache2: inactive/m);
  assert.match(table, /^room2: drift: fail2ban-packages: package nftables: not installed/m);

  const room3 = byName(statuses, "room3");
  assert.equal(room3.reachable, false);
  assert.match(room3.error!, /unreachable|no answer/);
  assert.match(table, /^room3\s+UNREACHABLE/m);

  const json = JSON.parse(JSON.stringify(statuses)) as ServerStatus[];
  assert.deepEqual(json.map((s) => [s.name, s.verdict]), [["room1", "warning"], ["room2", "down"], ["room3", "down"]]);

  // No secret text anywhere the board writes: not the password file's lines (as the program wrote
  // them or as edited), not a key.
  const html = renderHtml(statuses, "jupyterhub-edge status: workshop");
  const secretLines = [...passwordFile.split("\n"), ...Object.values(secrets.room1).flatMap((p) => p.split("\n"))]
    .map((l) => l.replace(/^\|/, "").trim())
    .filter((l) => l.length > 12 && !/^(file|after|end)\b/.test(l) && !l.startsWith("-----"));
  assert.ok(secretLines.some((l) => l.startsWith("intruder:")) && secretLines.some((l) => l.startsWith("tutor:")), "the check looks at the password lines");
  for (const [where, text] of [["table", table], ["JSON", JSON.stringify(statuses)], ["HTML", html]] as const) {
    for (const l of secretLines) assert.ok(!text.includes(l), `${where} carries secret text: ${l.slice(0, 12)}…`);
    assert.doesNotMatch(text, /intruder|\{SHA\}|PRIVATE KEY/, `${where} carries secret text`);
  }

  // The page, as the organiser's browser shows it.
  fs.mkdirSync(artifactsDir, { recursive: true });
  const page = path.join(artifactsDir, "status.html");
  fs.writeFileSync(page, html);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-proxy-server"] });
  try {
    const tab = await browser.newPage();
    await tab.goto(`file://${page}`);
    const rows = await tab.locator("tr").allInnerTexts();
    const shot = path.join(artifactsDir, "status.png");
    await tab.screenshot({ path: shot, fullPage: true });
    console.log(`# screenshot: ${shot}`);
    const row = (n: string) => rows.find((r) => r.startsWith(n))!;
    assert.match(row("room1"), /warning[\s\S]*proxy-config: \/etc\/nginx\/conf\.d\/jupyterhub-edge\.conf: content changed/);
    assert.match(row("room1"), /split-auth-users: \/etc\/jupyterhub-edge\/htpasswd: content changed \(secret file: not shown\)/);
    assert.match(row("room2"), /down[\s\S]*inactive[\s\S]*unit apache2: inactive/);
    assert.match(row("room2"), /fail2ban-packages: package nftables: not installed/);
    assert.match(rows.find((r) => r.startsWith("room3"))!, /unreachable/);
    assert.equal(await tab.locator("tr.down td.bad").count() >= 2, true, "the two servers that are down are marked");
  } finally {
    await browser.close();
  }
});
