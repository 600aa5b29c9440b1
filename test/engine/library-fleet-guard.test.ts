/**
 * Engine tier, issue 24: the library's EdgeFleet removal guard from a TypeScript program (an
 * Automation API inline program in this process: the Node SDK as a TypeScript consumer runs it),
 * through the real engine and a file backend, in seconds and without a server: the stack's state is
 * seeded with what a deployed two-server fleet leaves (its component and its `workshop-room1` /
 * `workshop-room2` sites), then a program whose EdgeFleet lists room1 only is refused — in `preview`
 * and in `up` — with the removeServers message, and the run deletes nothing. The program function
 * returns nothing: under the Automation API a refusal found only in an Output would come too late
 * (the SDK signals the run done, and the engine deletes, before it reports such errors — seen with an
 * earlier version of the guard, which lost both sites here), so the constructor must throw. No server
 * of the fleet is declared, so no SSH is attempted (documentation addresses, never reached).
 * The Python twin, on two sandbox hosts with the confirmed removal too: variants/python-fleet.test.ts.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { repoRoot, tolerateFailedRunRejections } from "../../scripts/automation";
import { languageHostMissing } from "./consumer";
import { EdgeFleet } from "../../lib";

const TAG = "library fleet guard";
const missing = spawnSync("pulumi", ["version"]).status !== 0 ? "pulumi CLI not on PATH (source scripts/toolchain/env.sh)" : "";

if (missing) {
  console.log(`SKIP engine tier (${TAG}): ${missing}`);
  test(`engine ${TAG}`, { skip: `missing: ${missing}` }, () => {});
} else {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-lib-fleet-guard-"));
  const keyFile = path.join(work, "id_ed25519");
  fs.writeFileSync(keyFile, "-----BEGIN OPENSSH PRIVATE KEY-----\nNOT-A-KEY\n-----END OPENSSH PRIVATE KEY-----\n", { mode: 0o600 });
  const room = (n: number) => ({ name: `room${n}`, host: `203.0.113.${10 + n}`, hostKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForFleetWiringTests00000000000${n}`, hubDomain: `hub.room${n}.example.org` });
  let program: () => Promise<void> = async () => {};
  let stack: Stack;
  const passphrase = randomBytes(16).toString("hex");
  const urns = async (): Promise<string[]> => ((await stack.exportStack()).deployment.resources ?? []).map((r: { urn: string }) => r.urn).sort();

  before(async () => {
    tolerateFailedRunRejections(/removeServers/);
    fs.mkdirSync(path.join(work, "backend"));
    const pulumiCommand = await PulumiCommand.get({ skipVersionCheck: true });
    stack = await LocalWorkspace.createOrSelectStack(
      { stackName: "guard", projectName: "consumer", program: () => program() },
      {
        workDir: work,
        pulumiCommand,
        projectSettings: { name: "consumer", runtime: "nodejs", backend: { url: `file://${path.join(work, "backend")}` } },
        envVars: {
          PULUMI_CONFIG_PASSPHRASE: passphrase,
          PULUMI_SKIP_UPDATE_CHECK: "true",
          PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
          PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
        },
      },
    );
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  test(`engine ${TAG}: a TypeScript program's fleet refuses to drop a deployed server, in preview and up, deleting nothing`, async () => {
    // What a deployed fleet "workshop" of room1 and room2 leaves in the state (components only).
    program = async () => {
      const fleet = new pulumi.ComponentResource("jupyterhub-edge:index:EdgeFleet", "workshop", {});
      for (const r of ["room1", "room2"]) new pulumi.ComponentResource("jupyterhub-edge:site:EdgeSite", `workshop-${r}`, {}, { parent: fleet });
    };
    await stack.up();
    const seeded = await urns();
    assert.equal(seeded.filter((u: string) => u.includes("jupyterhub-edge:site:EdgeSite::workshop-room")).length, 2);

    program = async () => {
      new EdgeFleet("workshop", { sshPrivateKeyFile: keyFile, hosts: [room(1)] });
    };
    const expected = "jupyterhub-edge:hosts: server room2 was deployed by this EdgeFleet and is not among hosts any more";
    for (const op of ["preview", "up"] as const) {
      const t0 = Date.now();
      const err = await (op === "up" ? stack.up() : stack.preview()).then(() => undefined, (e: Error) => e);
      console.log(`# ${TAG} ${op}, room2 dropped: ${err ? "refused" : "ran"} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      assert.ok(err, `${op} must fail`);
      assert.ok(err.message.includes(expected) && err.message.includes('removeServers argument (Python: remove_servers=["room2"])'), `${op}: the refusal:\n${err.message.slice(-2000)}`);
      assert.match(err.message, /nothing was changed: fix the config and run again/);
    }
    const after = await urns();
    const added = after.filter((u) => !seeded.includes(u));
    console.log(`# ${TAG}: ${seeded.length} resources before, ${after.length} after${added.length ? ` (added: ${added.join(", ")})` : ""}`);
    assert.deepEqual(seeded.filter((u) => !after.includes(u)), [], "nothing deleted");
    // The engine's default provider of the builtin `pulumi` package, which served the state read.
    assert.deepEqual(added.filter((u) => !u.endsWith("::pulumi:providers:pulumi::default")), [], "nothing else added");
  });

  test(`engine ${TAG}: the same through \`pulumi up\` of a JavaScript project (the nodejs language host)`, async (t) => {
    const host = languageHostMissing("nodejs");
    if (host) return t.skip(host);
    const seeded = await urns();
    const dir = path.join(work, "js");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: consumer\nruntime: nodejs\nmain: index.js\n");
    fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(dir, "node_modules"));
    const room1 = JSON.stringify(room(1));
    fs.writeFileSync(path.join(dir, "index.js"), `const { EdgeFleet } = require(${JSON.stringify(path.join(repoRoot, "dist", "lib"))});\nnew EdgeFleet("workshop", { sshPrivateKeyFile: ${JSON.stringify(keyFile)}, hosts: [${room1}] });\n`);
    const build = spawnSync("npm", ["run", "--silent", "build:lib"], { cwd: repoRoot, encoding: "utf8" });
    assert.equal(build.status, 0, build.stderr);
    const t0 = Date.now();
    const out = await new Promise<{ code: number; text: string }>((resolve) => {
      const p = spawn("pulumi", ["up", "--yes", "--skip-preview", "--non-interactive", "--stack", "guard"], {
        cwd: dir,
        env: { ...process.env, PULUMI_BACKEND_URL: `file://${path.join(work, "backend")}`, PULUMI_CONFIG_PASSPHRASE: passphrase, PULUMI_SKIP_UPDATE_CHECK: "true", PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let text = "";
      p.stdout.on("data", (d) => (text += d));
      p.stderr.on("data", (d) => (text += d));
      p.on("close", (code) => resolve({ code: code ?? -1, text }));
    });
    console.log(`# ${TAG} pulumi up (nodejs language host), room2 dropped: exit ${out.code} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.notEqual(out.code, 0);
    assert.ok(out.text.includes("jupyterhub-edge:hosts: server room2 was deployed by this EdgeFleet"), out.text.slice(-2000));
    const after = await urns();
    assert.deepEqual(seeded.filter((u) => !after.includes(u)), [], "nothing deleted");
  });
}
