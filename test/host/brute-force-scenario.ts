/**
 * Host tier, brute-force protection (issue 21): the plan's steps on a fresh sandbox host with split
 * auth and expectedParticipants 300, then at the same time
 *   - an attacker (source namespace, slot 0): 1,000 wrong passwords on the hub's login form, as fast
 *     as one client can; waits out the ban; then 1,000 wrong Basic credentials;
 *   - a classroom behind ONE address (slot 1): 300 participants logging in within 50 s, a tenth of
 *     them mistyping once or twice first;
 *   - an allow-listed source (this machine's address, in splitAuth.allowFrom): 150 wrong passwords
 *     on the login form.
 * The attacker is banned (fail2ban, nftables on the host) and every later request refused until
 * the ban ends; the classroom is never refused; the allow-listed source is never limited nor banned.
 * Before the jail is applied, the rate limit alone (nginx limit_req; Apache mod_qos where the
 * platform has it), from a third source (slot 2): burst + 100 wrong login passwords at once — the
 * burst reaches the hub, the rest get 429 with the limit's short answer — and, on Apache with split
 * auth, burst + 50 wrong Basic credentials one after the other: the burst refused with 401, then 429.
 * Undo takes fail2ban (installed here), the jail, its nftables table and the limit zone away: the
 * host is as found.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as path from "path";
import { parseConfig } from "../../config/schema";
import { ProxyKind, SiteSpec } from "../../model/site";
import { PlatformId } from "../../model/platforms";
import { Step, certificatePayload, planSteps } from "../../steps/plan";
import { HtpasswdEntry, htpasswdPayload } from "../../render/split-auth";
import { JAIL_NAME } from "../../render/brute-force";
import { bcryptWithSalt, generatedHash } from "../../components/split-auth";
import { TestCa, makeTestCa } from "../support/test-ca";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, runStep, ssh } from "../support/sandbox";
import { AttackResult, BurstResult, ClassroomResult, StormOptions, runStorm } from "../support/login-storm";

const HUB = "hub.bf.test";
const repo = path.join(__dirname, "..", "..");
const PARTICIPANTS = 300;
const BAN_TIME = 30;

interface Source { netns: string; addr4: string; target4: string }

function addSource(host: SandboxHost, slot: number): Source {
  const r = spawnSync("bash", [path.join(repo, "scripts/sandbox/source-ns.sh"), "add", host.name, String(slot)], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const env = Object.fromEntries([...r.stdout.matchAll(/^([A-Z0-9_]+)='(.*)'$/gm)].map((m) => [m[1], m[2]]));
  return { netns: env.SOURCE_NETNS, addr4: env.SOURCE_ADDR4, target4: env.TARGET_ADDR4 };
}

/** Runs login-storm.ts inside a source namespace; its JSON result. */
function stormIn(netns: string, o: StormOptions): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const { spawn } = require("child_process") as typeof import("child_process");
    // Options (passwords) on stdin, not in the command line other users of the machine can read.
    const child = spawn("ip", ["netns", "exec", netns, process.execPath, "--import", "tsx", path.join(repo, "test/support/login-storm.ts")], { cwd: repo });
    child.stdin.end(JSON.stringify(o));
    let out = "", err = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (err += c));
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").pop()!)) : reject(new Error(`login-storm in ${netns} failed (${code}): ${err.slice(-2000)}`))));
  });
}

export interface BruteForceScenarioOptions {
  suite: "trixie" | "bookworm";
  platform: PlatformId;
  proxy: ProxyKind;
}

