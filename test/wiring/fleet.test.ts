/**
 * Wiring tier, fleets: the real program under Pulumi's mocks with several servers in one stack.
 * Single-host stacks keep every URN; each server is its own subgraph (no dependency between
 * servers, so nothing serialises them); per-host overrides reach only their host; adding or
 * removing a server leaves the others' resources exactly as they were; outputs per server.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { mockState, registeredUrns, singleHostConfig } from "../support/single-host-urns";

pulumi.runtime.setMocks(
  { newResource: (a) => ({ id: `${a.name}-id`, state: mockState(a.type, a.name, a.inputs) }), call: (a) => a.inputs },
  "jupyterhub-edge",
  "wiring",
  false,
);

interface Seen {
  type: string;
  name: string;
  parent?: string;
  dependsOn: string[];
  props: Record<string, unknown>;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-fleet-wiring-"));
const keyFile = path.join(dir, "id_ed25519");
fs.writeFileSync(keyFile, "-----BEGIN OPENSSH PRIVATE KEY-----\nSSH-SECRET-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----\n", { mode: 0o600 });
const roomBKey = path.join(dir, "room-b_ed25519");
fs.writeFileSync(roomBKey, "-----BEGIN OPENSSH PRIVATE KEY-----\nROOM-B-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----\n", { mode: 0o600 });
const hostKey = (n: number) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForFleetWiringTests00000000000${n}`;

const entries = {
  a: { name: "a", host: "203.0.113.11", hostKey: hostKey(1), hubDomain: "hub-a.example.org", extraSites: [{ domain: "www-a.example.org" }] },
  b: { name: "b", host: "203.0.113.12", hostKey: hostKey(2), hubDomain: "hub-b.example.org", proxy: "apache", platform: "debian-12", sshPort: "2222", sshPrivateKeyFile: roomBKey },
  c: { name: "c", host: "203.0.113.13", hostKey: hostKey(3), hubDomain: "hub-c.example.org", certificateMode: "acme", hubPath: "/jhub/" },
};
const fleetStrings = (...names: (keyof typeof entries)[]) => ({
  sshPrivateKeyFile: keyFile,
  acmeEmail: "admin@example.org",
  maxUploadMb: "1024",
  hosts: JSON.stringify(names.map((n) => entries[n])),
});

function unwrap<T>(o: pulumi.Input<T>): Promise<T> {
  return new Promise((ok) => pulumi.output(o).apply((v) => { ok(v as T); return v; }));
}

/** Deploys the program for some config strings, recording every resource and its options. */
async function deployed(strings: Record<string, string>): Promise<{ seen: Seen[]; outputs: Record<string, unknown> }> {
  const seen: Seen[] = [];
  const nameOf = (r: pulumi.Resource | undefined) => (r ? (r as unknown as { __name?: string }).__name : undefined);
  const record: pulumi.ResourceTransformation = (args) => {
    const deps = (args.opts.dependsOn ?? []) as pulumi.Resource[];
    seen.push({ type: args.type, name: args.name, parent: nameOf(args.opts.parent), dependsOn: (Array.isArray(deps) ? deps : [deps]).map((d) => nameOf(d)!).filter(Boolean), props: args.props });
    return undefined;
  };
  const { loadStackFromStrings } = await import("../../config/fleet");
  const { deployStack } = await import("../../program");
  const outputs = deployStack(loadStackFromStrings(strings, undefined, dir), { transformations: [record] }) as unknown as Record<string, unknown>;
  await new Promise((r) => setTimeout(r, 200));
  return { seen, outputs };
}

/** A resource's inputs as the provider would get them: every Output resolved. */
async function resolvedInputs(s: Seen): Promise<unknown> {
  return unwrap(pulumi.output(s.props));
}

let singleUrns: string[];
let fleet: { seen: Seen[]; outputs: Record<string, unknown> };

before(async () => {
  // First, alone in this process: the URNs a single-host stack registers.
  const { loadStackFromStrings } = await import("../../config/fleet");
  const { deployStack } = await import("../../program");
  deployStack(loadStackFromStrings(singleHostConfig("/dev/null"), undefined, "/"));
  await new Promise((r) => setTimeout(r, 500));
  singleUrns = registeredUrns();
  fleet = await deployed(fleetStrings("a", "b", "c"));
});

