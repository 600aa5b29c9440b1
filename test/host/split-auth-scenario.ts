/**
 * Host tier, split auth: the plan's steps on a fresh sandbox host, probed from outside — from this
 * machine (not allow-listed) and from a second network namespace whose addresses are in allowFrom
 * (scripts/sandbox/source-ns.sh). The hub's pages ask for a password, JupyterLab, the kernel
 * websocket and the hub API do not, no path trick gets past, a real browser gets from the password
 * to a running cell, a password change rewrites the file and reloads, the block moves with the hub
 * to a sub-path on another port, turning it off removes file and directives, and undo leaves the
 * host as it was found.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import { parseConfig } from "../../config/schema";
import { ProxyKind, SiteSpec } from "../../model/site";
import { PlatformId } from "../../model/platforms";
import { Step, certificatePayload, planSteps } from "../../steps/plan";
import { HtpasswdEntry, htpasswdPayload } from "../../render/split-auth";
import { bcryptWithSalt } from "../../components/split-auth";
import { TestCa, makeTestCa } from "../support/test-ca";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, runStep, ssh } from "../support/sandbox";
import { CookieJar, httpRequest, httpsGet, probeHubKernel } from "../support/hub-probe";
import { runLabInBrowser } from "../support/lab-browser";

const HUB = "hub.auth.test";
const REALM = "Workshop";
const repo = path.join(__dirname, "..", "..");
export const artifactsDir = path.join(repo, "test-artifacts", "split-auth");

interface Source { netns: string; addr4: string; addr6: string; target4: string; target6: string }

function addSource(host: SandboxHost): Source {
  const r = spawnSync("bash", [path.join(repo, "scripts/sandbox/source-ns.sh"), "add", host.name], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const env = Object.fromEntries([...r.stdout.matchAll(/^([A-Z0-9_]+)='(.*)'$/gm)].map((m) => [m[1], m[2]]));
  return { netns: env.SOURCE_NETNS, addr4: env.SOURCE_ADDR4, addr6: env.SOURCE_ADDR6, target4: env.TARGET_ADDR4, target6: env.TARGET_ADDR6 };
}

const randomPassword = () => crypto.randomBytes(18).toString("base64url");
const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString("base64")}`;

/** One GET with the path sent exactly as written (no URL normalisation on our side). */
function rawGet(host: SandboxHost, ca: TestCa, port: number, rawPath: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: host.addr, port, servername: HUB, path: rawPath, method: "GET", ca: ca.caPem, agent: false,
        headers: { Host: port === 443 ? HUB : `${HUB}:${port}`, ...headers }, timeout: 15_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** The path tricks every proxy must refuse, under the hub's base path. */
export function bypassForms(base: string): string[] {
  const b = base; // "/" or "/jhub/"
  return [
    `${b}hub`, `${b}hub/`, `${b}hub/login`, `/${b}hub/login`, `${b}/hub/login`.replace(/^\/\/\//, "//"),
    `${b}hub%2Flogin`, `${b}hub%2flogin`, `${b}%68ub/login`, `${b}hub/./login`, `${b}hub/../hub/login`,
    `${b}user/../hub/login`, `${b}hub/api/../login`, `${b}hub/api/..%2Flogin`, `${b}hub/api/%2e%2e/login`,
    `${b}hub/user-redirect/..%2Fapi/users`, `${b}hub/static/..%2Fapi/`, `${b}HUB/login`, `${b}Hub/Login`, `${b}hub/API/users`,
  ].filter((p, i, all) => all.indexOf(p) === i);
}

export interface SplitAuthScenarioOptions {
  suite: "trixie" | "bookworm";
  platform: PlatformId;
  proxy: ProxyKind;
}

export function splitAuthScenario({ suite, platform, proxy }: SplitAuthScenarioOptions): void {
  const hostName = `split-${proxy}`;
  const tag = `${proxy}/${suite}`;
  let host: SandboxHost;
  let ca: TestCa;
  let source: Source;
  let asFound: string;
  let site: SiteSpec;
  let steps: Step[];
  // workshop: a password "given in config"; tutor: one "generated" (the engine tier uses @pulumi/random).
  const passwords: Record<string, string> = { workshop: randomPassword(), tutor: randomPassword() };
  const salts: Record<string, string> = {};
  const hashes = (): HtpasswdEntry[] =>
    Object.entries(passwords).map(([user, pw]) => ({ user, hash: bcryptWithSalt(pw, (salts[user] ??= crypto.randomBytes(16).toString("hex"))) }));

  const plan = (extra: Record<string, unknown>, auth: Record<string, unknown> | null) => {
    const { site: s } = parseConfig({
      proxy, platform, host: host.addr, sshPrivateKeyFile: host.sshKey, hostKey: host.hostKey, hubDomain: HUB,
      ...(auth ? { splitAuth: { users: Object.keys(passwords).map((name) => ({ name, passwordGiven: name === "workshop" })), realm: REALM, ...auth } } : {}),
      ...extra,
    });
    return { site: s, steps: planSteps<string>(s, certificatePayload(s, ca.material), s.splitAuth ? htpasswdPayload(s, hashes()) : undefined) };
  };
  const apply = (list: Step[]) =>
    list.map((step) => {
      const r = runStep(host, step, "apply");
      assert.equal(r.status, 0, `step ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
      return `${step.name}: ${r.stdout.trim().split("\n").pop()}`;
    });
  const changedSteps = (next: Step[]) => next.filter((s) => steps.find((o) => o.name === s.name)?.payload !== s.payload);
  const undo = (list: Step[]) => {
    for (const step of [...list].reverse()) {
      const r = runStep(host, step, "undo");
      assert.equal(r.status, 0, `undo of ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
    }
  };
  const base = () => `https://${HUB}${site.httpsPort === 443 ? "" : `:${site.httpsPort}`}${site.hub.path}`;
  const get = (url: string, headers: Record<string, string> = {}) =>
    httpsGet(url, { connectTo: { host: host.addr }, ca: ca.caPem, headers, timeoutMs: 15_000 });
  /** curl from the allow-listed namespace, without any credentials. */
  const fromSource = (family: 4 | 6, urlPath: string): { status: number; body: string } => {
    const target = family === 4 ? source.target4 : `[${source.target6}]`;
    const caFile = path.join(ca.dir, "ca.pem");
    const r = spawnSync("ip", ["netns", "exec", source.netns, "curl", "-sS", "--max-time", "15", "--cacert", caFile,
      "--resolve", `${HUB}:${site.httpsPort}:${target}`, "-w", "\n%{http_code}", `https://${HUB}:${site.httpsPort}${urlPath}`], { encoding: "utf8" });
    assert.equal(r.status, 0, `curl from ${source.netns} failed: ${r.stderr}`);
    const i = r.stdout.lastIndexOf("\n");
    return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
  };
  /** The kernel probe, with Basic credentials for the hub's pages only (see hub-probe.ts). */
  const probe = () =>
    probeHubKernel({
      baseUrl: base(), connectTo: { host: host.addr }, ca: ca.caPem, username: host.hubUser, password: host.hubPassword,
      basicAuth: { username: "workshop", password: passwords.workshop },
    });

  before(() => {
    const t0 = Date.now();
    host = createHost(hostName, suite);
    ca = makeTestCa([HUB]);
    source = addSource(host);
    console.log(`# host ${host.name} (${suite}) at ${host.addr}, allow-listed source ${source.addr4} / ${source.addr6}, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    asFound = fingerprint(host);
    ({ site, steps } = plan({}, { allowFrom: [`${source.addr4}/32`, `${source.addr6.replace(/::2$/, "::")}/64`] }));
  });
  after(() => {
    spawnSync("bash", [path.join(repo, "scripts/sandbox/source-ns.sh"), "remove", host?.name ?? `${process.env.JHE_HOST_PREFIX ?? ""}${hostName}`]);
    if (host && process.env.JHE_KEEP_HOSTS !== "1") removeHost(hostName);
  });

  test(`split auth ${tag}: every step applies; the htpasswd file is bcrypt only, root:www-data 0640, outside any web root`, () => {
    const t0 = Date.now();
    const lines = apply(steps);
    console.log(`# applied ${steps.length} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s:\n#   ${lines.join("\n#   ")}`);
    assert.equal(ssh(host, "stat -c '%a %U %G' /etc/jupyterhub-edge/htpasswd").stdout.trim(), "640 root www-data");
    const file = ssh(host, "cat /etc/jupyterhub-edge/htpasswd").stdout;
    assert.match(file, /^workshop:\$2y\$10\$[./A-Za-z0-9]{53}\ntutor:\$2y\$10\$[./A-Za-z0-9]{53}\n$/);
    const roots = ssh(host, `grep -rhoE '^\\s*(root|DocumentRoot|alias|Alias)\\s+\\S+' /etc/nginx /etc/apache2 2>/dev/null || true`).stdout;
    assert.doesNotMatch(roots, /\/etc\/jupyterhub-edge/, "no web root or alias serves the htpasswd directory");
    // The passwords exist nowhere on the host: not in files, logs or the journal.
    for (const pw of Object.values(passwords)) {
      // The password travels on stdin, so it is not in this command line either.
      const r = ssh(host, `pw=$(cat); { grep -rlF -e "$pw" /etc /var/lib/jupyterhub-edge /var/log /tmp 2>/dev/null; journalctl --no-pager 2>/dev/null | grep -F -e "$pw" | head -1; } || true`, pw);
      assert.equal(r.stdout.trim(), "", "a password appears on the host");
    }
  });

  test(`split auth ${tag}: the hub's login page needs the password (401 with HSTS and the realm), wrong one 401, right one the form`, async () => {
    const none = await get(`${base()}hub/login`);
    assert.equal(none.status, 401);
    assert.equal(none.headers["www-authenticate"], `Basic realm="${REALM}"`);
    assert.match(String(none.headers["strict-transport-security"]), /^max-age=63072000; includeSubDomains$/, "401s carry HSTS");
    assert.doesNotMatch(none.body, /_xsrf/, "nothing of the hub's page in a 401");
    assert.equal((await get(`${base()}hub/login`, { Authorization: basic("workshop", "wrong-password") })).status, 401);
    assert.equal((await get(`${base()}hub/login`, { Authorization: basic("nobody", passwords.workshop) })).status, 401);
    for (const user of ["workshop", "tutor"]) {
      const ok = await get(`${base()}hub/login`, { Authorization: basic(user, passwords[user]) });
      assert.equal(ok.status, 200, `${user}: ${ok.body.slice(0, 200)}`);
      assert.match(ok.body, /<form[^>]*action="[^"]*login/i);
    }
    const redirect = await get(`http://${HUB}/hub/login?x=1`);
    assert.equal(redirect.status, 301, "port 80 still redirects, without asking for a password");
    assert.equal(redirect.headers.location, `https://${HUB}/hub/login?x=1`);
  });

  test(`split auth ${tag}: an allow-listed source (IPv4 and IPv6) gets the login page without a password`, () => {
    for (const family of [4, 6] as const) {
      const r = fromSource(family, `${site.hub.path}hub/login`);
      assert.equal(r.status, 200, `IPv${family}: ${r.body.slice(0, 200)}`);
      assert.match(r.body, /<form[^>]*action="[^"]*login/i);
    }
    console.log(`# from ${source.netns} (${source.addr4}, ${source.addr6}): hub/login 200 without credentials`);
  });

  test(`split auth ${tag}: JupyterLab and the kernel websocket work with the hub's cookie alone (no Basic credentials)`, async () => {
    const r = await probe();
    assert.match(r.output, /42/);
    console.log(`# kernel probe (Basic only on hub pages; user/, hub/api/ and the websocket without): ${r.output.trim()} in ${r.totalMs} ms`);
  });

  test(`split auth ${tag}: the hub API takes a hub token without Basic credentials`, async () => {
    const token = await hubToken(base(), host, ca, passwords.workshop);
    const me = await get(`${base()}hub/api/user`, { Authorization: `token ${token}` });
    assert.equal(me.status, 200, me.body.slice(0, 200));
    assert.equal(JSON.parse(me.body).name, host.hubUser);
    const info = await get(`${base()}hub/api/`);
    assert.equal(info.status, 200, "the API root answers without any credentials");
    assert.match(String(info.headers["strict-transport-security"]), /^max-age=/);
    const anonymous = await get(`${base()}hub/api/user`);
    assert.ok([401, 403].includes(anonymous.status), `without a token the hub itself refuses (${anonymous.status})`);
    assert.equal(anonymous.headers["www-authenticate"], undefined, "the proxy asks no password on the API");
  });

  test(`split auth ${tag}: no path trick reaches a hub page without the password`, async () => {
    await assertBypassesRefused();
  });

  async function assertBypassesRefused(): Promise<void> {
    const rows: string[] = [];
    for (const form of bypassForms(site.hub.path)) {
      const r = await rawGet(host, ca, site.httpsPort, form);
      rows.push(`${r.status} ${form}`);
      // Apache refuses any encoded slash outright (AllowEncodedSlashes Off): 404 before auth.
      const expected = proxy === "apache" && /%2f/i.test(form) ? 404 : 401;
      assert.equal(r.status, expected, `${form} answered ${r.status}: ${r.body.slice(0, 200)}`);
      assert.doesNotMatch(r.body, /_xsrf|jupyterhub/i, `${form}: the hub's content leaked`);
    }
    console.log(`# bypass attempts via ${proxy} at ${site.hub.path} (port ${site.httpsPort}):\n#   ${rows.join("\n#   ")}`);
  }

  test(`split auth ${tag}: a real browser (chromium): Basic credentials → login form → JupyterLab → print(6*7) → 42 → reload reconnects`, async () => {
    const shot = path.join(artifactsDir, `${proxy}-${suite}-executed-cell.png`);
    const r = await runLabInBrowser({
      baseUrl: base(), hostAddr: host.addr, leafCertPem: ca.material[0].fullchainPem,
      basicAuth: { username: "workshop", password: passwords.workshop }, hubUser: host.hubUser, hubPassword: host.hubPassword,
      screenshotPath: shot, log: (l) => console.log(`# ${l}`),
    });
    assert.equal(r.challenges.length, 1, "exactly one password prompt, for the hub's login page");
    assert.equal(r.challenges[0].realm, REALM);
    assert.equal(r.output, "42");
    assert.equal(r.outputAfterReload, "42");
    assert.ok(fs.statSync(shot).size > 5_000, "screenshot written");
    console.log(`# browser (${r.chromiumVersion}): challenge ${r.challenges[0].url}; output ${r.output}; after reload ${r.outputAfterReload}; screenshot ${path.relative(repo, shot)}`);
  });

  test(`split auth ${tag}: a second apply changes nothing`, () => {
    const before = fingerprint(host);
    apply(steps);
    assert.equal(fingerprintDiff(before, fingerprint(host)), "");
  });

  test(`split auth ${tag}: a new password and a new user rewrite the file in place and reload; the old password stops working`, async () => {
    const old = passwords.workshop;
    passwords.workshop = randomPassword();
    passwords.helper = randomPassword();
    const next = plan({}, { allowFrom: site.splitAuth!.allowFrom });
    const changed = changedSteps(next.steps);
    assert.deepEqual(changed.map((s) => s.name), ["split-auth-users"], "only the user file changes");
    const r = runStep(host, changed[0], "apply");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /nginx config tested and reloaded|apache2 config tested and reloaded/);
    assert.equal(ssh(host, "stat -c '%a %U %G' /etc/jupyterhub-edge/htpasswd").stdout.trim(), "640 root www-data");
    assert.equal((await get(`${base()}hub/login`, { Authorization: basic("workshop", old) })).status, 401, "old password refused");
    for (const user of ["workshop", "helper"]) {
      assert.equal((await get(`${base()}hub/login`, { Authorization: basic(user, passwords[user]) })).status, 200, user);
    }
    ({ site, steps } = next);
  });

  test(`split auth ${tag}: under /jhub/ on port 8443 without allowFrom: the source now needs the password; no trick passes; the kernel runs`, async () => {
    const next = plan({ hubPath: "/jhub/", httpsPort: 8443 }, {});
    apply(changedSteps(next.steps));
    ({ site, steps } = next);
    assert.equal(fromSource(4, "/jhub/hub/login").status, 401, "no longer allow-listed");
    const ok = await get(`${base()}hub/login`, { Authorization: basic("workshop", passwords.workshop) });
    assert.equal(ok.status, 200);
    const none = await get(`${base()}hub/login`);
    assert.equal(none.status, 401);
    assert.match(String(none.headers["strict-transport-security"]), /^max-age=/);
    await assertBypassesRefused();
    const r = await probe();
    assert.match(r.output, /42/);
    console.log(`# kernel probe at /jhub/ on 8443: ${r.output.trim()} in ${r.totalMs} ms`);
  });

  test(`split auth ${tag}: turning it off removes the file and the directives`, async () => {
    const next = plan({ hubPath: "/jhub/", httpsPort: 8443 }, null);
    const gone = steps.filter((s) => !next.steps.some((n) => n.name === s.name));
    assert.deepEqual(gone.map((s) => s.name), ["split-auth-users"]);
    // As `pulumi up` does: changed steps first, then the deleted step's undo.
    apply(changedSteps(next.steps));
    undo(gone);
    ({ site, steps } = next);
    assert.equal(ssh(host, "test -e /etc/jupyterhub-edge/htpasswd && echo present || echo absent").stdout.trim(), "absent");
    assert.equal(ssh(host, "grep -rlE 'auth_basic|AuthUserFile|jhe_hub_api_raw' /etc/nginx/conf.d /etc/nginx/sites-enabled /etc/apache2/sites-enabled 2>/dev/null || true").stdout.trim(), "");
    assert.equal((await get(`${base()}hub/login`)).status, 200, "the login page is open again");
  });

  test(`split auth ${tag}: undo (destroy) of a site with split auth on leaves the host as it was found`, () => {
    const next = plan({}, { allowFrom: [] });
    apply(changedSteps(next.steps));
    steps = next.steps;
    assert.equal(ssh(host, "stat -c '%a %G' /etc/jupyterhub-edge/htpasswd").stdout.trim(), "640 www-data");
    undo(steps);
    const diff = fingerprintDiff(asFound, fingerprint(host));
    assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
  });
}

/** A hub API token the way a user makes one: log in (through the password), then the token API. */
async function hubToken(baseUrl: string, host: SandboxHost, ca: TestCa, workshopPassword: string): Promise<string> {
  const jar = new CookieJar();
  const o = { connectTo: { host: host.addr }, ca: ca.caPem, jar, timeoutMs: 15_000 };
  const auth = { Authorization: basic("workshop", workshopPassword) };
  const loginUrl = new URL("hub/login", baseUrl);
  const page = await httpRequest(loginUrl, { ...o, headers: auth });
  const hidden = /<input[^>]*name=["']_xsrf["'][^>]*>/i.exec(page.body)?.[0];
  const xsrf = (hidden && /value=["']([^"']*)["']/i.exec(hidden)?.[1]) || jar.get("_xsrf", loginUrl);
  assert.ok(xsrf, "login form has an _xsrf");
  const body = new URLSearchParams({ _xsrf: xsrf!, username: host.hubUser, password: host.hubPassword }).toString();
  const login = await httpRequest(loginUrl, { ...o, method: "POST", body, headers: { ...auth, "Content-Type": "application/x-www-form-urlencoded", Origin: new URL(baseUrl).origin } });
  assert.ok([302, 303].includes(login.status), `login answered ${login.status}`);
  const home = new URL("hub/home", baseUrl);
  await httpRequest(home, { ...o, headers: auth });
  const apiXsrf = jar.get("_xsrf", new URL("hub/api/", baseUrl));
  const r = await httpRequest(new URL(`hub/api/users/${host.hubUser}/tokens`, baseUrl), {
    ...o, method: "POST", body: JSON.stringify({ note: "split-auth host test", expires_in: 600 }),
    headers: { "Content-Type": "application/json", "X-XSRFToken": apiXsrf ?? "", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin", Origin: new URL(baseUrl).origin, Referer: home.href },
  });
  assert.equal(r.status, 201, `token API answered ${r.status}: ${r.body.slice(0, 200)}`);
  return JSON.parse(r.body).token as string;
}