export function bruteForceScenario({ suite, platform, proxy }: BruteForceScenarioOptions): void {
  const hostName = `bf-${proxy}`;
  const tag = `${proxy}/${suite}`;
  let host: SandboxHost;
  let ca: TestCa;
  let attacker: Source, room: Source, prober: Source;
  let asFound: string;
  let site: SiteSpec;
  let steps: Step[];
  const passwords: Record<string, string> = { workshop: crypto.randomBytes(18).toString("base64url"), tutor: crypto.randomBytes(18).toString("base64url") };
  // workshop: given in config (bcrypt); tutor: generated ({SHA}, what the class uses here).
  const hashes = (): HtpasswdEntry[] => [
    { user: "workshop", hash: bcryptWithSalt(passwords.workshop, crypto.randomBytes(16).toString("hex")) },
    { user: "tutor", hash: generatedHash(passwords.tutor) },
  ];
  const storm = (connect: string, extra: Partial<StormOptions>): StormOptions => ({
    mode: "classroom", connect, servername: HUB, port: 443, base: "/", caPem: ca.caPem, hubUser: host.hubUser, hubPassword: host.hubPassword, ...extra,
  });

  before(() => {
    const t0 = Date.now();
    host = createHost(hostName, suite);
    ca = makeTestCa([HUB]);
    attacker = addSource(host, 0);
    room = addSource(host, 1);
    prober = addSource(host, 2);
    asFound = fingerprint(host);
    ({ site } = parseConfig({
      proxy, platform, host: host.addr, sshPrivateKeyFile: host.sshKey, hostKey: host.hostKey, hubDomain: HUB,
      expectedParticipants: PARTICIPANTS, banTime: BAN_TIME, trustedSources: ["192.0.2.0/24"],
      splitAuth: { users: [{ name: "workshop", passwordGiven: true }, { name: "tutor", passwordGiven: false }], allowFrom: [host.machineAddr] },
    }));
    steps = planSteps<string>(site, certificatePayload(site, ca.material), htpasswdPayload(site, hashes()));
    console.log(`# host ${host.name} (${suite}) at ${host.addr}; attacker ${attacker.addr4}, classroom ${room.addr4}, allow-listed ${host.machineAddr}; in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
  after(() => {
    for (const slot of ["0", "1", "2"]) spawnSync("bash", [path.join(repo, "scripts/sandbox/source-ns.sh"), "remove", host?.name ?? `${process.env.JHE_HOST_PREFIX ?? ""}${hostName}`, slot]);
    if (host && process.env.JHE_KEEP_HOSTS !== "1") removeHost(hostName);
  });

  // The login limit as rendered for this site: nginx always; Apache where the platform has mod_qos.
  const limited = () => site.proxy === "nginx" || site.platform.apache.loginRateLimit.kind === "mod_qos";

  test(`brute force ${tag}: every step but the jail applies`, () => {
    const t0 = Date.now();
    for (const step of steps.filter((st) => st.name !== "fail2ban-jail")) {
      const r = runStep(host, step, "apply");
      assert.equal(r.status, 0, `step ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
    }
    console.log(`# applied ${steps.length - 1} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (site.proxy === "apache") {
      const qos = ssh(host, "apache2ctl -M 2>/dev/null | grep -c qos_module || true").stdout.trim();
      assert.equal(qos, limited() ? "1" : "0", "mod_qos loaded exactly when the platform has the limit");
    }
  });

  test(`brute force ${tag}: the login rate limit alone refuses with 429 beyond the burst (no jail yet)`, { skip: false }, async (t) => {
    if (!limited()) return t.skip(`no login rate limit on ${site.platform.id}: ${site.platform.apache.loginRateLimit.kind === "none" ? site.platform.apache.loginRateLimit.reason : ""}`);
    const { burst, windowSeconds, ratePerSecond, immediate } = site.bruteForce!.loginLimit;
    const basicForRoom = { user: "tutor", password: passwords.tutor };
    const n = burst + 100;
    const b = (await stormIn(prober.netns, storm(prober.target4, { mode: "burst-login", attempts: n, basic: basicForRoom, requestTimeoutMs: 120_000 }))) as BurstResult;
    console.log(`# ${tag} limit alone (${site.proxy === "nginx" ? `limit_req ${ratePerSecond} r/s, ${immediate} at once, burst ${burst}` : `mod_qos ${burst} per ${windowSeconds} s`}): ${n} wrong login passwords at once from ${prober.addr4}: ${JSON.stringify(b.answered)} ${JSON.stringify(b.errors)} in ${b.seconds.toFixed(1)} s (slowest ${b.slowestMs} ms); 429 body: ${JSON.stringify(b.body429.trim().slice(0, 120))}`);
    const reached = b.answered[403] ?? 0, refused = b.answered[429] ?? 0;
    assert.deepEqual(b.errors, {}, "every attempt got an answer");
    assert.equal(reached + refused, n, `only 403 and 429 expected: ${JSON.stringify(b.answered)}`);
    // nginx drains its bucket at the steady rate while the burst arrives, so a few more get in.
    assert.ok(reached >= burst && reached <= burst + (site.proxy === "nginx" ? Math.ceil(ratePerSecond * b.seconds) + 2 : 0), `${reached} reached the hub (burst ${burst})`);
    assert.ok(refused > 0, "nothing refused beyond the burst");
    assert.ok(b.body429.length < 400, `the 429 body is short: ${b.body429.length} bytes`);
    if (site.proxy === "apache") assert.match(b.body429, /Too many login attempts/);
    if (site.proxy === "apache" && site.splitAuth) {
      const m = burst + 50;
      const basic = (await stormIn(prober.netns, storm(prober.target4, { mode: "attack-basic", attempts: m, basic: { user: "tutor", password: "" } }))) as AttackResult;
      console.log(`# ${tag} limit alone: ${m} wrong Basic credentials one after another from ${prober.addr4}: ${JSON.stringify(basic.answered)} ${JSON.stringify(basic.refused)} in ${basic.seconds.toFixed(1)} s`);
      assert.equal(basic.answered[401], burst, `${basic.answered[401]} refused by the password check (burst ${burst})`);
      assert.equal(basic.answered[429], m - burst);
      // The source's page loads without credentials are still served (only Basic requests and login POSTs are limited).
      const page = (await stormIn(prober.netns, storm(prober.target4, { mode: "wait-unban", maxSeconds: 5 }))) as { answered: boolean };
      assert.ok(page.answered);
    }
  });

  test(`brute force ${tag}: the jail applies; fail2ban runs it on the proxy's log, never banning allowFrom or trustedSources`, () => {
    const jail = steps.find((st) => st.name === "fail2ban-jail")!;
    const r = runStep(host, jail, "apply");
    assert.equal(r.status, 0, `step ${jail.name} failed:\n${r.stdout}\n${r.stderr}`);
    const status = ssh(host, `fail2ban-client status ${JAIL_NAME}`);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`File list:\\s+${site.proxy === "nginx" ? "/var/log/nginx/access.log" : "/var/log/apache2/access.log"}`));
    const ignore = ssh(host, `fail2ban-client get ${JAIL_NAME} ignoreip`).stdout;
    for (const cidr of [host.machineAddr, "192.0.2.0/24"]) assert.ok(ignore.includes(cidr), `ignoreip lacks ${cidr}: ${ignore}`);
    const bf = site.bruteForce!;
    console.log(`# ${site.proxy === "nginx" ? `login limit ${bf.loginLimit.ratePerSecond} r/s, ${bf.loginLimit.immediate} at once, burst ${bf.loginLimit.burst}` : limited() ? `login and Basic-failure limit (mod_qos) ${bf.loginLimit.burst} per ${bf.loginLimit.windowSeconds} s` : "no login limit (Apache: fail2ban only)"}; ban after ${bf.ban.retries} failures in ${bf.ban.findTimeSeconds} s for ${bf.ban.banTimeSeconds} s`);
  });

  test(`brute force ${tag}: an attacker is banned and refused until the ban ends; a classroom behind one address is never refused; allowFrom is never banned`, async () => {
    const retries = site.bruteForce!.ban.retries;
    const basicForRoom = { user: "tutor", password: passwords.tutor };
    const classroom = stormIn(room.netns, storm(room.target4, { mode: "classroom", participants: PARTICIPANTS, windowSeconds: 50, mistypeShare: 0.1, basic: basicForRoom })) as Promise<ClassroomResult>;
    const attack = (async () => {
      const login = (await stormIn(attacker.netns, storm(attacker.target4, { mode: "attack-login", attempts: 1000, basic: basicForRoom }))) as AttackResult;
      const unban = (await stormIn(attacker.netns, storm(attacker.target4, { mode: "wait-unban", maxSeconds: BAN_TIME + 60 }))) as { seconds: number; answered: boolean };
      const basicAttack = (await stormIn(attacker.netns, storm(attacker.target4, { mode: "attack-basic", attempts: 1000, basic: { user: "workshop", password: "" } }))) as AttackResult;
      return { login, unban, basicAttack };
    })();
    // Allow-listed: no Basic credentials needed, wrong hub passwords all the same.
    await new Promise((r) => setTimeout(r, 2000));
    const trusted = (await runStorm(storm(host.addr, { mode: "attack-login", attempts: 150 }))) as AttackResult;
    const [room300, { login, unban, basicAttack }] = await Promise.all([classroom, attack]);
    const f2bLog = ssh(host, "grep -E ' (Ban|Unban|Found) ' /var/log/fail2ban.log | grep -F '[jupyterhub-edge]' || true").stdout;
    const bans = (addr: string) => f2bLog.split("\n").filter((l) => / Ban /.test(l) && l.includes(` ${addr}`)).length;

    console.log(`# ${tag}: expectedParticipants ${PARTICIPANTS}, banRetries ${retries} (derived), banTime ${BAN_TIME} s`);
    console.log("# | traffic | attempts | let through | banned after | refused after ban | legit refused |");
    console.log("# |---|---|---|---|---|---|");
    console.log(`# | attacker: wrong login passwords | ${login.attempts} | ${login.letThrough} (${JSON.stringify(login.answered)}) | attempt ${login.bannedAt} (${login.seconds.toFixed(1)} s in all) | ${login.attempts - login.bannedAt + 1 - login.answeredAfterBan} of ${login.attempts - login.bannedAt + 1} (${JSON.stringify(login.refused)}) | – |`);
    console.log(`# | attacker: wrong Basic credentials | ${basicAttack.attempts} | ${basicAttack.letThrough} (${JSON.stringify(basicAttack.answered)}) | attempt ${basicAttack.bannedAt} | ${basicAttack.attempts - basicAttack.bannedAt + 1 - basicAttack.answeredAfterBan} of ${basicAttack.attempts - basicAttack.bannedAt + 1} | – |`);
    console.log(`# | classroom, one address: ${room300.participants} logins in ${room300.seconds.toFixed(1)} s, ${room300.mistypes} mistypes | ${room300.participants + room300.mistypes} | ${room300.loggedIn} logged in | never (${bans(room.addr4)} bans) | – | ${room300.refused} ${JSON.stringify(room300.refusals)}; 429s ${room300.limited}; slowest login ${room300.slowestLoginMs} ms |`);
    console.log(`# | allowFrom source: wrong login passwords | ${trusted.attempts} | ${trusted.letThrough} (${JSON.stringify(trusted.answered)}) | never (${bans(host.machineAddr)} bans) | – | – |`);
    console.log(`# ban ended ${unban.seconds.toFixed(1)} s after the login attack finished (banTime ${BAN_TIME} s)`);

    // The attacker: banned, and after the first refusal nothing got through until the ban ended.
    assert.ok(login.bannedAt > 0, `the login attacker was never banned: ${JSON.stringify(login)}`);
    assert.equal(login.answeredAfterBan, 0, "a request got through after the ban");
    assert.ok(login.bannedAt <= 2 * retries + 60, `banned only after ${login.bannedAt} attempts (retries ${retries})`);
    assert.ok(unban.answered && unban.seconds <= BAN_TIME + 15, `the ban did not end after about ${BAN_TIME} s: ${JSON.stringify(unban)}`);
    assert.ok(basicAttack.bannedAt > 0, `the Basic attacker was never banned: ${JSON.stringify(basicAttack)}`);
    assert.equal(basicAttack.answeredAfterBan, 0, "a Basic attempt got through after the ban");
    assert.ok(bans(attacker.addr4) >= 2, `fail2ban's log shows ${bans(attacker.addr4)} bans of the attacker`);
    // The classroom: every participant logged in; the room's address never banned.
    assert.equal(room300.refused, 0, `classroom refusals: ${JSON.stringify(room300.refusals)}`);
    assert.equal(room300.loggedIn, PARTICIPANTS);
    assert.equal(bans(room.addr4), 0, "the classroom's address was banned");
    // The allow-listed source: every wrong password answered by the hub (403), never limited or banned.
    assert.equal(trusted.bannedAt, 0);
    assert.deepEqual(trusted.answered, { 403: trusted.attempts });
    assert.equal(bans(host.machineAddr), 0);
  });

  test(`brute force ${tag}: undo removes the jail and its nftables table, fail2ban and the limit zone: the host is as found`, () => {
    const jail = steps.find((s) => s.name === "fail2ban-jail")!;
    const r = runStep(host, jail, "undo");
    assert.equal(r.status, 0, r.stderr);
    const rules = ssh(host, "nft list ruleset");
    assert.equal(rules.status, 0, rules.stderr);
    assert.doesNotMatch(rules.stdout, /f2b|jupyterhub-edge/, `fail2ban's table is still there:\n${rules.stdout}`);
    for (const step of [...steps].reverse()) {
      if (step === jail) continue;
      const u = runStep(host, step, "undo");
      assert.equal(u.status, 0, `undo of ${step.name} failed:\n${u.stdout}\n${u.stderr}`);
    }
    assert.equal(ssh(host, "command -v fail2ban-server nft nginx apache2 || true").stdout.trim(), "", "packages left behind");
    assert.equal(ssh(host, "dpkg-query -W -f='${db:Status-Status}' libapache2-mod-qos 2>/dev/null || true").stdout.trim().replace(/^not-installed$/, ""), "", "mod_qos left behind");
    const now = fingerprint(host);
    assert.equal(now, asFound, `host differs from as found:\n${fingerprintDiff(asFound, now)}`);
  });
}
