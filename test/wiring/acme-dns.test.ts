/**
 * Wiring tier, DNS-01 and External Account Binding (issue 20): the real program under Pulumi's
 * mocks with dns-01, per-user subdomains, a wildcard extra site and EAB. The TSIG key and the EAB
 * HMAC key must reach exactly one resource — the acme-secrets step, as secret stdin — and nothing
 * else: no other step's stdin, no command line, no output.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

interface Seen {
  type: string;
  name: string;
  parent?: string;
  dependsOn: string[];
  props: Record<string, unknown>;
}
const seen: Seen[] = [];
const TSIG = Buffer.alloc(32, 3).toString("base64"); // "AwMD…": distinctive enough to search for
const EAB = "eab_HMAC-key-of-the-wiring-test";

pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type === "tls:index/privateKey:PrivateKey") state.privateKeyPem = "KEY";
      if (args.type.startsWith("tls:index/") && /Cert$/.test(args.type)) state.certPem = `CERT(${args.name})`;
      if (args.type === "tls:index/certRequest:CertRequest") state.certRequestPem = "CSR";
      return { id: `${args.name}-id`, state };
    },
    call: (args) => args.inputs,
  },
  "jupyterhub-edge",
  "wiring-dns01",
  false,
);

const record: pulumi.ResourceTransformation = (args) => {
  const deps = (args.opts.dependsOn ?? []) as pulumi.Resource[];
  const nameOf = (r: pulumi.Resource | undefined) => (r ? (r as unknown as { __name?: string }).__name : undefined);
  seen.push({ type: args.type, name: args.name, parent: nameOf(args.opts.parent), dependsOn: (Array.isArray(deps) ? deps : [deps]).map((d) => nameOf(d)!).filter(Boolean), props: args.props });
  return undefined;
};

function resolve<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((ok) => o.apply((v) => { ok(v); return v; }));
}

let outputs: Record<string, pulumi.Output<unknown> | string>;
const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "jhe-wiring-dns-")), "id_ed25519");
fs.writeFileSync(keyFile, "-----BEGIN OPENSSH PRIVATE KEY-----\nX\n-----END OPENSSH PRIVATE KEY-----\n", { mode: 0o600 });

before(async () => {
  const { loadFromStrings } = await import("../../config/load");
  const { deploy } = await import("../../program");
  const config = loadFromStrings(
    {
      host: "203.0.113.10",
      sshPrivateKeyFile: keyFile,
      hubDomain: "hub.example.org",
      certificateMode: "acme",
      acmeEmail: "admin@example.org",
      acmeChallenge: "dns-01",
      acmeDns: JSON.stringify({ server: "192.0.2.53", tsigKeyName: "acme-update" }),
      acmeDnsTsigSecret: TSIG,
      acmeEabKeyId: "kid-1",
      acmeEabHmacKey: EAB,
      hubSubdomains: "true",
      extraSites: JSON.stringify([{ domain: "*.example.org" }, { domain: "own.example.org", certificateMode: "selfSigned" }]),
    },
    undefined,
    process.cwd(),
  );
  outputs = deploy(config, { transformations: [record] }) as unknown as Record<string, pulumi.Output<unknown>>;
  await new Promise((r) => setTimeout(r, 200));
});

const commands = () => seen.filter((s) => s.type === "command:remote:Command");
const byName = (n: string) => {
  const s = seen.find((r) => r.name === n);
  assert.ok(s, `no resource named ${n}; have: ${seen.map((r) => r.name).join(", ")}`);
  return s;
};

test("dns-01: the secrets step belongs to the ACME component, runs before certbot, and certbot's undo runs before it", () => {
  const secrets = byName("edge-acme-acme-secrets");
  assert.equal(secrets.parent, "edge-acme");
  assert.deepEqual(secrets.dependsOn, ["edge-host-preflight"]);
  assert.ok(byName("edge-acme-acme-certificates").dependsOn.includes("edge-acme-acme-secrets"));
});

test("dns-01: the TSIG and EAB keys are in the secret stdin of acme-secrets and nowhere else", async () => {
  const secrets = byName("edge-acme-acme-secrets");
  assert.equal(await pulumi.isSecret(secrets.props.stdin as pulumi.Output<string>), true, "acme-secrets' stdin is secret");
  assert.equal(secrets.props.logging, "none", "its output is not logged");
  const payload = await resolve(secrets.props.stdin as pulumi.Output<string>);
  assert.match(payload, /^file \/etc\/jupyterhub-edge\/acme-dns-rfc2136\.ini 0600$/m);
  assert.match(payload, /^file \/etc\/jupyterhub-edge\/acme-eab\.ini 0600$/m);
  assert.ok(payload.includes(TSIG) && payload.includes(EAB));
  for (const c of commands().filter((c) => c !== secrets)) {
    for (const prop of ["create", "update", "delete", "stdin", "triggers", "environment"]) {
      const v = c.props[prop];
      if (v === undefined) continue;
      const text = JSON.stringify(await resolve(pulumi.output(v)));
      assert.ok(!text.includes(TSIG) && !text.includes(EAB), `${c.name}.${prop} holds an ACME secret`);
    }
  }
  for (const [k, v] of Object.entries(outputs)) {
    const text = JSON.stringify(await resolve(pulumi.output(v)));
    assert.ok(!text.includes(TSIG) && !text.includes(EAB), `output ${k} holds an ACME secret`);
  }
});

test("per-user subdomains: the self-signed leaf of a wildcard site is named without '*' and covers the wildcard", async () => {
  const csr = byName("edge-certs-own.example.org-csr");
  assert.deepEqual(await resolve(pulumi.output(csr.props.dnsNames as string[])), ["own.example.org"]);
  assert.ok(!seen.some((s) => s.name.includes("*")), "no resource name holds '*'");
  const hubBlock = String(await resolve(pulumi.output(byName("edge-hub-hub-bind-url").props.stdin as string)));
  assert.match(hubBlock, /^\|c\.JupyterHub\.subdomain_host = 'https:\/\/hub\.example\.org'$/m);
});
