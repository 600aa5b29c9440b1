/** Render tier: stack config validation — every bad input is refused with a message naming the key. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../config/schema";
import { coerceRaw, loadFromStrings } from "../../config/load";
import { badConfigs, goodStrings } from "../support/bad-configs";
import { baseConfig } from "./variants";

function problems(raw: Record<string, unknown>): string[] {
  try {
    parseConfig(raw);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems;
  }
  return [];
}

const cases: [string, Record<string, unknown>, RegExp][] = [
  ["malformed domain", { hubDomain: "hub example.org" }, /^jupyterhub-edge:hubDomain: must be a DNS name/],
  ["single-label domain", { hubDomain: "localhost" }, /^jupyterhub-edge:hubDomain: /],
  ["domain with injection", { hubDomain: "hub.example.org;evil" }, /^jupyterhub-edge:hubDomain: /],
  ["port out of range", { httpsPort: 70000 }, /^jupyterhub-edge:httpsPort: must be 1–65535/],
  ["port not a number", { httpsPort: "https" }, /^jupyterhub-edge:httpsPort: must be a whole number/],
  ["https on 80", { httpsPort: 80 }, /^jupyterhub-edge:httpsPort: must not be 80/],
  ["bad address", { host: "10.0.0.0.1/8" }, /^jupyterhub-edge:host: must be an IPv4\/IPv6 address or a host name/],
  ["missing host", { host: undefined }, /^jupyterhub-edge:host: is required/],
  ["missing hub domain", { hubDomain: undefined }, /^jupyterhub-edge:hubDomain: is required/],
  ["unknown proxy", { proxy: "caddy" }, /^jupyterhub-edge:proxy: must be nginx or apache/],
  ["unknown platform", { platform: "centos-7" }, /^jupyterhub-edge:platform: must be one of debian-13/],
  ["hub path without slash", { hubPath: "/jhub" }, /^jupyterhub-edge:hubPath: must start and end with '\/'/],
  ["upstream with path", { hubUpstream: "http://127.0.0.1:8000/jhub/" }, /^jupyterhub-edge:hubUpstream: must be http:\/\/ADDRESS:PORT/],
  ["extra site bad root", { extraSites: [{ domain: "www.example.org", root: "relative/dir" }] }, /^jupyterhub-edge:extraSites\[0\]\.root: must be an absolute path/],
  ["extra site duplicate", { extraSites: [{ domain: "hub.example.org" }] }, /^jupyterhub-edge:extraSites\[0\]\.domain: hub\.example\.org is already served by hubDomain/],
  ["extra site unknown field", { extraSites: [{ domain: "www.example.org", docroot: "/x" }] }, /^jupyterhub-edge:extraSites\[0\]: unknown field\(s\) docroot/],
  ["unknown key (typo)", { hubDomian: "x.example.org" }, /^jupyterhub-edge:hubDomian: unknown config key/],
  ["no ssh key", { sshPrivateKeyFile: undefined }, /^jupyterhub-edge:sshPrivateKeyFile: no SSH key/],
  ["two ssh keys", { sshPrivateKeyGiven: true }, /^jupyterhub-edge:sshPrivateKeyFile: set only one/],
  ["bad host key", { hostKey: "AAAAC3Nza" }, /^jupyterhub-edge:hostKey: must be a public key line/],
  ["short hsts", { hstsMaxAge: 300 }, /^jupyterhub-edge:hstsMaxAge: must be 0 \(off\) or at least 86400/],
  ["tiny websocket timeout", { websocketIdleTimeout: 10 }, /^jupyterhub-edge:websocketIdleTimeout: must be at least 60/],
  ["bad hub config path", { hubConfigPath: "/etc/jupyterhub/my config.py" }, /^jupyterhub-edge:hubConfigPath: /],
  ["unknown cert mode", { certificateMode: "letsencrypt" }, /^jupyterhub-edge:certificateMode: must be acme, selfSigned or provided/],
  ["acme without email", { certificateMode: "acme" }, /^jupyterhub-edge:acmeEmail: is required when a certificate comes from ACME/],
  ["bad acme email", { certificateMode: "acme", acmeEmail: "admin-at-example" }, /^jupyterhub-edge:acmeEmail: must be an email address/],
  ["bad acme server", { certificateMode: "acme", acmeEmail: "a@example.org", acmeServer: "http://acme.example.org/dir" }, /^jupyterhub-edge:acmeServer: must be letsencrypt, letsencrypt-staging, or an https:\/\/ ACME directory URL/],
  ["provided without its PEMs", { extraSites: [{ domain: "www.example.org", certificateMode: "provided" }] }, /^jupyterhub-edge:extraSites\[0\]\.certificateMode: provided, but providedCertificates has no entry for www\.example\.org/],
  ["stapling with Let's Encrypt", { certificateMode: "acme", acmeEmail: "a@example.org", ocspStapling: true }, /^jupyterhub-edge:ocspStapling: Let's Encrypt certificates carry no OCSP URL/],
  ["odd dhparam size", { dhe: true, dhparamBits: 1024 }, /^jupyterhub-edge:dhparamBits: must be 2048, 3072 or 4096/],
];

for (const [what, patch, expected] of cases) {
  test(`config: ${what} is refused, naming the key`, () => {
    const found = problems({ ...baseConfig, ...patch });
    assert.ok(found.some((p) => expected.test(p)), `expected ${expected} among:\n${found.join("\n")}`);
  });
}

test("config: every problem is reported at once", () => {
  const found = problems({ ...baseConfig, hubDomain: "bad domain", httpsPort: 0, proxy: "iis" });
  assert.equal(found.length, 3, found.join("\n"));
});

test("config: provided certificates are parsed without echoing their (secret) content", async () => {
  const { parseProvided } = await import("../../config/load");
  const problems: string[] = [];
  parseProvided('{"hub.example.org": {"certificate": "SECRET-NOT-PEM", "privateKey": "SECRET-KEY"}}', problems);
  assert.deepEqual(problems, ["jupyterhub-edge:providedCertificates.hub.example.org.certificate: must be a PEM certificate chain"]);
  const bad: string[] = [];
  parseProvided("{not json SECRET", bad);
  assert.ok(bad.length === 1 && !bad[0].includes("SECRET"), bad[0]);
});

test("config: ACME server names map to directory URLs", () => {
  const acme = (server?: string) => parseConfig({ ...baseConfig, certificateMode: "acme", acmeEmail: "a@example.org", ...(server ? { acmeServer: server } : {}) }).site.acme!;
  assert.equal(acme().directoryUrl, "https://acme-v02.api.letsencrypt.org/directory");
  assert.equal(acme("letsencrypt-staging").directoryUrl, "https://acme-staging-v02.api.letsencrypt.org/directory");
  assert.equal(acme("https://acme.uni.example:8443/directory").directoryUrl, "https://acme.uni.example:8443/directory");
  const { site } = parseConfig({ ...baseConfig, certificateMode: "acme", acmeEmail: "a@example.org" });
  assert.equal(site.hub.tls.certificateFile, "/etc/letsencrypt/live/hub.example.org/fullchain.pem");
});

test("config: defaults fill a minimal stack", () => {
  const { site, connection } = parseConfig(baseConfig);
  assert.equal(site.proxy, "nginx");
  assert.equal(site.platform.id, "debian-13");
  assert.equal(site.httpsPort, 443);
  assert.deepEqual(site.hub.upstream, { kind: "tcp", origin: "http://127.0.0.1:8000" });
  assert.equal(site.hub.path, "/");
  assert.equal(connection.user, "root");
  assert.equal(connection.port, 22);
});

test("config: string values from `pulumi config` are coerced by declared type", () => {
  const { raw, problems: p } = coerceRaw({ httpsPort: "8443", ipv6: "false", extraSites: '[{"domain":"www.example.org"}]', sshPrivateKey: "SECRET" });
  assert.deepEqual(p, []);
  assert.equal(raw.httpsPort, 8443);
  assert.equal(raw.ipv6, false);
  assert.deepEqual(raw.extraSites, [{ domain: "www.example.org" }]);
  assert.equal(raw.sshPrivateKeyGiven, true);
  assert.ok(!JSON.stringify(raw).includes("SECRET"), "the secret key never enters the raw config");
});

test("config: Pulumi.yaml declares exactly the keys the program reads, with the same types and defaults", async () => {
  const yaml = await import("js-yaml");
  const fs = await import("fs");
  const { configKeys, CONFIG_NAMESPACE } = await import("../../config/keys");
  const doc = yaml.load(fs.readFileSync(`${__dirname}/../../Pulumi.yaml`, "utf8")) as { config: Record<string, Record<string, unknown>> };
  const declared = Object.keys(doc.config).map((k) => k.replace(`${CONFIG_NAMESPACE}:`, "")).sort();
  assert.deepEqual(declared, Object.keys(configKeys).sort());
  for (const [k, v] of Object.entries(configKeys) as [string, { type: string; items?: string; default?: unknown; secret?: boolean; description: string }][]) {
    const d = doc.config[`${CONFIG_NAMESPACE}:${k}`];
    assert.equal(d.type, v.type, `${k}: type`);
    // Pulumi checks a stack's value against the items' type: a list of names must say string.
    if (v.type === "array") assert.deepEqual(d.items, { type: v.items ?? "object" }, `${k}: items`);
    assert.deepEqual(d.default, v.default, `${k}: default`);
    assert.equal(d.secret, undefined, `${k}: optional secrets cannot be declared secret (Pulumi would require them)`);
    assert.equal(d.description, v.description, `${k}: description`);
  }
});

// ---- issue 10: one case per input defect, as `pulumi config set` strings (test/support/bad-configs.ts);
// the wiring tier runs the same cases through the program and checks that nothing reached a host.
{
  for (const c of badConfigs.filter((b) => !b.programOnly)) {
    test(`config: ${c.what} is refused with its own reason`, () => {
      let found: string[] = [];
      try {
        loadFromStrings({ ...goodStrings, ...c.strings() }, undefined, process.cwd());
      } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        found = e.problems;
      }
      assert.ok(found.some((p) => c.expected.test(p)), `expected ${c.expected} among:\n${found.join("\n") || "(accepted)"}`);
    });
  }
}

test("config: messages name the value; did-you-mean picks the closest key", async () => {
  const { closestName, editDistance } = await import("../../config/messages");
  const { configKeys } = await import("../../config/keys");
  const keys = Object.keys(configKeys);
  assert.equal(editDistance("hubDomian", "hubDomain"), 1, "a swap is one edit");
  assert.equal(closestName("hubDomian", keys), "hubDomain");
  assert.equal(closestName("hubdomain", keys), "hubDomain");
  assert.equal(closestName("acmeMail", keys), "acmeEmail");
  assert.equal(closestName("sshkey", keys), undefined, "too far from every key: no guess");
  assert.equal(closestName("zzz", keys), undefined);
  assert.deepEqual(problems({ ...baseConfig, httpsPort: -1 }), ["jupyterhub-edge:httpsPort: must be 1–65535 (got -1)"]);
});

test("config: good values of the same kinds are accepted", async () => {
  const { parseUpstream } = await import("../../config/rules");
  assert.deepEqual(parseUpstream("http://[::1]:8000").upstream, { kind: "tcp", origin: "http://[::1]:8000" });
  assert.deepEqual(parseUpstream("http://[0:0:0:0:0:0:0:1]:8000/").upstream, { kind: "tcp", origin: "http://[::1]:8000" }, "IPv6 written in its canonical form");
  assert.deepEqual(parseUpstream("http://127.0.0.1:8000/").upstream, { kind: "tcp", origin: "http://127.0.0.1:8000" });
  assert.deepEqual(parseUpstream("http://Hub-Container:8081").upstream, { kind: "tcp", origin: "http://hub-container:8081" });
  assert.deepEqual(parseUpstream("unix:/run/jupyterhub/hub.sock").upstream, { kind: "unix", socketPath: "/run/jupyterhub/hub.sock" });
  for (const hubPath of ["/", "/jhub/", "/courses/2026/jhub/", "/hubs/", "/my-user/"]) {
    assert.equal(parseConfig({ ...baseConfig, hubPath }).site.hub.path, hubPath);
  }
  for (const hubDomain of ["hub.example.org", "HUB.Example.ORG", "xn--hb-xka.example.org", `${"a".repeat(63)}.example.org`]) {
    assert.equal(parseConfig({ ...baseConfig, hubDomain }).site.hub.domain, hubDomain.toLowerCase());
  }
  assert.equal(parseConfig({ ...baseConfig, host: "2001:db8::7" }).connection.host, "2001:db8::7");
  assert.equal(parseConfig({ ...baseConfig, hstsMaxAge: 0 }).site.tls.hstsMaxAge, 0);
  assert.equal(parseConfig({ ...baseConfig, extraSites: [{ domain: "www.example.org", root: "/srv/www" }] }).site.extraSites[0].root, "/srv/www");
});

test("config: good provided certificates pass every check (leaf + intermediate, wildcard, RSA 2048, P-384)", async () => {
  const { makeCertFixtures } = await import("../support/cert-fixtures");
  const { certificateProblems } = await import("../../config/certificates");
  const f = makeCertFixtures();
  const good: [string, string, string][] = [
    ["hub.example.org", f.leaf + f.intermediate, f.leafKey],
    ["hub.example.org", f.leaf + f.intermediate + f.root, f.leafKey],
    ["hub.example.org", f.leaf, f.leafKey],
    ["hub.example.org", f.wildcard + f.intermediate, f.wildcardKey],
    ["hub.example.org", f.rsa2048 + f.intermediate, f.rsa2048Key],
    ["hub.example.org", f.p384 + f.intermediate, f.p384Key],
  ];
  for (const [domain, chain, key] of good) assert.deepEqual(certificateProblems(domain, chain, key), []);
  // A wildcard covers one label only, and not the bare domain.
  assert.equal(certificateProblems("a.b.example.org", f.wildcard, f.wildcardKey).length, 1);
  assert.equal(certificateProblems("example.org", f.wildcard, f.wildcardKey).length, 1);
  // No message carries key or certificate material.
  for (const c of badConfigs.filter((b) => b.strings().providedCertificates)) {
    try {
      loadFromStrings({ ...baseConfig, sshPrivateKeyFile: "/dev/null", ...c.strings() } as Record<string, string>, undefined, process.cwd());
    } catch (e) {
      assert.ok(!/-----BEGIN|[A-Za-z0-9+/]{40}/.test((e as Error).message), `${c.what}: message shows PEM text`);
    }
  }
});
