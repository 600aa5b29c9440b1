/**
 * Render tier, DNS-01 / wildcards / per-user subdomains / EAB (issue 20): what the plan sends to
 * certbot, and the secret files it reads instead of command-line options.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../config/schema";
import { planSteps, acmeSecretsPayload, remoteCommand } from "../../steps/plan";
import { acmeSecretFiles } from "../../render/acme";
import { hostPaths } from "../../model/platforms";
import { variants } from "./variants";

const TSIG = Buffer.alloc(32, 9).toString("base64");
const EAB = "eab-hmac-key_from-the-CA";
const { site } = parseConfig(variants["debian13-dns01-subdomains"]);
const steps = planSteps(site, "after none\n", "after none\n", undefined, acmeSecretsPayload(site, { tsigSecret: TSIG, eabHmacKey: EAB }));
const step = (name: string) => {
  const s = steps.find((x) => x.name === name);
  assert.ok(s, `step ${name} in the plan`);
  return s;
};

test("dns-01: one lineage per site, with its challenge and every name it covers (the hub's *.<domain> too)", () => {
  const payload = String(step("acme-certificates").payload);
  assert.deepEqual(payload.split("\n").filter((l) => l.startsWith("lineage ")), [
    "lineage hub.example.org dns-01 hub.example.org *.hub.example.org",
    "lineage _wildcard.example.org dns-01 *.example.org",
    "lineage www.example.org http-01 www.example.org",
  ]);
  assert.match(payload, new RegExp(`^dns_credentials ${hostPaths.acmeDnsCredentials}$`, "m"));
  assert.match(payload, /^dns_propagation 5$/m);
  assert.match(payload, new RegExp(`^eab_config ${hostPaths.acmeEabConfig}$`, "m"));
});

test("dns-01: the TSIG key and the EAB reach the host only in the secret acme-secrets step, as root 0600 files", () => {
  const secrets = step("acme-secrets");
  assert.equal(secrets.secret, true);
  assert.equal(secrets.script, "files");
  const files = acmeSecretFiles(site, { tsigSecret: TSIG, eabHmacKey: EAB });
  assert.deepEqual(files.map((f) => [f.path, f.mode, f.group]), [
    [hostPaths.acmeDnsCredentials, "0600", undefined],
    [hostPaths.acmeEabConfig, "0600", undefined],
  ]);
  const ini = files[0].content;
  assert.match(ini, /^dns_rfc2136_server = 192\.0\.2\.53$/m);
  assert.match(ini, /^dns_rfc2136_port = 5300$/m);
  assert.match(ini, /^dns_rfc2136_name = acme-update$/m);
  // Capitals, whatever the stack wrote: certbot < 4.0 falls back to HMAC-MD5 for a lowercase name.
  assert.match(ini, /^dns_rfc2136_algorithm = HMAC-SHA512$/m);
  assert.match(files[1].content, /^eab-kid = kid-1$/m);
  // Nowhere else: not in any other step's payload, not in any command line.
  for (const s of steps.filter((x) => x.name !== "acme-secrets")) {
    for (const secret of [TSIG, EAB]) {
      assert.ok(!String(s.payload).includes(secret), `${s.name}'s payload holds a secret`);
      assert.ok(!remoteCommand(s, "apply", "root").includes(secret));
    }
  }
  const order = steps.map((s) => s.name);
  assert.ok(order.indexOf("acme-secrets") < order.indexOf("acme-certificates"), "the credentials exist before certbot runs");
  assert.ok(step("acme-certificates").after.includes("acme-secrets"), "and certbot's undo runs before the credentials go");
});

test("dns-01: certbot's RFC 2136 plugin is installed from the platform's packages, only when needed", () => {
  assert.match(String(step("certbot-packages").payload), /^packages certbot python3-certbot-dns-rfc2136$/m);
  const http = parseConfig({ ...variants["debian13-acme-mixed"] }).site;
  const plain = planSteps(http, "after none\n");
  assert.match(String(plain.find((s) => s.name === "certbot-packages")!.payload), /^packages certbot$/m);
  assert.ok(!plain.some((s) => s.name === "acme-secrets"), "no secrets step without dns-01 or EAB");
  for (const id of ["rhel-9", "fedora-42"] as const) {
    const rhel = parseConfig({ ...variants["debian13-dns01-subdomains"], platform: id }).site;
    assert.match(String(planSteps(rhel, "after none\n", "after none\n", undefined, "after none\n").find((s) => s.name === "certbot-packages")!.payload), /python3-certbot-dns-rfc2136/);
  }
});

test("dns-01: a plan that needs the secrets refuses to be made without them", () => {
  assert.throws(() => planSteps(site, "after none\n", "after none\n"), /no ACME secrets payload/);
  assert.throws(() => acmeSecretFiles(site, { eabHmacKey: EAB }), /no TSIG secret/);
});

test("per-user subdomains: the wildcard extra site's web root and certificate directory carry no '*'", () => {
  const wild = site.extraSites.find((s) => s.domain === "*.example.org")!;
  assert.equal(wild.root, "/var/www/_wildcard.example.org");
  assert.equal(wild.tls.certificateFile, "/etc/letsencrypt/live/_wildcard.example.org/fullchain.pem");
  assert.match(String(step("web-roots").payload), /^root \/var\/www\/_wildcard\.example\.org \*\.example\.org$/m);
  for (const s of steps) assert.ok(!/[*]/.test(remoteCommand(s, "apply", "root")), `${s.name}'s command line`);
});
