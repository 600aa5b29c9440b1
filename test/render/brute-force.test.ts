/**
 * Render tier, brute-force protection (issue 21): the numbers derived from expectedParticipants,
 * nginx's login limit in every location that proxies to the hub (and nowhere when off), the fail2ban
 * jail and filter (golden files), and the steps that install and remove them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../config/schema";
import { renderNginx } from "../../render/nginx";
import { apacheModules, renderApache } from "../../render/apache";
import { renderFail2banFilter, renderFail2banJail } from "../../render/brute-force";
import { derivedBanRetries, loginBurst, loginImmediate, loginRatePerSecond, loginWindowSeconds } from "../../model/brute-force";
import { platforms } from "../../model/platforms";
import { certificatePayload, planSteps } from "../../steps/plan";
import { golden } from "../support/golden";
import { variants } from "./variants";

const site = (raw: Record<string, unknown>) => parseConfig(raw).site;

test("brute force: the numbers follow expectedParticipants (a class behind one address is never refused)", () => {
  for (const p of [1, 30, 300, 3000]) {
    const burst = loginBurst(p);
    assert.ok(burst >= p, `burst ${burst} holds all ${p} logging in at once`);
    assert.ok(loginImmediate(p) <= burst && loginImmediate(p) >= 10 || loginImmediate(p) === burst);
    assert.ok(loginRatePerSecond(p) * 30 >= p, "a class arriving over half a minute is never slowed");
    // A tenth of the class mistyping twice stays below the ban.
    assert.ok(derivedBanRetries(p) > Math.ceil(p / 10) * 2, `retries ${derivedBanRetries(p)} for ${p}`);
    // Apache's fixed window: the burst at most once per window, i.e. no more than the steady rate.
    assert.ok(loginBurst(p) / loginWindowSeconds(p) <= loginRatePerSecond(p), `window ${loginWindowSeconds(p)} s for ${p}`);
  }
  const s = site({ ...variants["debian13-default"], expectedParticipants: 300 });
  assert.deepEqual(s.bruteForce, {
    loginLimit: { ratePerSecond: 10, immediate: 30, burst: 375, windowSeconds: 38 },
    ban: { retries: 75, findTimeSeconds: 600, banTimeSeconds: 600 },
    neverBanned: [],
  });
  assert.equal(site({ ...variants["debian13-default"], banRetries: 5 }).bruteForce!.ban.retries, 5);
});

test("brute force: nginx limits login POSTs in every location that proxies to the hub; off, nothing", () => {
  for (const [name, raw] of Object.entries(variants)) {
    const s = site(raw);
    const text = renderNginx(s).https.content;
    const proxies = (text.match(/proxy_pass /g) ?? []).length;
    if (!s.bruteForce) {
      assert.doesNotMatch(text, /limit_req/, name);
      continue;
    }
    assert.equal((text.match(/^\s*limit_req zone=jhe_login /gm) ?? []).length, proxies, `${name}: one limit per hub location`);
    assert.match(text, new RegExp(`"~\\*\\^0:POST:${s.hub.path.replace(/\./g, "\\[\\.\\]")}hub/\\+login/\\*\\$" \\$binary_remote_addr;`), name);
    for (const c of s.bruteForce.neverBanned) assert.match(text, new RegExp(`^\\s*${c.replace(/[.]/g, "\\.")} 1;$`, "m"), `${name}: ${c} exempt`);
    assert.doesNotMatch(renderApache(parseConfig({ ...raw, proxy: "apache" }).site).https.content, /limit_req|jhe_login/, name);
  }
});

test("brute force: fail2ban jail and filter (golden files); allowFrom + trustedSources never banned", () => {
  for (const name of ["debian13-default", "debian12-bruteforce-tuned"]) {
    for (const proxy of ["nginx", "apache"] as const) {
      const s = site({ ...variants[name], proxy });
      golden(`fail2ban/${name}.${proxy}.jail.conf`, renderFail2banJail(s).content);
    }
  }
  const tuned = site(variants["debian12-bruteforce-tuned"]);
  golden("fail2ban/filter.conf", renderFail2banFilter(tuned).content);
  const jail = renderFail2banJail(tuned).content;
  assert.match(jail, /^ignoreip = 127\.0\.0\.0\/8 ::1 198\.51\.100\.7 192\.0\.2\.0\/24 203\.0\.113\.0\/24 2001:db8:7::\/48$/m);
  assert.match(jail, /^port = 80,8443$/m);
  assert.match(jail, /^maxretry = 40$/m);
  assert.match(renderFail2banJail(site({ ...variants["debian12-default"], proxy: "apache" })).content, /^logpath = \/var\/log\/apache2\/access\.log$/m);
});

test("brute force: the filter counts failed logins, refused logins and refused Basic credentials, never a browser's first 401", () => {
  const filter = renderFail2banFilter(site(variants["debian13-default"])).content;
  // fail2ban's <ADDR> and the time stamp cut out as fail2ban does; the rest is Python re syntax JS shares.
  const regexes = [...filter.matchAll(/^(?:failregex =|\s{12})\s*(\^<ADDR>.*)$/gm)].map((m) => new RegExp(m[1].replace("<ADDR>", "(?<addr>[0-9a-f.:]+)").replace(/\(\?!-\\s\)/, "(?!-\\s)")));
  assert.equal(regexes.length, 2);
  const counts = (line: string) => regexes.some((r) => r.test(line));
  const t = "[04/Dec/2026:04:00:58 +0000]";
  assert.ok(counts(`10.0.0.9 - tutor ${t} "GET /hub/login HTTP/1.1" 401 179 "-" "curl"`), "wrong Basic password");
  assert.ok(counts(`10.0.0.9 - - ${t} "POST /jhub/hub/login?next=%2Fjhub%2Fhub%2F HTTP/2.0" 403 2046 "-" "Mozilla"`), "wrong hub password");
  assert.ok(counts(`2001:db8::9 - tutor ${t} "POST /hub/login HTTP/1.1" 429 169 "-" "x"`), "refused by the rate limit");
  assert.ok(!counts(`10.0.0.9 - - ${t} "GET /hub/login HTTP/1.1" 401 179 "-" "Mozilla"`), "a browser's first request (no credentials) is no failure");
  assert.ok(!counts(`10.0.0.9 - tutor ${t} "POST /hub/login HTTP/1.1" 302 0 "-" "x"`), "a login");
  assert.ok(!counts(`10.0.0.9 - - ${t} "POST /hub/api/users/a/server HTTP/1.1" 429 0 "-" "x"`), "JupyterHub's own spawn limit is no failure");
  assert.ok(counts(`10.0.0.9 - - ${t} "POST /hub/./login HTTP/1.1" 403 10 "-" "x"`), "a dot segment the hub's proxy resolves");
  assert.ok(!counts(`10.0.0.9 - - ${t} "POST /user/learner/api/contents/login.ipynb HTTP/1.1" 403 10 "-" "x"`), "a 403 elsewhere is no failed login");
  assert.ok(!counts(`10.0.0.9 - - ${t} "POST /hub/loginx HTTP/1.1" 403 10 "-" "x"`), "another route");
});

test("brute force: steps install fail2ban and the jail after the vhosts; off, neither", () => {
  const s = site(variants["debian12-default"]);
  const steps = planSteps<string>(s, certificatePayload(s, [{ domain: "hub.example.org", fullchainPem: "x", privateKeyPem: "y" }]));
  const names = steps.map((x) => x.name);
  assert.ok(names.indexOf("fail2ban-jail") > names.indexOf("proxy-config"));
  const pkg = steps.find((x) => x.name === "fail2ban-packages")!;
  assert.match(String(pkg.payload), /^packages fail2ban python3-systemd nftables$/m);
  assert.match(String(steps.find((x) => x.name === "fail2ban-jail")!.payload), /^after fail2ban$/m);
  const off = site(variants["debian13-bruteforce-off"]);
  const offNames = planSteps<string>(off, certificatePayload(off, [{ domain: "hub.example.org", fullchainPem: "x", privateKeyPem: "y" }])).map((x) => x.name);
  assert.ok(!offNames.some((n) => n.startsWith("fail2ban")));
});

test("brute force: Apache limits login POSTs and refused Basic credentials with mod_qos where the platform has it, sized like nginx's burst", () => {
  const withQos = Object.values(platforms).filter((p) => p.apache.loginRateLimit.kind === "mod_qos").map((p) => p.id);
  assert.deepEqual(withQos, ["debian-13"], "only Debian 13's mod_qos was seen to load and limit");
  for (const [name, raw] of Object.entries(variants)) {
    const s = site({ ...raw, proxy: "apache" });
    const text = renderApache(s).https.content;
    const on = s.bruteForce !== undefined && s.platform.apache.loginRateLimit.kind === "mod_qos";
    if (!on) {
      assert.doesNotMatch(text, /QS_|mod_qos/, name);
      assert.ok(!apacheModules(s).includes("qos"), name);
      continue;
    }
    const { burst, windowSeconds } = s.bruteForce!.loginLimit;
    assert.ok(apacheModules(s).includes("qos"), name);
    // Counted on arrival: one more than the burst, so the burst itself reaches the hub.
    assert.match(text, new RegExp(`^QS_CondClientEventLimitCount ${burst + 1} ${windowSeconds} JHE_Login \\^login$`, "m"), name);
    assert.match(text, new RegExp(`^QS_CondClientEventLimitCount ${burst} ${windowSeconds} JHE_BasicFail basic\\$$`, "m"), name);
    assert.match(text, /^QS_ErrorResponseCode 429$/m, name);
    assert.match(text, /^\s*ErrorDocument 429 "Too many login attempts[^"]{0,100}"$/m, name);
    // Loopback, allowFrom and trustedSources exempt.
    for (const c of ["127.0.0.0/8", "::1", ...s.bruteForce!.neverBanned]) assert.ok(text.includes(`-R '${c}'`), `${name}: ${c} exempt`);
    assert.equal(/JHE_BasicFail=1/.test(text), s.splitAuth !== undefined, `${name}: Basic failures counted only with split auth`);
  }
  const s300 = site({ ...variants["debian13-default"], proxy: "apache", expectedParticipants: 300 });
  assert.match(renderApache(s300).https.content, /^QS_CondClientEventLimitCount 376 38 JHE_Login/m);
});

test("brute force: the rate-limit-packages step installs mod_qos before the modules step, only where it applies; undo leaves Apache running", () => {
  const cert = (s: ReturnType<typeof site>) => certificatePayload(s, [{ domain: "hub.example.org", fullchainPem: "x", privateKeyPem: "y" }]);
  const s = site({ ...variants["debian13-default"], proxy: "apache" });
  const steps = planSteps<string>(s, cert(s));
  const names = steps.map((x) => x.name);
  const rl = steps.find((x) => x.name === "rate-limit-packages")!;
  assert.ok(rl, "a step of its own");
  assert.match(String(rl.payload), /^packages libapache2-mod-qos$/m);
  assert.match(String(rl.payload), /^module yes$/m);
  assert.match(String(rl.payload), /^service apache2$/m);
  assert.ok(names.indexOf("rate-limit-packages") > names.indexOf("proxy-packages"));
  assert.ok(steps.find((x) => x.name === "apache-modules")!.after.includes("rate-limit-packages"));
  assert.match(String(steps.find((x) => x.name === "apache-modules")!.payload), /^modules .* qos$/m);
  for (const raw of [{ ...variants["debian12-default"], proxy: "apache" }, { ...variants["debian13-default"], proxy: "nginx" }, { ...variants["debian13-bruteforce-off"], proxy: "apache" }, { ...variants["debian13-default"], proxy: "apache", platform: "rhel-9" }]) {
    const o = site(raw);
    assert.ok(!planSteps<string>(o, cert(o)).some((x) => x.name === "rate-limit-packages"), `${o.platform.id} ${o.proxy}`);
  }
});
