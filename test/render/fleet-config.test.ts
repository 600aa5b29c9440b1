/**
 * Render tier: fleet config (`hosts`) validation. Each entry goes through the same schema as a
 * single-host stack; problems with what an entry set name the entry's path, shared problems are
 * reported once, and nothing secret is echoed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../../config/schema";
import { loadStackFromStrings } from "../../config/fleet";

const entry = (name: string, n: number, extra: Record<string, unknown> = {}) => ({ name, host: `203.0.113.${n}`, hubDomain: `hub-${name}.example.org`, ...extra });
const fleet = (entries: unknown, shared: Record<string, string> = {}) => ({ sshPrivateKeyFile: "/dev/null", ...shared, hosts: JSON.stringify(entries) });

function problems(strings: Record<string, string>): string[] {
  try {
    loadStackFromStrings(strings, undefined, "/");
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems;
  }
  return [];
}

const cases: [string, Record<string, string>, RegExp][] = [
  ["an entry's bad domain", fleet([entry("a", 1), entry("b", 2, { hubDomain: "not a domain" })]), /^jupyterhub-edge:hosts\[1\]\.hubDomain: must be a DNS name/],
  ["an entry's missing domain", fleet([entry("a", 1), { name: "b", host: "203.0.113.2" }]), /^jupyterhub-edge:hosts\[1\]\.hubDomain: is required/],
  ["an entry's missing host", fleet([{ name: "a", hubDomain: "hub.example.org" }]), /^jupyterhub-edge:hosts\[0\]\.host: is required/],
  ["an entry's unknown key", fleet([entry("a", 1, { hubDomian: "x.example.org" })]), /^jupyterhub-edge:hosts\[0\]\.hubDomian: unknown config key/],
  ["an entry's bad override", fleet([entry("a", 1, { proxy: "caddy" })]), /^jupyterhub-edge:hosts\[0\]\.proxy: must be nginx or apache/],
  ["an entry's port as text", fleet([entry("a", 1, { httpsPort: "99999" })]), /^jupyterhub-edge:hosts\[0\]\.httpsPort: must be 1–65535/],
  ["an entry's extra site", fleet([entry("a", 1, { extraSites: [{ domain: "www.example.org", root: "relative" }] })]), /^jupyterhub-edge:hosts\[0\]\.extraSites\[0\]\.root: must be an absolute path/],
  ["an entry's acme without email", fleet([entry("a", 1, { certificateMode: "acme" })]), /^jupyterhub-edge:acmeEmail: is required when a certificate comes from ACME/],
  ["an entry without a name", fleet([{ host: "203.0.113.1", hubDomain: "hub.example.org" }]), /^jupyterhub-edge:hosts\[0\]\.name: is required/],
  ["a bad name", fleet([entry("Room 1", 1)]), /^jupyterhub-edge:hosts\[0\]\.name: must be lowercase letters/],
  ["a duplicate name", fleet([entry("a", 1), { ...entry("a", 2), hubDomain: "other.example.org" }]), /^jupyterhub-edge:hosts\[1\]\.name: a is already the name of hosts\[0\]/],
  // Issue 21: two hubs under one name share cookies whatever their ports (JupyterHub #4512).
  [
    "a hub domain on two servers (same base URL)",
    fleet([entry("a", 1), entry("b", 2, { hubDomain: "hub-a.example.org", httpsPort: "8443" })]),
    /^jupyterhub-edge:hosts\[1\]\.hubDomain: hub-a\.example\.org is already the hubDomain of hosts\[0\]: two hubs under one host name with the same base URL \(\/\) share their cookies whatever their ports, so signing in to one signs users out of the other \(JupyterHub #4512\); give this hub a hubDomain of its own, such as b\.example\.org$/,
  ],
  [
    "a hub domain on two servers (one base URL inside the other)",
    fleet([entry("a", 1, { hubDomain: "hub.example.org" }), entry("hub", 2, { hubDomain: "hub.example.org", hubPath: "/jhub/" })]),
    /^jupyterhub-edge:hosts\[1\]\.hubDomain: hub\.example\.org is already the hubDomain of hosts\[0\]: two hubs under one host name with base URLs one inside the other \(\/ and \/jhub\/\) share their cookies whatever their ports, .* such as hub-hub\.example\.org$/,
  ],
  [
    "a hub domain that is another server's extra site",
    fleet([entry("a", 1, { extraSites: [{ domain: "www.example.org" }] }), entry("b", 2, { hubDomain: "www.example.org" })]),
    /^jupyterhub-edge:hosts\[1\]\.hubDomain: www\.example\.org is already an extra site of hosts\[0\] \(each domain belongs to one server\), and a hub there would share its cookies with whatever else answers under that name, whatever the port \(JupyterHub #4512\); give this hub a hubDomain of its own, such as b\.example\.org, or remove the extra site from hosts\[0\]$/,
  ],
  [
    "an extra site that is another server's hub domain",
    fleet([entry("a", 1), entry("b", 2, { extraSites: [{ domain: "docs.example.org" }, { domain: "hub-a.example.org" }] })]),
    /^jupyterhub-edge:hosts\[1\]\.extraSites\[1\]\.domain: hub-a\.example\.org is already the hubDomain of hosts\[0\] \(each domain belongs to one server\); serve this site under another name$/,
  ],
  [
    "an extra site on two servers",
    fleet([entry("a", 1, { extraSites: [{ domain: "www.example.org" }] }), entry("b", 2, { extraSites: [{ domain: "www.example.org" }] })]),
    /^jupyterhub-edge:hosts\[1\]\.extraSites\[0\]\.domain: www\.example\.org is already served by hosts\[0\] \(each domain belongs to one server\)$/,
  ],
  ["one server twice", fleet([entry("a", 1), entry("b", 1)]), /^jupyterhub-edge:hosts\[1\]\.host: 203\.0\.113\.1:22 is already hosts\[0\]/],
  ["a per-host key at the top", fleet([entry("a", 1)], { hubDomain: "hub.example.org" }), /^jupyterhub-edge:hubDomain: belongs to one server: with hosts, set it in each entry/],
  ["a shared bad key", fleet([entry("a", 1)], { tlsProfile: "old" }), /^jupyterhub-edge:tlsProfile: must be intermediate or modern/],
  ["not a list", { sshPrivateKeyFile: "/dev/null", hosts: '{"name": "a"}' }, /^jupyterhub-edge:hosts: must be a list/],
  ["an entry that is not an object", fleet(["203.0.113.1"]), /^jupyterhub-edge:hosts\[0\]: each entry must be an object/],
  ["an unreadable host key file", fleet([entry("a", 1, { hostKeyFile: "/nonexistent/key.pub" })]), /^jupyterhub-edge:hosts\[0\]\.hostKeyFile: cannot read \/nonexistent\/key\.pub: ENOENT/],
];

for (const [what, strings, expected] of cases) {
  test(`fleet config: ${what} is refused, naming the key`, () => {
    const found = problems(strings);
    assert.ok(found.some((p) => expected.test(p)), `expected ${expected} among:\n${found.join("\n")}`);
  });
}

test("fleet config: a problem with a shared key is reported once, not once per server", () => {
  const found = problems(fleet([entry("a", 1), entry("b", 2), entry("c", 3)], { proxy: "caddy" }));
  assert.equal(found.length, 1, found.join("\n"));
  assert.match(found[0], /^jupyterhub-edge:proxy: must be nginx or apache/);
});

test("fleet config: a secret in an entry is refused without echoing it", () => {
  const found = problems(fleet([entry("a", 1, { sshPrivateKey: "SECRET-KEY-TEXT", providedCertificates: "SECRET-PEM" })]));
  assert.equal(found.length, 2, found.join("\n"));
  assert.match(found[0], /^jupyterhub-edge:hosts\[0\]\.sshPrivateKey: cannot be set per host/);
  assert.ok(!found.join("\n").includes("SECRET"), found.join("\n"));
});

test("fleet config: shared keys are defaults, entries override them per server", () => {
  const stack = loadStackFromStrings(fleet([entry("a", 1), entry("b", 2, { proxy: "apache", platform: "debian-12", sshPort: 2222, ipv6: "false" })], { proxy: "nginx", maxUploadMb: "64" }), undefined, "/");
  assert.equal(stack.implicit, false);
  const [a, b] = stack.hosts;
  assert.deepEqual([a.name, a.site.proxy, a.site.platform.id, a.connection.port, a.site.ipv6], ["a", "nginx", "debian-13", 22, true]);
  assert.deepEqual([b.name, b.site.proxy, b.site.platform.id, b.connection.port, b.site.ipv6], ["b", "apache", "debian-12", 2222, false]);
  assert.equal(a.site.limits.maxUploadMb, 64);
  assert.equal(b.site.limits.maxUploadMb, 64);
});

test("fleet config: the single-host keys are one implicit server, named as before", () => {
  for (const hosts of [undefined, "", "[]"]) {
    const stack = loadStackFromStrings({ host: "203.0.113.10", sshPrivateKeyFile: "/dev/null", hubDomain: "hub.example.org", ...(hosts === undefined ? {} : { hosts }) }, undefined, "/");
    assert.equal(stack.implicit, true);
    assert.deepEqual(stack.hosts.map((h) => [h.name, h.connection.host, h.site.hub.domain]), [["edge", "203.0.113.10", "hub.example.org"]]);
  }
});
