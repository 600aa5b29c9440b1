/**
 * Render tier, split auth: config validation with exact messages (passwords never echoed), the
 * htpasswd file, stable bcrypt hashes, the API-path rule, and the step's place in the plan.
 * (Golden files and the real nginx -t / apache2ctl -t of every variant are in render.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as bcrypt from "bcryptjs";
import { spawnSync } from "child_process";
import { ConfigError, parseConfig } from "../../config/schema";
import { readSplitAuth } from "../../config/split-auth";
import { loadFromStrings } from "../../config/load";
import { htpasswdHash, htpasswdPayload, normaliseBcrypt, rawHubApiRegex, renderHtpasswd } from "../../render/split-auth";
import { bcryptWithSalt, generatedHash } from "../../components/split-auth";
import { sha256Crypt } from "../../render/sha-crypt";
import { planSteps } from "../../steps/plan";
import { renderNginx } from "../../render/nginx";
import { renderApache } from "../../render/apache";
import { baseConfig, variants } from "./variants";

const users = [{ name: "workshop", passwordGiven: true }];
function problems(splitAuth: unknown): string[] {
  try {
    parseConfig({ ...baseConfig, splitAuth });
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems;
  }
  return [];
}

const cases: [string, unknown, string][] = [
  ["no users", { users: [] }, "jupyterhub-edge:splitAuth.users: needs at least one user"],
  ["bad user name", { users: [{ name: "bad:name", passwordGiven: false }] }, "jupyterhub-edge:splitAuth.users[0].name: must be 1–64 letters, digits or . _ - (starting with a letter or digit)"],
  ["duplicate user", { users: [...users, ...users] }, "jupyterhub-edge:splitAuth.users[1].name: workshop is listed twice"],
  ["not a CIDR", { users, allowFrom: ["10.0.0.0/33"] }, "jupyterhub-edge:splitAuth.allowFrom[0]: must be an IPv4 or IPv6 address or CIDR such as 192.0.2.0/24 or 2001:db8::/48 (prefix length 1–32)"],
  ["a name, not an address", { users, allowFrom: ["classroom.example.org"] }, "jupyterhub-edge:splitAuth.allowFrom[0]: must be an IPv4 or IPv6 address or CIDR such as 192.0.2.0/24 or 2001:db8::/48"],
  ["host bits (v4)", { users, allowFrom: ["192.0.2.7/24"] }, "jupyterhub-edge:splitAuth.allowFrom[0]: 192.0.2.7/24 has host bits set (did you mean 192.0.2.0/24?)"],
  ["host bits (v6)", { users, allowFrom: ["2001:db8:42::1/48"] }, "jupyterhub-edge:splitAuth.allowFrom[0]: 2001:db8:42::1/48 has host bits set (did you mean 2001:db8:42::/48?)"],
  ["everyone", { users, allowFrom: ["::/0"] }, "jupyterhub-edge:splitAuth.allowFrom[0]: ::/0 admits every address: remove splitAuth instead"],
  ["injection in a CIDR", { users, allowFrom: ["10.0.0.0/8; allow all"] }, "jupyterhub-edge:splitAuth.allowFrom[0]: must be an IPv4 or IPv6 address or CIDR such as 192.0.2.0/24 or 2001:db8::/48 (prefix length 1–32)"],
  ["quote in realm", { users, realm: 'Work"shop' }, "jupyterhub-edge:splitAuth.realm: must be 1–64 letters, digits, spaces or . _ , : ( ) @ + / -"],
  ["unknown field", { users, allowfrom: [] }, "jupyterhub-edge:splitAuth: unknown field(s) allowfrom; did you mean `allowFrom`?"],
  ["not an object", ["workshop"], "jupyterhub-edge:splitAuth: must be an object {users, allowFrom, realm}"],
];
for (const [what, block, expected] of cases) {
  test(`split auth config: ${what} is refused, naming the key`, () => {
    const found = problems(block);
    assert.ok(found.some((p) => p === expected || p.startsWith(`${expected} (got `)), `expected "${expected}" among:\n${found.join("\n")}`);
  });
}

test("split auth config: CIDRs of both families are accepted and kept as the proxies read them", () => {
  const { site } = parseConfig({ ...baseConfig, splitAuth: { users, allowFrom: ["192.0.2.0/24", "198.51.100.7", "2001:DB8:42::/48", "fd00::1"] } });
  assert.deepEqual(site.splitAuth, { users, allowFrom: ["192.0.2.0/24", "198.51.100.7", "2001:db8:42::/48", "fd00::1"], realm: "JupyterHub", userFile: "/etc/jupyterhub-edge/htpasswd" });
  assert.equal(parseConfig(baseConfig).site.splitAuth, undefined, "off by default");
});

test("split auth config: passwords are taken out before validation and never echoed", () => {
  const found: string[] = [];
  const r = readSplitAuth(JSON.stringify({ users: ["tutor", { name: "workshop", password: "s3cret-Passw0rd" }, { name: "short", password: "SHORTPW" }, { name: "long", password: "L".repeat(73) }] }), found);
  assert.deepEqual(r.passwords, { workshop: "s3cret-Passw0rd" });
  assert.deepEqual(r.raw, { users: [{ name: "tutor", passwordGiven: false }, { name: "workshop", passwordGiven: true }, { name: "short", passwordGiven: true }, { name: "long", passwordGiven: true }] });
  assert.deepEqual(found, [
    "jupyterhub-edge:splitAuth.users[2].password: must be at least 8 characters",
    "jupyterhub-edge:splitAuth.users[3].password: must be at most 72 bytes (bcrypt ignores the rest)",
  ]);
  assert.ok(!found.join("").includes("SHORTPW") && !JSON.stringify(r.raw).includes("s3cret"));
  assert.deepEqual(readSplitAuth("{}", []), { passwords: {} }, "an empty block is off");
  assert.deepEqual(readSplitAuth("", []), { passwords: {} });
});

test("split auth config: from stack strings to a secret password map", async () => {
  const loaded = loadFromStrings(
    { host: "203.0.113.10", sshPrivateKeyFile: "/dev/null", hubDomain: "hub.example.org", splitAuth: JSON.stringify({ users: [{ name: "workshop", password: "s3cret-Passw0rd" }, "tutor"] }) },
    undefined,
    process.cwd(),
  );
  assert.deepEqual(loaded.site.splitAuth?.users, [{ name: "workshop", passwordGiven: true }, { name: "tutor", passwordGiven: false }]);
  assert.ok(!JSON.stringify(loaded.site).includes("s3cret"), "the password is not in the site model");
  const value = await new Promise((ok) => loaded.splitAuthPasswords.apply((v) => ok(v)));
  assert.deepEqual(value, { workshop: "s3cret-Passw0rd" });
});

test("split auth: bcrypt hashes are stable for a given salt, verify, and are written as $2y$", () => {
  const salt = "00112233445566778899aabbccddeeff";
  const a = bcryptWithSalt("correct horse battery", salt);
  assert.equal(a, bcryptWithSalt("correct horse battery", salt), "same password + salt → same hash (no-op up stays a no-op)");
  assert.notEqual(a, bcryptWithSalt("correct horse battery", "ffeeddccbbaa99887766554433221100"));
  assert.match(a, /^\$2b\$10\$[./A-Za-z0-9]{53}$/);
  assert.ok(bcrypt.compareSync("correct horse battery", a));
  assert.ok(bcrypt.compareSync("correct horse battery", normaliseBcrypt(a).replace(/^\$2y\$/, "$2b$")));
  assert.throws(() => normaliseBcrypt("$apr1$abc$def"), /not bcrypt/);
  assert.throws(() => normaliseBcrypt("plaintext"), /not bcrypt/);
});

test("split auth: generated passwords get {SHA} (what htpasswd -s writes, stable, no salt); given ones bcrypt only, nothing weaker for either", () => {
  const h = generatedHash("GeneratedTutorPassword42");
  // base64(SHA-1): `printf %s GeneratedTutorPassword42 | openssl dgst -sha1 -binary | base64`.
  assert.equal(h, "{SHA}FNgxlCU+6edQ9LWp/mwqj7+rKYo=");
  assert.equal(h, generatedHash("GeneratedTutorPassword42"), "same password → same hash (no-op up stays a no-op)");
  const htpasswd = spawnSync("htpasswd", ["-nbs", "tutor", "GeneratedTutorPassword42"], { encoding: "utf8" });
  if (htpasswd.status === 0) assert.equal(htpasswd.stdout.trim(), `tutor:${h}`, "Apache's htpasswd -s agrees");
  const { site } = parseConfig(variants["debian13-splitauth"]); // workshop given, tutor generated
  const bc = bcryptWithSalt("correct horse battery", "00112233445566778899aabbccddeeff");
  assert.equal(renderHtpasswd(site, [{ user: "workshop", hash: bc }, { user: "tutor", hash: h }]).content, `workshop:$2y$${bc.slice(4)}\ntutor:${h}\n`);
  // A person's password never gets the cheap schemes.
  for (const cheap of [h, sha256Crypt("correct horse battery", "abcdefgh", 1000)]) {
    assert.throws(() => renderHtpasswd(site, [{ user: "workshop", hash: cheap }, { user: "tutor", hash: h }]), /not bcrypt \(a password given in config is chosen by a person\)/);
  }
  for (const weak of ["$5$rounds=999$abcdefgh$" + "a".repeat(43), "$5$abcdefgh$" + "a".repeat(43), "$apr1$abcdefgh$" + "a".repeat(22), "{SSHA}" + "a".repeat(32), "{SHA}" + "a".repeat(28), "{SHA}" + "a".repeat(27), "{PLAIN}GeneratedTutorPassword42", "$1$abcdefgh$" + "a".repeat(22), "plaintext"]) {
    assert.throws(() => htpasswdHash(weak, true), /neither \{SHA\}, SHA-256-crypt with at least 1000 rounds nor bcrypt/, weak);
  }
  // SHA-256-crypt (what generated passwords got before) is still accepted for them.
  const crypt = sha256Crypt("GeneratedTutorPassword42", "abcdefgh", 1000);
  assert.equal(htpasswdHash(crypt, true), crypt);
  assert.equal(htpasswdHash("$5$rounds=5000$abcdefgh$" + "a".repeat(43), true), "$5$rounds=5000$abcdefgh$" + "a".repeat(43));
});

test("split auth: the htpasswd file is root:<proxy group> 0640, bcrypt (given) or {SHA} (generated), one line per user in config order", () => {
  const { site } = parseConfig(variants["debian13-splitauth"]);
  const hash = bcryptWithSalt("correct horse battery", "00112233445566778899aabbccddeeff");
  const entries = [{ user: "tutor", hash: hash.replace("$2b$", "$2a$") }, { user: "workshop", hash }];
  const file = renderHtpasswd(site, entries);
  assert.equal(file.path, "/etc/jupyterhub-edge/htpasswd");
  assert.equal(file.mode, "0640");
  assert.equal(file.group, "www-data");
  assert.equal(file.content, `workshop:$2y$${hash.slice(4)}\ntutor:$2y$${hash.slice(4)}\n`);
  assert.match(htpasswdPayload(site, entries), /^after nginx\nfile \/etc\/jupyterhub-edge\/htpasswd 0640 www-data\n\|workshop:\$2y\$/);
  assert.match(htpasswdPayload({ ...site, proxy: "apache" }, entries), /^after apache2\n/);
  assert.throws(() => renderHtpasswd(site, [entries[0]]), /no password hash for workshop/);
});

test("split auth: only a plain raw hub/api/ path skips the password (the rest fails closed)", () => {
  for (const [name, base] of [["at /", "debian13-splitauth"], ["under /jhub/", "debian13-splitauth-subpath"]]) {
    const { site } = parseConfig(variants[base]);
    const re = new RegExp(rawHubApiRegex(site));
    const b = site.hub.path;
    for (const open of ["hub/api/", "hub/api/users/learner", "hub/api/users/first.last/tokens", "hub/api/oauth2/authorize?client_id=x&redirect_uri=%2Fuser%2Flearner%2Foauth_callback", "hub/api/users/a%40b"]) {
      assert.match(`${b}${open}`, re, `${name}: ${open} is the API`);
    }
    for (const closed of ["hub/api/..%2Flogin", "hub/api/%2e%2e/login", "hub/api/%2E%2E/login", "hub/api//users", "hub/api/./users", "hub/api/../login",
      "hub/user-redirect/..%2Fapi/x", "hub/API/users", "hub/login", "hub/api", "%68ub/api/users"]) {
      assert.doesNotMatch(`${b}${closed}`, re, `${name}: ${closed} must take the password check`);
    }
    assert.doesNotMatch(`/${b}hub/api/users`, re, `${name}: a doubled leading slash takes the password check`);
  }
});

test("split auth: the plan puts the users file after the packages and before the vhost; off means no step", () => {
  const { site } = parseConfig(variants["debian13-splitauth-allow"]);
  const steps = planSteps(site, "after none\n", "HTPASSWD-PAYLOAD");
  const users = steps.find((s) => s.name === "split-auth-users")!;
  assert.deepEqual([users.script, users.secret, users.payload, users.after], ["files", true, "HTPASSWD-PAYLOAD", ["preflight", "proxy-packages"]]);
  assert.ok(steps.find((s) => s.name === "proxy-config")!.after.includes("split-auth-users"));
  assert.throws(() => planSteps(site, "after none\n"), /no htpasswd payload/);
  assert.equal(planSteps(parseConfig(baseConfig).site, "after none\n").find((s) => s.name === "split-auth-users"), undefined);
});

test("split auth: both proxies protect the hub's pages in any case, keep /user/ open, and send HSTS with 401s", () => {
  for (const [name, raw] of Object.entries(variants).filter(([n]) => n.includes("splitauth"))) {
    const { site } = parseConfig(raw);
    const b = site.hub.path.replace(/\./g, "[.]");
    const nginx = renderNginx(site).https.content;
    assert.match(nginx, new RegExp(`location ~\\* "\\^${b}hub\\(\\?:/\\|\\$\\)" \\{\\n(\\s+(satisfy any|allow \\S+|deny all);\\n)*\\s+auth_basic "[^"]+";\\n\\s+auth_basic_user_file /etc/jupyterhub-edge/htpasswd;`), name);
    assert.match(nginx, new RegExp(`location \\^~ ${b}hub/api/ \\{\\n\\s+error_page 418 = @jhe_hub_pages;`), name);
    assert.doesNotMatch(nginx, /location [^{]*user/, `${name}: nothing special about user/`);
    assert.equal(nginx.match(/auth_basic "/g)?.length, 2, `${name}: Basic only in the pages location and its named twin`);
    assert.equal((nginx.match(/satisfy any;/g)?.length ?? 0) > 0, site.splitAuth!.allowFrom.length > 0, `${name}: satisfy any only with allowFrom`);
    const apache = renderApache({ ...site, proxy: "apache" }).https.content;
    assert.match(apache, new RegExp(`<LocationMatch "\\(\\?i\\)\\^${b}hub\\(\\?:/\\|\\$\\)">`), name);
    assert.match(apache, /<RequireAny>\n\s+Require expr "%\{THE_REQUEST\} =~ m#\^\[A-Z\]\+ /, name);
    assert.match(apache, /Require valid-user\n/, name);
    // Inside split auth's RequireAny only (the metrics section has its own Require ip for scrapers).
    assert.equal(/<RequireAny>(?:(?!<\/RequireAny>)[\s\S])*Require ip /.test(apache), site.splitAuth!.allowFrom.length > 0, name);
    assert.match(apache, /Header always set Strict-Transport-Security/, `${name}: HSTS on every answer, 401s included`);
  }
});
