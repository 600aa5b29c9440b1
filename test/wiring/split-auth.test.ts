/**
 * Wiring tier, split auth: the program under Pulumi's mocks with a `splitAuth` block — one user with
 * a password from secret config, one generated. What exists, in what order, and what stays secret.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as bcrypt from "bcryptjs";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";

const GIVEN = "Given-Workshop-Passw0rd";
const GENERATED = "GeneratedTutorPassword42";
const SALT_HEX = "00112233445566778899aabbccddeeff";

interface Seen { type: string; name: string; parent?: string; dependsOn: string[]; props: Record<string, unknown>; opts: pulumi.CustomResourceOptions }
const seen: Seen[] = [];

pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type === "random:index/randomPassword:RandomPassword") Object.assign(state, { result: GENERATED });
      if (args.type === "random:index/randomId:RandomId") Object.assign(state, { hex: SALT_HEX });
      if (args.type === "tls:index/privateKey:PrivateKey") state.privateKeyPem = "KEY";
      if (args.type.endsWith("Cert:LocallySignedCert") || args.type === "tls:index/selfSignedCert:SelfSignedCert") state.certPem = "CERT";
      return { id: `${args.name}-id`, state };
    },
    call: (args) => args.inputs,
  },
  "jupyterhub-edge",
  "wiring-split-auth",
  false,
);

const record: pulumi.ResourceTransformation = (args) => {
  const deps = (args.opts.dependsOn ?? []) as pulumi.Resource[];
  const nameOf = (r: pulumi.Resource | undefined) => (r ? (r as unknown as { __name?: string }).__name : undefined);
  seen.push({ type: args.type, name: args.name, parent: nameOf(args.opts.parent), dependsOn: (Array.isArray(deps) ? deps : [deps]).map((d) => nameOf(d)!).filter(Boolean), props: args.props, opts: args.opts });
  return undefined;
};

const resolve = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((ok) => o.apply((v) => { ok(v); return v; }));
let outputs: Record<string, pulumi.Output<unknown> | string>;
const byName = (n: string) => {
  const s = seen.find((r) => r.name === n);
  assert.ok(s, `no resource named ${n}; have: ${seen.map((r) => r.name).join(", ")}`);
  return s;
};

before(async () => {
  const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "jhe-wiring-")), "id_ed25519");
  fs.writeFileSync(keyFile, "KEY\n", { mode: 0o600 });
  const { loadFromStrings } = await import("../../config/load");
  const { deploy } = await import("../../program");
  const config = loadFromStrings(
    {
      host: "203.0.113.10",
      sshPrivateKeyFile: keyFile,
      hubDomain: "hub.example.org",
      splitAuth: JSON.stringify({ users: [{ name: "workshop", password: GIVEN }, "tutor"], allowFrom: ["192.0.2.0/24"], realm: "Workshop" }),
    },
    undefined,
    process.cwd(),
  );
  outputs = deploy(config, { transformations: [record] }) as unknown as Record<string, pulumi.Output<unknown>>;
  await new Promise((r) => setTimeout(r, 300));
});

test("split auth: a SplitAuth component with a salt for the given password and a RandomPassword (no salt: {SHA}) for the other", () => {
  const auth = byName("edge-auth");
  assert.equal(auth.type, "jupyterhub-edge:auth:SplitAuth");
  assert.equal(byName("edge-auth-workshop-salt").type, "random:index/randomId:RandomId");
  const pw = byName("edge-auth-tutor-password");
  assert.equal(pw.type, "random:index/randomPassword:RandomPassword");
  for (const field of ["result", "bcryptHash"]) assert.ok(pw.opts.additionalSecretOutputs?.includes(field), `${field} is secret in state`);
  assert.equal(seen.some((s) => s.name === "edge-auth-workshop-password" || s.name === "edge-auth-tutor-salt" || s.name.endsWith("-crypt-salt")), false);
  for (const n of ["edge-auth-workshop-salt", "edge-auth-tutor-password", "edge-auth-split-auth-users"]) assert.equal(byName(n).parent, "edge-auth");
});

test("split auth: the users file goes after the packages and before the vhost that names it", () => {
  assert.deepEqual(byName("edge-auth-split-auth-users").dependsOn.sort(), ["edge-host-preflight", "edge-proxy-proxy-packages"]);
  assert.ok(byName("edge-proxy-proxy-config").dependsOn.includes("edge-auth-split-auth-users"));
});

test("split auth: hashes only, as a secret, on stdin; no password anywhere in commands or public outputs", async () => {
  const step = byName("edge-auth-split-auth-users");
  assert.equal(await pulumi.isSecret(step.props.stdin as pulumi.Output<string>), true);
  assert.equal(step.props.logging, "none");
  const payload = await resolve(step.props.stdin as pulumi.Output<string>);
  // The given (person-chosen) password bcrypt; the generated one {SHA}.
  assert.match(payload, /^after nginx\nfile \/etc\/jupyterhub-edge\/htpasswd 0640 www-data\n\|workshop:\$2y\$10\$[./A-Za-z0-9]{53}\n\|tutor:\{SHA\}[A-Za-z0-9+/]{27}=\nend\n$/);
  const workshopHash = /\|workshop:(\S+)/.exec(payload)![1].replace(/^\$2y\$/, "$2b$");
  assert.ok(bcrypt.compareSync(GIVEN, workshopHash), "the given password's hash verifies");
  const tutorHash = /\|tutor:(\S+)/.exec(payload)![1];
  assert.equal(tutorHash, `{SHA}${createHash("sha1").update(GENERATED).digest("base64")}`, "the generated password's hash verifies");
  for (const c of seen.filter((s) => s.type === "command:remote:Command")) {
    for (const field of ["create", "update", "delete"]) {
      const text = String(c.props[field]);
      assert.ok(!text.includes(GIVEN) && !text.includes(GENERATED) && !text.includes("$2y$") && !text.includes("{SHA}"), `${c.name}.${field} holds a password or hash`);
    }
  }
  const config = await resolve(outputs.proxyConfig as pulumi.Output<string>);
  assert.match(config, /auth_basic "Workshop";/);
  assert.ok(!config.includes(GIVEN) && !config.includes("$2"), "the public rendered config holds no secret");
});

test("split auth: the generated password is a secret stack output of its own; the given one is not exported", async () => {
  const out = outputs["splitAuthPassword-tutor"] as pulumi.Output<string>;
  assert.ok(out, `outputs: ${Object.keys(outputs).join(", ")}`);
  assert.equal(await pulumi.isSecret(out), true);
  assert.equal(await resolve(out), GENERATED);
  assert.equal(outputs["splitAuthPassword-workshop"], undefined);
  for (const [k, v] of Object.entries(outputs)) {
    if (k.startsWith("splitAuthPassword-")) continue;
    assert.ok(!JSON.stringify(await resolve(pulumi.output(v))).includes(GIVEN), `output ${k} leaks the given password`);
  }
});
