/**
 * Wiring tier, issue 24: the library's EdgeFleet (lib/index.ts) under Pulumi's mocks — its removal
 * guard. The fleet reads its last deployment's servers from the stack's state (the engine's
 * `pulumi:pulumi:readStackResourceOutputs`, mocked here with the URNs a deployed fleet has) and
 * refuses to drop one that `removeServers` does not name, before declaring any server: the same check
 * and message as the stack config's `removeServers` (config/removals.ts), worded for the argument.
 * The engine proof with a Python program is test/engine/variants/python-fleet.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { mockState } from "../support/single-host-urns";

const STACK = "wiring";
const PROJECT = "jupyterhub-edge";
/** The URNs of the stack's last deployment that the mocked invoke answers with. */
let deployedUrns: string[] = [];
const invokes: string[] = [];
const registered: { type: string; name: string }[] = [];

pulumi.runtime.setMocks(
  {
    newResource: (a) => {
      registered.push({ type: a.type, name: a.name });
      return { id: `${a.name}-id`, state: mockState(a.type, a.name, a.inputs) };
    },
    call: (a) => {
      invokes.push(a.token);
      if (a.token === "pulumi:pulumi:readStackResourceOutputs") {
        return { name: a.inputs.stackName, outputs: Object.fromEntries(deployedUrns.map((u) => [u, { type: u.split("::")[2].split("$").pop(), outputs: {} }])) };
      }
      return a.inputs;
    },
  },
  PROJECT,
  STACK,
  false,
  "organization",
);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-lib-fleet-wiring-"));
const keyFile = path.join(dir, "id_ed25519");
fs.writeFileSync(keyFile, "-----BEGIN OPENSSH PRIVATE KEY-----\nSSH-SECRET-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----\n", { mode: 0o600 });
const hostKey = (n: number) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForFleetWiringTests00000000000${n}`;
const room = (n: number) => ({ name: `room${n}`, host: `203.0.113.${10 + n}`, hostKey: hostKey(n), hubDomain: `hub.room${n}.example.org` });

/** What a deployed fleet leaves in the state for a server: its site and a step under it. */
const serverUrns = (fleet: string, server: string) => [
  `urn:pulumi:${STACK}::${PROJECT}::jupyterhub-edge:index:EdgeFleet$jupyterhub-edge:site:EdgeSite::${fleet}-${server}`,
  `urn:pulumi:${STACK}::${PROJECT}::jupyterhub-edge:index:EdgeFleet$jupyterhub-edge:site:EdgeSite$command:remote:Command::${fleet}-${server}-host-scripts`,
];

/** An Output's value, or its rejection (the refusal surfaces there in a TypeScript program). */
function settle<T>(o: pulumi.Output<T>): Promise<{ value?: T; error?: Error }> {
  return (o as unknown as { promise(): Promise<T> }).promise().then((value) => ({ value }), (error: Error) => ({ error }));
}

// The SDK leaves a failed apply's derived promises unobserved on purpose: a program run fails on
// those unhandled rejections (so the engine deletes nothing). The test runner would report them as
// failures of their own: while a fleet runs here they are collected instead, and each must be the
// refusal itself. The component's registered outputs are not under test (the mock would reject them too).
pulumi.ComponentResource.prototype["registerOutputs"] = function () {};

async function collectingRejections<T>(f: () => Promise<T>): Promise<{ result: T; rejections: unknown[] }> {
  const saved = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  const rejections: unknown[] = [];
  process.on("unhandledRejection", (e) => rejections.push(e));
  try {
    const result = await f();
    await new Promise((r) => setTimeout(r, 300));
    return { result, rejections };
  } finally {
    process.removeAllListeners("unhandledRejection");
    for (const l of saved) process.on("unhandledRejection", l);
  }
}

async function fleetRun(name: string, hosts: number[], removeServers?: string[]) {
  const { result, rejections } = await collectingRejections(() => fleetRunOnce(name, hosts, removeServers));
  for (const e of rejections) assert.equal(String(e), String(result.urls.error), "the only rejection is the refusal");
  return result;
}

async function fleetRunOnce(name: string, hosts: number[], removeServers?: string[]) {
  const { EdgeFleet } = await import("../../lib");
  const before = registered.length;
  type Urls = { value?: Record<string, string>; error?: Error };
  const fleet = new EdgeFleet(name, { sshPrivateKeyFile: keyFile, hosts: hosts.map(room), ...(removeServers ? { removeServers } : {}) });
  const [urls] = await Promise.all([fleet.urls, fleet.caCertificates, fleet.hubBindUrls, fleet.splitAuthPasswords, fleet.acmeCarryOver].map((o) => settle<unknown>(o)));
  await new Promise((r) => setTimeout(r, 200));
  const sites = registered.slice(before).filter((r) => r.type === "jupyterhub-edge:site:EdgeSite").map((r) => r.name).sort();
  return { urls: urls as Urls, sites };
}

test("deployedFromUrns: a fleet's own direct sites only, by server name", async () => {
  const { deployedFromUrns } = await import("../../lib");
  const urns = [
    ...serverUrns("workshop", "room1"),
    ...serverUrns("workshop", "room2"),
    ...serverUrns("other", "room3"), // another fleet
    `urn:pulumi:${STACK}::${PROJECT}::jupyterhub-edge:index:EdgeSite::workshop-room9`, // a top-level EdgeSite named like a server
    `urn:pulumi:other-stack::${PROJECT}::jupyterhub-edge:index:EdgeFleet$jupyterhub-edge:site:EdgeSite::workshop-room8`,
  ];
  const here = `${STACK}::${PROJECT}`;
  assert.deepEqual(deployedFromUrns(urns, here, "jupyterhub-edge:index:EdgeFleet", "workshop"), ["room1", "room2"]);
  assert.deepEqual(deployedFromUrns([], here, "jupyterhub-edge:index:EdgeFleet", "workshop"), [], "never deployed");
  // A fleet inside a component of the caller's: its type chain is not known synchronously; any chain ending in an EdgeFleet matches.
  const nested = `urn:pulumi:${STACK}::${PROJECT}::my:index:Classroom$jupyterhub-edge:index:EdgeFleet$jupyterhub-edge:site:EdgeSite::workshop-room4`;
  assert.deepEqual(deployedFromUrns([...urns, nested], here, undefined, "workshop"), ["room1", "room2", "room4"]);
  assert.deepEqual(deployedFromUrns([...urns, nested], here, "my:index:Classroom$jupyterhub-edge:index:EdgeFleet", "workshop"), ["room4"]);
});

test("a fleet never deployed, or keeping every server, or adding one: declared, no refusal", async () => {
  deployedUrns = [];
  const first = await fleetRun("fresh", [1, 2]);
  assert.equal(first.urls.error, undefined);
  assert.deepEqual(first.sites, ["fresh-room1", "fresh-room2"]);
  assert.ok(invokes.includes("pulumi:pulumi:readStackResourceOutputs"), "the fleet read the stack's state");
  deployedUrns = [...serverUrns("grown", "room1"), ...serverUrns("grown", "room2")];
  const grown = await fleetRun("grown", [1, 2, 3]);
  assert.equal(grown.urls.error, undefined);
  assert.deepEqual(Object.keys(grown.urls.value ?? {}).sort(), ["room1", "room2", "room3"]);
});

test("dropping a deployed server without removeServers is refused before any server is declared, with the stack path's message worded for the argument", async () => {
  deployedUrns = [...serverUrns("workshop", "room1"), ...serverUrns("workshop", "room2")];
  const r = await fleetRun("workshop", [1]);
  assert.ok(r.urls.error, "refused");
  assert.match(r.urls.error.message, /jupyterhub-edge:hosts: server room2 was deployed by this EdgeFleet and is not among hosts any more; this up would tear its site down and delete its CA and split-auth passwords for good\. If you renamed it, give it its name back; to remove it, confirm it in the EdgeFleet's removeServers argument \(Python: remove_servers=\["room2"\]\)/);
  assert.match(r.urls.error.message, /\(nothing was changed: fix the config and run again\)$/);
  assert.deepEqual(r.sites, [], "no server of the fleet was declared (so no SSH step, and the run fails before any delete)");
});

test("with removeServers naming it, the dropped server goes and the others are declared; a kept server in removeServers is refused", async () => {
  deployedUrns = [...serverUrns("confirmed", "room1"), ...serverUrns("confirmed", "room2")];
  const r = await fleetRun("confirmed", [1], ["room2"]);
  assert.equal(r.urls.error, undefined);
  assert.deepEqual(r.sites, ["confirmed-room1"]);
  deployedUrns = [...serverUrns("stale", "room1")];
  const stale = await fleetRun("stale", [1], ["room1"]);
  assert.match(stale.urls.error?.message ?? "", /jupyterhub-edge:removeServers: room1 is also in the config, so it is kept: take it out of removeServers/);
  assert.deepEqual(stale.sites, []);
});

test("removeServers is validated like the stack config's key", async () => {
  const { EdgeFleet } = await import("../../lib");
  assert.throws(() => new EdgeFleet("bad", { sshPrivateKeyFile: keyFile, hosts: [room(1)], removeServers: ["Room 2"] }), /jupyterhub-edge:removeServers: must be a list of server names/);
});
