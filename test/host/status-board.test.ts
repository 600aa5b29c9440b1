/**
 * Host tier, the status board (issue 22): a fleet of three — a healthy nginx server with a hand edit
 * in its vhost, an Apache server whose proxy a tutor stopped, and a server that does not answer —
 * asked by scripts/status.ts as `npm run status` does. The table, the JSON and the HTML page (looked
 * at in the real Chromium, screenshot saved) must say exactly that, within 10 s with the
 * unreachable server in the list.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { chromium } from "playwright-core";
import { loadStackFromStrings, LoadedStack } from "../../config/fleet";
import { certificatePayload, planSteps } from "../../steps/plan";
import { collectStatus, formatTable, keyReader, renderHtml, ServerStatus } from "../../scripts/status";
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

before(() => {
  a = createHost("status-a", "trixie");
  b = createHost("status-b", "trixie");
  strings = {
    certificateMode: "selfSigned",
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
    for (const step of planSteps(site, certificatePayload(site, material))) {
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

test("status board: a fresh fleet is all OK except the server that does not answer", async () => {
  const statuses = await collectStatus(stack, keyReader(strings, repo));
  console.log(`# ${formatTable(statuses).trimEnd().split("\n").join("\n# ")}`);
  for (const n of ["room1", "room2"]) {
    const s = byName(statuses, n);
    assert.equal(s.verdict, "ok", `${n}: ${JSON.stringify(s)}`);
    assert.deepEqual(s.drift, []);
    assert.equal(s.certificates[0].daysLeft! > 300, true, "the self-signed leaf lasts a year");
  }
  assert.equal(byName(statuses, "room3").reachable, false);
});

test("status board: a stopped proxy, a hand edit and an unreachable server are shown as such, within 10 s", async () => {
  ssh(a, "printf '# tutor was here\\n' >>/etc/nginx/conf.d/jupyterhub-edge.conf");
  ssh(b, "systemctl stop apache2");
  const t0 = Date.now();
  const statuses = await collectStatus(stack, keyReader(strings, repo));
  const ms = Date.now() - t0;
  const table = formatTable(statuses);
  console.log(`# ${table.trimEnd().split("\n").join("\n# ")}`);
  console.log(`# asked 3 servers in ${(ms / 1000).toFixed(1)} s`);
  assert.ok(ms < 10_000, `the board took ${ms} ms`);

  const room1 = byName(statuses, "room1");
  assert.equal(room1.verdict, "warning");
  assert.deepEqual(room1.drift, ["/etc/nginx/conf.d/jupyterhub-edge.conf changed"]);
  assert.equal(room1.proxy!.active, "active");
  assert.equal(room1.hub!.healthy, true);

  const room2 = byName(statuses, "room2");
  assert.equal(room2.verdict, "down");
  assert.equal(room2.proxy!.active, "inactive");
  assert.deepEqual(room2.drift, [], "a stopped proxy is not a changed file");

  const room3 = byName(statuses, "room3");
  assert.equal(room3.reachable, false);
  assert.match(room3.error!, /unreachable|no answer/);
  assert.match(table, /^room3\s+UNREACHABLE/m);

  const json = JSON.parse(JSON.stringify(statuses)) as ServerStatus[];
  assert.deepEqual(json.map((s) => [s.name, s.verdict]), [["room1", "warning"], ["room2", "down"], ["room3", "down"]]);

  // The page, as the organiser's browser shows it.
  fs.mkdirSync(artifactsDir, { recursive: true });
  const page = path.join(artifactsDir, "status.html");
  fs.writeFileSync(page, renderHtml(statuses, "jupyterhub-edge status: workshop"));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-proxy-server"] });
  try {
    const tab = await browser.newPage();
    await tab.goto(`file://${page}`);
    const rows = await tab.locator("tr").allInnerTexts();
    const shot = path.join(artifactsDir, "status.png");
    await tab.screenshot({ path: shot, fullPage: true });
    console.log(`# screenshot: ${shot}`);
    assert.match(rows.find((r) => r.startsWith("room1"))!, /warning[\s\S]*jupyterhub-edge\.conf changed/);
    assert.match(rows.find((r) => r.startsWith("room2"))!, /down[\s\S]*inactive/);
    assert.match(rows.find((r) => r.startsWith("room3"))!, /unreachable/);
    assert.equal(await tab.locator("tr.down td.bad").count() >= 2, true, "the two servers that are down are marked");
  } finally {
    await browser.close();
  }
});