test("a single-host stack keeps every resource URN it had before fleets (no renames on upgrade)", () => {
  const expected = fs.readFileSync(path.join(__dirname, "../fixtures/urns/single-host.txt"), "utf8").trim().split("\n");
  // Resources added since are new URNs, not renames: brute-force protection (issue 21, on by
  // default) and the drift watch (issue 22).
  const added = /jupyterhub-edge:security:BruteForceProtection|jupyterhub-edge:index:ServerState::edge-drift$|pulumi:providers:jupyterhub-edge::edge-drift-provider$/;
  assert.deepEqual(singleUrns.filter((u) => !added.test(u)), expected);
  assert.equal(singleUrns.filter((u) => added.test(u)).length, 5, "the BruteForceProtection component and its two steps, the ServerState and its provider");
});

test("each server of a fleet is its own EdgeSite subgraph, named after the entry", () => {
  const sites = fleet.seen.filter((s) => s.type === "jupyterhub-edge:site:EdgeSite").map((s) => s.name).sort();
  assert.deepEqual(sites, ["edge-a", "edge-b", "edge-c"]);
  for (const s of fleet.seen.filter((r) => r.type !== "jupyterhub-edge:site:EdgeSite")) {
    assert.match(s.name, /^edge-[abc]-/, `${s.type} ${s.name} belongs to no server`);
    assert.ok(s.parent && s.parent.split("-").slice(0, 2).join("-") === s.name.split("-").slice(0, 2).join("-"), `${s.name} is parented outside its server (${s.parent})`);
  }
});

test("nothing serialises the servers: no dependency crosses from one server to another", () => {
  const serverOf = (n: string) => n.split("-").slice(0, 2).join("-");
  let edges = 0;
  for (const s of fleet.seen) {
    for (const d of s.dependsOn) {
      edges++;
      assert.equal(serverOf(d), serverOf(s.name), `${s.name} waits for ${d} of another server`);
    }
  }
  assert.ok(edges > 15, "the per-server step order is still wired");
  // The first step of every server depends on nothing: all three start at once.
  for (const n of ["a", "b", "c"]) assert.deepEqual(fleet.seen.find((s) => s.name === `edge-${n}-host-scripts`)?.dependsOn, []);
});

test("every server's steps connect to that server, with its own port, key and pinned host key", async () => {
  const conn = async (n: string) => (await unwrap(fleet.seen.find((s) => s.name === n)!.props.connection as pulumi.Output<Record<string, unknown>>)) as Record<string, unknown>;
  for (const [n, e] of Object.entries(entries)) {
    for (const s of fleet.seen.filter((r) => r.type === "command:remote:Command" && r.name.startsWith(`edge-${n}-`))) {
      const c = await conn(s.name);
      assert.equal(c.host, e.host, s.name);
      assert.equal(c.hostKey, e.hostKey, s.name);
      assert.equal(c.port, n === "b" ? 2222 : 22, s.name);
      assert.match(String(c.privateKey), n === "b" ? /ROOM-B-KEY-MATERIAL/ : /SSH-SECRET-KEY-MATERIAL/, `${s.name}: the entry's own key file replaces the shared one`);
      assert.equal(await pulumi.isSecret(s.props.connection as pulumi.Output<unknown>), true, `${s.name}: connection (with key) is secret`);
    }
  }
});

