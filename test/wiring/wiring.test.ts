/**
 * Wiring tier: the real program under Pulumi's mocks. What resources exist, who parents whom, what
 * depends on what, and what stays secret. No engine, no host.
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
  deleteBeforeReplace?: boolean;
  props: Record<string, unknown>;
}
const seen: Seen[] = [];
const FAKE_KEY = "-----BEGIN PRIVATE KEY-----\nFAKE-SECRET-KEY-MATERIAL\n-----END PRIVATE KEY-----\n";

pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type === "tls:index/privateKey:PrivateKey") state.privateKeyPem = FAKE_KEY;
      if (args.type.startsWith("tls:index/") && args.type.endsWith("Cert:LocallySignedCert")) state.certPem = `CERT(${args.name})`;
      if (args.type === "tls:index/selfSignedCert:SelfSignedCert") state.certPem = "CA-CERT";
      if (args.type === "tls:index/certRequest:CertRequest") state.certRequestPem = "CSR";
      return { id: `${args.name}-id`, state };
    },
    call: (args) => args.inputs,
  },
  "jupyterhub-edge",
  "wiring",
  false,
);

// A transformation sees every resource with its options, which the mock monitor does not record.
const record: pulumi.ResourceTransformation = (args) => {
  const deps = (args.opts.dependsOn ?? []) as pulumi.Resource[];
  const nameOf = (r: pulumi.Resource | undefined) => (r ? (r as unknown as { __name?: string }).__name : undefined);
  seen.push({ type: args.type, name: args.name, parent: nameOf(args.opts.parent), dependsOn: (Array.isArray(deps) ? deps : [deps]).map((d) => nameOf(d)!).filter(Boolean), deleteBeforeReplace: (args.opts as pulumi.CustomResourceOptions).deleteBeforeReplace, props: args.props });
  return undefined;
};

let outputs: Record<string, pulumi.Output<unknown> | string>;
const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "jhe-wiring-")), "id_ed25519");
fs.writeFileSync(keyFile, "-----BEGIN OPENSSH PRIVATE KEY-----\nSSH-SECRET-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----\n", { mode: 0o600 });

function resolve<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((ok) => o.apply((v) => { ok(v); return v; }));
}

before(async () => {
  const { loadFromStrings } = await import("../../config/load");
  const { deploy } = await import("../../program");
  const config = loadFromStrings(
    {
      host: "203.0.113.10",
      sshPrivateKeyFile: keyFile,
      hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForWiringTestsOnly000000000000",
      hubDomain: "hub.example.org",
      extraSites: JSON.stringify([{ domain: "www.example.org" }]),
    },
    undefined,
    process.cwd(),
  );
  seen.push({ type: "jupyterhub-edge:site:EdgeSite", name: "edge", dependsOn: [], props: {} });
  outputs = deploy(config, { transformations: [record] }) as unknown as Record<string, pulumi.Output<unknown>>;
  await new Promise((r) => setTimeout(r, 200));
});

const commands = () => seen.filter((s) => s.type === "command:remote:Command");
const byName = (n: string) => {
  const s = seen.find((r) => r.name === n);
  assert.ok(s, `no resource named ${n}; have: ${seen.map((r) => r.name).join(", ")}`);
  return s;
};

test("components use jupyterhub-edge type tokens and parent their children", () => {
  const types = new Set(seen.map((s) => s.type));
  for (const t of ["jupyterhub-edge:site:EdgeSite", "jupyterhub-edge:host:Host", "jupyterhub-edge:tls:SelfSignedCertificates", "jupyterhub-edge:proxy:ReverseProxy", "jupyterhub-edge:hub:HubBindUrl"]) {
    assert.ok(types.has(t), `missing component ${t}`);
  }
  for (const s of seen.filter((r) => r.type !== "jupyterhub-edge:site:EdgeSite")) {
    assert.ok(s.parent, `${s.type} ${s.name} has no parent component`);
    assert.ok(s.name.startsWith(s.parent!.split("-")[0]), `${s.name} is not named from its parent ${s.parent}`);
  }
});

test("one remote step per plan step, in dependency order", () => {
  const names = commands().map((c) => c.name).sort();
  assert.deepEqual(names, [
    "edge-bruteforce-fail2ban-jail",
    "edge-bruteforce-fail2ban-packages",
    "edge-certs-tls-files",
    "edge-host-preflight",
    "edge-host-scripts",
    "edge-hub-hub-bind-url",
    "edge-proxy-proxy-capacity",
    "edge-proxy-proxy-config",
    "edge-proxy-proxy-http",
    "edge-proxy-proxy-packages",
    "edge-proxy-selinux",
    "edge-proxy-web-roots",
  ]);
  const deps = (n: string) => byName(n).dependsOn.sort();
  assert.deepEqual(deps("edge-host-scripts"), []);
  assert.deepEqual(deps("edge-host-preflight"), ["edge-host-scripts"]);
  for (const n of ["edge-certs-tls-files", "edge-proxy-proxy-packages"]) assert.deepEqual(deps(n), ["edge-host-preflight"]);
  assert.deepEqual(deps("edge-proxy-web-roots"), ["edge-proxy-proxy-packages"]);
  // selinux (auto by default: acts only where SELinux is enabled) before the proxy serves anything.
  assert.deepEqual(deps("edge-proxy-selinux"), ["edge-proxy-proxy-packages", "edge-proxy-web-roots"]);
  assert.deepEqual(deps("edge-proxy-proxy-capacity"), ["edge-proxy-proxy-packages"]);
  assert.deepEqual(deps("edge-proxy-proxy-http"), ["edge-proxy-proxy-capacity", "edge-proxy-proxy-packages", "edge-proxy-selinux", "edge-proxy-web-roots"]);
  assert.deepEqual(deps("edge-proxy-proxy-config"), ["edge-certs-tls-files", "edge-proxy-proxy-http"]);
  assert.deepEqual(deps("edge-hub-hub-bind-url"), ["edge-proxy-proxy-config"]);
  // Brute-force protection (on by default): fail2ban beside the proxy's packages, its jail after the
  // vhosts whose log it reads (and so undone before them, and before fail2ban itself).
  assert.deepEqual(deps("edge-bruteforce-fail2ban-packages"), ["edge-host-preflight"]);
  assert.deepEqual(deps("edge-bruteforce-fail2ban-jail"), ["edge-bruteforce-fail2ban-packages", "edge-proxy-proxy-config"]);
  assert.equal(byName("edge-bruteforce-fail2ban-jail").parent, "edge-bruteforce");
});

test("every step can be undone, and no stack value is spliced into shell text", () => {
  for (const c of commands()) {
    // A short identity: the script installed under its content hash, the step, the mode.
    const identity = c.name === "edge-host-scripts" ? /^bash -s scripts (apply|undo)$/ : /^bash \/usr\/local\/lib\/jupyterhub-edge\/[0-9a-f]{16}\/[a-z-]+\.sh [a-z0-9-]+ (apply|undo)$/;
    assert.match(String(c.props.create), identity, c.name);
    assert.match(String(c.props.create), / apply$/, c.name);
    assert.equal(c.props.update, c.props.create, `${c.name}: update re-applies`);
    assert.match(String(c.props.delete), identity, `${c.name}: delete undoes`);
    assert.equal(String(c.props.delete), String(c.props.create).replace(/ apply$/, " undo"), `${c.name}: delete undoes`);
    for (const value of ["hub.example.org", "www.example.org", "203.0.113.10", "/etc/jupyterhub/jupyterhub_config.py"]) {
      assert.ok(!String(c.props.create).includes(value), `${c.name}: '${value}' appears in command text`);
    }
    assert.equal(c.props.addPreviousOutputInEnv, false);
  }
});

test("secrets stay secret: keys in stdin, SSH key in the connection, nothing in outputs", async () => {
  const tlsStep = byName("edge-certs-tls-files");
  assert.equal(await pulumi.isSecret(tlsStep.props.stdin as pulumi.Output<string>), true, "certificate payload is secret");
  assert.equal(tlsStep.props.logging, "none");
  const tlsPayload = await resolve(tlsStep.props.stdin as pulumi.Output<string>);
  assert.match(tlsPayload, /^file \/etc\/jupyterhub-edge\/tls\/hub\.example\.org\/privkey\.pem 0600$/m, "keys are written 0600");
  assert.ok(tlsPayload.includes("FAKE-SECRET-KEY-MATERIAL"));
  for (const c of commands()) {
    assert.equal(await pulumi.isSecret(c.props.connection as pulumi.Output<unknown>), true, `${c.name}: connection (with key) is secret`);
  }
  const config = byName("edge-proxy-proxy-config");
  const proxyPayload = String(await resolve(pulumi.output(config.props.stdin as string)));
  assert.equal(await pulumi.isSecret(pulumi.output(config.props.stdin)), false, "rendered config stays readable in preview");
  assert.match(proxyPayload, /^\|\s+proxy_pass http:\/\/127\.0\.0\.1:8000;$/m);
  for (const [k, v] of Object.entries(outputs)) {
    const text = JSON.stringify(await resolve(pulumi.output(v)));
    assert.ok(!text.includes("FAKE-SECRET") && !text.includes("SSH-SECRET"), `output ${k} leaks a key`);
  }
});

test("the scripts are installed once, by the first step, and a new version is installed before the old is removed", async () => {
  const { scriptBundle } = await import("../../steps/remote-scripts");
  const install = byName("edge-host-scripts");
  assert.equal(install.props.stdin, scriptBundle().text);
  assert.deepEqual(install.props.triggers, [scriptBundle().id]);
  assert.equal(install.deleteBeforeReplace, undefined, "create-before-delete: the old scripts stay until the end of the update");
  for (const c of commands().filter((c) => c.name !== "edge-host-scripts")) {
    const stdin = String(await resolve(pulumi.output(c.props.stdin as string)));
    assert.ok(!stdin.includes("set -euo pipefail"), `${c.name}: no script in its stdin`);
  }
});

test("switching proxies replaces the proxy steps in place, old one undone first", () => {
  const replaced = ["edge-proxy-proxy-packages", "edge-proxy-proxy-capacity", "edge-proxy-proxy-http", "edge-proxy-proxy-config"];
  for (const n of replaced) {
    assert.deepEqual(byName(n).props.triggers, ["nginx"], `${n}: a proxy change replaces it`);
    assert.equal(byName(n).deleteBeforeReplace, true, `${n}: the old proxy is undone first`);
  }
  for (const c of commands().filter((c) => !replaced.includes(c.name) && c.name !== "edge-host-scripts")) {
    assert.equal(c.props.triggers, undefined, `${c.name} must not be replaced on a proxy switch`);
  }
});

test("host key is pinned and SSH wait is generous on the first step only", async () => {
  const first = await resolve(byName("edge-host-scripts").props.connection as pulumi.Output<Record<string, unknown>>);
  assert.match(String(first.hostKey), /^ssh-ed25519 /);
  assert.equal(first.dialErrorLimit, 60);
  const pre = await resolve(byName("edge-host-preflight").props.connection as pulumi.Output<Record<string, unknown>>);
  assert.ok(Number(pre.dialErrorLimit ?? 10) < 60, "the preflight runs once SSH is known to answer");
  const other = await resolve(byName("edge-proxy-proxy-packages").props.connection as pulumi.Output<Record<string, unknown>>);
  assert.ok(Number(other.dialErrorLimit ?? 10) < 60, "later steps fail fast on a lost host");
  assert.match(String(other.hostKey), /^ssh-ed25519 /);
});

test("certificates: a CA and one ECDSA leaf per domain", () => {
  const keys = seen.filter((s) => s.type === "tls:index/privateKey:PrivateKey");
  assert.equal(keys.length, 3, "CA + hub + www");
  for (const k of keys) assert.equal(k.props.algorithm, "ECDSA");
  assert.equal(seen.filter((s) => s.type === "tls:index/locallySignedCert:LocallySignedCert").length, 2);
});

test("stack outputs: URL, CA, bind_url", async () => {
  assert.equal(await resolve(outputs.url as pulumi.Output<string>), "https://hub.example.org/");
  assert.equal(outputs.hubBindUrl, "http://127.0.0.1:8000/");
  assert.equal(await resolve(outputs.caCertificate as pulumi.Output<string>), "CA-CERT");
});

test("bad config fails before any resource is registered", async () => {
  const { loadFromStrings } = await import("../../config/load");
  const before = seen.length;
  assert.throws(
    () => loadFromStrings({ host: "203.0.113.10", sshPrivateKeyFile: keyFile, hubDomain: "not a domain" }, undefined, process.cwd()),
    /jupyterhub-edge:hubDomain: must be a DNS name/,
  );
  assert.throws(
    () => loadFromStrings({ host: "203.0.113.10", sshPrivateKeyFile: "/nonexistent/key", hubDomain: "hub.example.org" }, undefined, process.cwd()),
    /jupyterhub-edge:sshPrivateKeyFile: cannot read \/nonexistent\/key: ENOENT/,
  );
  assert.equal(seen.length, before);
});
