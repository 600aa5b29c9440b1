/**
 * Host tier, split auth: the plan's steps on a fresh sandbox host, probed from outside — from this
 * machine (not allow-listed) and from a second network namespace whose addresses are in allowFrom
 * (scripts/sandbox/source-ns.sh). The hub's pages ask for a password, JupyterLab, the kernel
 * websocket and the hub API do not, no path trick gets past (nor any of several hundred generated
 * spellings over HTTP/1.1 and HTTP/2, judged by what each answer is), a real browser gets from the password
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
import { bcryptWithSalt, generatedHash } from "../../components/split-auth";
import { TestCa, makeTestCa } from "../support/test-ca";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, runStep, ssh } from "../support/sandbox";
import { CookieJar, httpRequest, httpsGet, probeHubKernel } from "../support/hub-probe";
import { runLabInBrowser } from "../support/lab-browser";
import { Endpoint, H2Client, cookieHeader, h1Raw, hasBackslash, hubPageKind, loginEvidence, pathSpellings, sweepSpellings } from "../support/path-spellings";

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
  // As the program hashes them: the given password bcrypt, the generated one {SHA}.
  const hashes = (): HtpasswdEntry[] =>
    Object.entries(passwords).map(([user, pw]) => ({
      user,
      hash: user === "workshop" ? bcryptWithSalt(pw, (salts[user] ??= crypto.randomBytes(16).toString("hex"))) : generatedHash(pw),
    }));

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

  test(`split auth ${tag}: every step applies; the htpasswd file is bcrypt (given) / {SHA} (generated), root:www-data 0640, outside any web root`, () => {
    const t0 = Date.now();
    const lines = apply(steps);
    console.log(`# applied ${steps.length} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s:\n#   ${lines.join("\n#   ")}`);
    assert.equal(ssh(host, "stat -c '%a %U %G' /etc/jupyterhub-edge/htpasswd").stdout.trim(), "640 root www-data");
    const file = ssh(host, "cat /etc/jupyterhub-edge/htpasswd").stdout;
    assert.match(file, /^workshop:\$2y\$10\$[./A-Za-z0-9]{53}\ntutor:\{SHA\}[A-Za-z0-9+/]{27}=\n$/);
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
    // The generated password's {SHA} line refuses a wrong password too (the proxy verifies it itself).
    assert.equal((await get(`${base()}hub/login`, { Authorization: basic("tutor", "wrong-password") })).status, 401);
    assert.equal((await get(`${base()}hub/login`, { Authorization: basic("tutor", passwords.tutor.slice(0, -1)) })).status, 401);
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

  test(`split auth ${tag}: generated path spellings over HTTP/1.1 and HTTP/2: none gets a hub page or a login session without the password; the API and the user's server stay open`, async (t) => {
    const b = site.hub.path;
    const e: Endpoint = { addr: host.addr, port: site.httpsPort, hostName: HUB, ca: ca.caPem };
    const h2 = new H2Client(e);
    const auth = basic("workshop", passwords.workshop);
    try {
      // The judge can fail: with credentials the login form IS served, and is recognised, on both protocols.
      const form = await h1Raw(e, { target: `${b}hub/login`, headers: { Authorization: auth } });
      assert.equal(hubPageKind(form.body, b), "login form", `with credentials: ${form.status} ${form.body.slice(0, 200)}`);
      const form2 = await h2.request({ target: `${b}hub/login`, headers: { authorization: auth } });
      assert.equal(hubPageKind(form2.body, b), "login form", `HTTP/2 with credentials: ${form2.status}`);
      // The API stays open: JSON without any credentials, on both protocols.
      for (const r of [await h1Raw(e, { target: `${b}hub/api/` }), await h2.request({ target: `${b}hub/api/` })]) {
        assert.equal(r.status, 200, r.body.slice(0, 200));
        assert.ok(JSON.parse(r.body).version, "the hub API's version document");
      }
      // Every byte of a plain API path passes the raw check (x, 5 and C included: the letters of the
      // backslash's `\x5C`); the hub itself answers, with JSON.
      const plain = await h1Raw(e, { target: `${b}hub/api/users/xC5-nobody.v2_~` });
      assert.equal(plain.headers["www-authenticate"], undefined, `no password asked on a plain API path: ${plain.status}`);
      assert.ok([403, 404].includes(plain.status) && JSON.parse(plain.body), `the hub's JSON answer: ${plain.status} ${plain.body.slice(0, 200)}`);
      // A login POST without Basic credentials carries what the hub checks (the form's _xsrf and its
      // cookies); the same POST with credentials at the plain path does log in (that judge can fail too).
      const xsrf = /<input[^>]*name="_xsrf"[^>]*value="([^"]*)"/.exec(form.body)?.[1] ?? /<input[^>]*value="([^"]*)"[^>]*name="_xsrf"/.exec(form.body)?.[1];
      assert.ok(xsrf, "the login form holds an _xsrf");
      const login = {
        headers: { Cookie: cookieHeader(form), "Content-Type": "application/x-www-form-urlencoded", Origin: `https://${e.port === 443 ? HUB : `${HUB}:${e.port}`}` },
        body: new URLSearchParams({ _xsrf: xsrf!.replace(/&amp;/g, "&"), username: host.hubUser, password: host.hubPassword }).toString(),
      };
      const loggedIn = await h1Raw(e, { method: "POST", target: `${b}hub/login`, headers: { ...login.headers, Authorization: auth }, body: login.body });
      assert.ok(loginEvidence(loggedIn, b), `a login with credentials: ${loggedIn.status} ${JSON.stringify(loggedIn.headers)}`);

      const user = await userServerControls(e, h2);
      try {
        const spellings = pathSpellings({ base: b, user: host.hubUser });
        const r = await sweepSpellings(e, h2, { base: b, spellings, login, authorization: auth });
        const backslash = spellings.filter((s) => hasBackslash(s.path)).length;
        const sent = Object.entries(r.requests).map(([k, n]) => `${k} ${n}`).join(", ");
        t.diagnostic(`${proxy}: spellings ${spellings.length} (${backslash} with a backslash), bypasses ${r.bypasses.length}`);
        t.diagnostic(`${proxy}: requests ${sent}; redirects followed ${r.followed}; no answer ${r.errors.length}; ${(r.ms / 1000).toFixed(1)} s`);
        const viaBackslash = r.formWithCredentials.filter((s) => hasBackslash(s.path)).length;
        t.diagnostic(`${proxy}: with Basic credentials, ${r.formWithCredentials.length} spellings besides ${b}hub/login serve the login form (${viaBackslash} of them with a backslash): the password is what stops them`);
        for (const line of user) t.diagnostic(`${proxy}: ${line}`);
        if (r.errors.length) t.diagnostic(`${proxy}: no answer (first 5): ${r.errors.slice(0, 5).map((f) => `${f.channel} ${JSON.stringify(f.path)}: ${f.what}`).join("; ")}`);
        const report = path.join(artifactsDir, `${proxy}-${suite}-path-spellings.txt`);
        fs.mkdirSync(artifactsDir, { recursive: true });
        r.bypasses.sort((x, y) => x.path.localeCompare(y.path) || x.channel.localeCompare(y.channel));
        fs.writeFileSync(report, [`# ${tag} at ${b} (port ${e.port}): spellings ${spellings.length}, requests ${sent}, bypasses ${r.bypasses.length}, no answer ${r.errors.length}, login form with credentials ${r.formWithCredentials.length}`,
          ...r.bypasses.map((f) => `bypass\t${f.channel}\t${JSON.stringify(f.path)}\t${f.family}\t${f.what}`),
          ...r.errors.map((f) => `no answer\t${f.channel}\t${JSON.stringify(f.path)}\t${f.family}\t${f.what}`),
          ...r.formWithCredentials.map((s) => `login form with credentials\t${JSON.stringify(s.path)}\t${s.family}`),
          ...spellings.map((s) => `spelling\t${JSON.stringify(s.path)}\t${s.family}`)].join("\n") + "\n");
        const byChannel = Object.keys(r.requests).map((c) => `${c} ${r.bypasses.filter((f) => f.channel === c).length}`).join(", ");
        assert.equal(r.bypasses.length, 0,
          `${r.bypasses.length} bypasses (${byChannel}; all in ${path.relative(repo, report)}):\n${r.bypasses.slice(0, 60).map((f) => `  ${f.channel} ${JSON.stringify(f.path)} [${f.family}]: ${f.what}`).join("\n")}`);
        assert.ok(r.formWithCredentials.length > 0, "some spellings mean the login page to the hub (the set is not refused for another reason)");
      } finally {
        await stopUserServer();
      }
    } finally {
      h2.close();
    }
  });

  /** The hub's session of a user with a running server (Basic credentials only for hub pages). */
  let userSession: { jar: CookieJar; hubXsrf: string } | undefined;
  const isHubPage = (u: URL) => u.pathname.startsWith(`${site.hub.path}hub/`) && !u.pathname.startsWith(`${site.hub.path}hub/api/`);
  const go = (url: URL, jar: CookieJar, init: { method?: string; body?: string; headers?: Record<string, string> } = {}) =>
    httpRequest(url, { connectTo: { host: host.addr }, ca: ca.caPem, jar, timeoutMs: 20_000, method: init.method, body: init.body,
      headers: { ...(isHubPage(url) ? { Authorization: basic("workshop", passwords.workshop) } : {}), ...init.headers } });
  const apiHeaders = (xsrf: string, referer: URL): Record<string, string> => ({
    "X-XSRFToken": xsrf, Origin: new URL(base()).origin, Referer: referer.href, "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json",
  });

  /**
   * Positive controls on the user's server, without Basic credentials: log in properly, start the
   * server, open JupyterLab (its OAuth hops go through `hub/api/`), then a file with a space in its
   * name (written, read back over HTTP/1.1 and HTTP/2, checkpointed) and a dot directory
   * (`.ipynb_checkpoints`) answered by Jupyter Server, not by the proxy's password check.
   */
  async function userServerControls(e: Endpoint, h2: H2Client): Promise<string[]> {
    const jar = new CookieJar();
    const name = host.hubUser;
    const u = (rel: string) => new URL(rel, base());
    const page = await go(u("hub/login"), jar);
    const xsrf = /<input[^>]*name=["']_xsrf["'][^>]*value=["']([^"']*)["']/i.exec(page.body)?.[1] ?? jar.get("_xsrf", u("hub/login"));
    const login = await go(u("hub/login"), jar, { method: "POST", body: new URLSearchParams({ _xsrf: xsrf ?? "", username: name, password: host.hubPassword }).toString(),
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: new URL(base()).origin } });
    assert.ok([302, 303].includes(login.status), `login answered ${login.status}`);
    await go(u("hub/home"), jar);
    const hubXsrf = jar.get("_xsrf", u("hub/api/"));
    assert.ok(hubXsrf, "an _xsrf for the hub API");
    userSession = { jar, hubXsrf: hubXsrf! };
    const start = await go(u(`hub/api/users/${name}/server`), jar, { method: "POST", body: "{}", headers: apiHeaders(hubXsrf!, u("hub/home")) });
    assert.ok([201, 202].includes(start.status) || /already running/.test(start.body), `start: ${start.status} ${start.body.slice(0, 200)}`);
    for (let i = 0; ; i++) {
      const m = JSON.parse((await go(u(`hub/api/users/${name}`), jar, { headers: apiHeaders(hubXsrf!, u("hub/home")) })).body);
      if (m.servers?.[""]?.ready) break;
      assert.ok(i < 90, "the user's server became ready within 90 s");
      await new Promise((r) => setTimeout(r, 1000));
    }
    let url = u(`user/${name}/lab`);
    let lab = await go(url, jar);
    for (let hop = 0; hop < 10 && [301, 302, 303, 307].includes(lab.status); hop++) {
      url = new URL(String(lab.headers.location), url);
      lab = await go(url, jar);
    }
    assert.equal(lab.status, 200, `JupyterLab at ${url.pathname}: ${lab.status}`);
    assert.ok(url.pathname.startsWith(`${site.hub.path}user/${name}/`), `landed on ${url.pathname}`);
    assert.equal(hubPageKind(lab.body, site.hub.path), undefined, "the judge does not take JupyterLab's page for a hub page");
    const userXsrf = jar.get("_xsrf", u(`user/${name}/api/contents`))!;
    const contents = `${site.hub.path}user/${name}/api/contents/`;
    const file = `${contents}split%20auth%20probe.txt`;
    const put = await go(u(file), jar, { method: "PUT", body: JSON.stringify({ type: "file", format: "text", content: "reached the user's server\n" }), headers: apiHeaders(userXsrf, url) });
    assert.ok([200, 201].includes(put.status), `PUT ${file}: ${put.status} ${put.body.slice(0, 200)}`);
    const checkpoint = await go(u(`${file}/checkpoints`), jar, { method: "POST", headers: apiHeaders(userXsrf, url) });
    assert.equal(checkpoint.status, 201, `checkpoint: ${checkpoint.status} ${checkpoint.body.slice(0, 200)}`);
    const cookie = jar.header(u(file))!;
    const lines: string[] = [];
    for (const [channel, get] of [["HTTP/1.1", (p: string) => h1Raw(e, { target: p, headers: { Cookie: cookie } })], ["HTTP/2", (p: string) => h2.request({ target: p, headers: { cookie } })]] as const) {
      const f = await get(file);
      assert.equal(f.status, 200, `${channel} ${file}: ${f.status} ${f.body.slice(0, 200)}`);
      assert.equal(JSON.parse(f.body).content, "reached the user's server\n");
      const dot = await get(`${contents}.ipynb_checkpoints`);
      assert.equal(dot.headers["www-authenticate"], undefined, `${channel}: no password asked for a dot directory`);
      // Jupyter Server hides dot files unless allow_hidden: its contents API answers 404 naming the path.
      assert.ok(dot.status === 200 ? JSON.parse(dot.body).name === ".ipynb_checkpoints" : dot.status === 404 && dot.body.includes("'/.ipynb_checkpoints' does not exist"),
        `${channel} .ipynb_checkpoints: Jupyter Server's answer, got ${dot.status} ${dot.body.slice(0, 200)}`);
      const list = await get(`${file}/checkpoints`);
      assert.equal(list.status, 200, `${channel} checkpoints: ${list.status}`);
      lines.push(`user's server without credentials over ${channel}: ${file} ${f.status}, ${contents}.ipynb_checkpoints ${dot.status} (Jupyter Server's ${dot.status === 200 ? "model" : "hidden-file answer"}), checkpoints ${list.status}`);
    }
    await go(u(file), jar, { method: "DELETE", headers: apiHeaders(userXsrf, url) });
    return lines;
  }

  async function stopUserServer(): Promise<void> {
    if (!userSession) return;
    const { jar, hubXsrf } = userSession;
    userSession = undefined;
    const u = (rel: string) => new URL(rel, base());
    const name = host.hubUser;
    await go(u(`hub/api/users/${name}/server`), jar, { method: "DELETE", headers: apiHeaders(hubXsrf, u("hub/home")) });
    for (let i = 0; i < 60; i++) {
      const m = JSON.parse((await go(u(`hub/api/users/${name}`), jar, { headers: apiHeaders(hubXsrf, u("hub/home")) })).body);
      if (!m.servers?.[""]) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
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