test("per-host overrides reach only their server; shared keys reach every server", async () => {
  const names = (n: string) => fleet.seen.filter((s) => s.type === "command:remote:Command" && s.name.startsWith(`edge-${n}-`)).map((s) => s.name.replace(`edge-${n}-`, "")).sort();
  assert.ok(names("b").includes("proxy-apache-modules"), "b runs Apache");
  assert.ok(!names("a").includes("proxy-apache-modules") && !names("c").includes("proxy-apache-modules"));
  assert.ok(names("c").includes("acme-acme-certificates") && !names("a").includes("acme-acme-certificates"), "only c uses ACME");
  const stdin = async (n: string) => String(await unwrap(fleet.seen.find((s) => s.name === n)!.props.stdin as pulumi.Input<string>));
  assert.match(await stdin("edge-b-host-preflight"), /^os_version 12$/m, "b checks for Debian 12");
  assert.match(await stdin("edge-a-host-preflight"), /^os_version 13$/m);
  assert.match(await stdin("edge-a-proxy-proxy-config"), /client_max_body_size 1024m;/, "shared maxUploadMb reaches a");
  assert.match(await stdin("edge-b-proxy-proxy-config"), /LimitRequestBody 1073741824/, "shared maxUploadMb reaches b");
  assert.match(await stdin("edge-c-proxy-proxy-config"), /location \/jhub\//, "c's hubPath");
});

test("stack outputs per server: URL, CA, bind_url, rendered config", async () => {
  const hosts = fleet.outputs.hosts as Record<string, Record<string, pulumi.Output<string> | string>>;
  assert.deepEqual(Object.keys(hosts).sort(), ["a", "b", "c"]);
  assert.equal(await unwrap(hosts.a.url), "https://hub-a.example.org/");
  assert.equal(await unwrap(hosts.c.url), "https://hub-c.example.org/jhub/");
  assert.equal(await unwrap(hosts.a.caCertificate), "CA-CERT");
  assert.equal(await unwrap(hosts.c.caCertificate), "", "c uses ACME: no CA to trust");
  assert.equal(hosts.b.hubBindUrl, "http://127.0.0.1:8000/");
  const text = JSON.stringify(await unwrap(pulumi.output(fleet.outputs)));
  assert.ok(!text.includes("FAKE-SECRET") && !text.includes("SSH-SECRET") && !text.includes("ROOM-B-KEY"), "no key in outputs");
});

async function inputsByName(seen: Seen[], server: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const s of seen.filter((r) => r.name.startsWith(`edge-${server}`))) out.set(`${s.type}::${s.name}`, JSON.stringify([s.parent, s.dependsOn, await resolvedInputs(s)]));
  assert.ok(out.size > 8 && [...out.values()].some((v) => v.includes("203.0.113.1")), `server ${server}: inputs were not resolved`);
  return out;
}

test("adding a server leaves the other servers' resources exactly as they were", async () => {
  const two = await deployed(fleetStrings("a", "b"));
  for (const n of ["a", "b"]) {
    assert.deepEqual(await inputsByName(two.seen, n), await inputsByName(fleet.seen, n), `server ${n} changed when c was added`);
  }
});

test("removing a server leaves the other servers' resources exactly as they were", async () => {
  const without = await deployed(fleetStrings("a", "c"));
  assert.ok(!without.seen.some((s) => s.name.startsWith("edge-b")));
  for (const n of ["a", "c"]) {
    assert.deepEqual(await inputsByName(without.seen, n), await inputsByName(fleet.seen, n), `server ${n} changed when b was removed`);
  }
});

test("certificate carry-over: only with acmeCarryOver set; import and export are secret steps, the output a secret", async () => {
  const bundle = Buffer.from("BUNDLE-SECRET-MATERIAL").toString("base64");
  const strings = { ...fleetStrings("a", "c"), acmeCarryOver: JSON.stringify({ "hub-c.example.org": bundle, "old.example.org": "b2xk" }) };
  const { seen, outputs } = await deployed(strings);
  const imp = seen.find((s) => s.name === "edge-c-acme-acme-import")!;
  const exp = seen.find((s) => s.name === "edge-c-acme-acme-export")!;
  assert.ok(imp && exp, "c (ACME) imports and exports");
  assert.ok(!seen.some((s) => s.name.startsWith("edge-a-acme")), "a has no ACME domain");
  assert.deepEqual(seen.find((s) => s.name === "edge-c-acme-acme-certificates")!.dependsOn.sort(), ["edge-c-acme-acme-import", "edge-c-acme-certbot-packages", "edge-c-proxy-proxy-http"]);
  assert.deepEqual(exp.dependsOn, ["edge-c-acme-acme-certificates"]);
  for (const s of [imp, exp]) {
    assert.equal(await pulumi.isSecret(s.props.stdin as pulumi.Output<string>), true, `${s.name}: stdin is secret`);
    assert.equal(s.props.logging, "none", `${s.name}: no output in logs`);
  }
  const payload = String(await unwrap(imp.props.stdin as pulumi.Output<string>));
  assert.equal(payload, `action import\nbundle hub-c.example.org ${bundle}\n`, "only the server's own domains are pushed to it");
  assert.equal(await pulumi.isSecret(outputs.acmeCarryOver as pulumi.Output<unknown>), true, "acmeCarryOver output is secret");
  const carried = (await unwrap(outputs.acmeCarryOver as pulumi.Output<Record<string, string>>)) as Record<string, string>;
  assert.ok("old.example.org" in carried, "bundles of servers no longer in the stack are kept");
});
