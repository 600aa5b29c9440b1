/**
 * Engine tier, issue 24: examples/python-fleet — a Python program's EdgeFleet of two sandbox hosts,
 * through `pulumi package add` (the component provider in provider/, a generated SDK) and the real
 * engine. Proves, in order:
 *   - up creates both servers' edges, and a kernel runs print(6*7) → 42 through each server's proxy;
 *   - a second up changes nothing;
 *   - dropping a server without confirmation is refused before any SSH, naming removeServers, and
 *     deletes nothing (the stack's resource count before and after);
 *   - with removeServers naming it, the next up removes that server's edge only and leaves its host
 *     as it was found; the other server is untouched;
 *   - destroy leaves both hosts as found.
 * Variants tier: two hosts and a cold Python program take ~5.5 min on a loaded 2-core machine, past
 * the default run's budget; the guard's logic runs by default under mocks (test/wiring/library-fleet.test.ts)
 * and the Python single-site consumer (test/engine/python-consumer.test.ts) covers the package path.
 * Without the Python language host it prints one SKIP line.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import { repoRoot } from "../../../scripts/automation";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, ssh } from "../../support/sandbox";
import { probeHubKernel } from "../../support/hub-probe";
import { missingToolchain } from "../scenario";
import { consumerEnv, languageHostMissing, makeRunner } from "../consumer";

const example = path.join(repoRoot, "examples", "python-fleet");
const stateHome = process.env.JHE_STATE_HOME ?? path.join(process.env.HOME ?? "/root", ".local/state/jupyterhub-edge");
const pin = /^pulumi==(\S+)$/m.exec(fs.readFileSync(path.join(example, "requirements.txt"), "utf8"))?.[1] ?? "unpinned";
/** The same venv as python-consumer.test.ts (the same pin): made once per machine from PyPI, reused. */
const venv = path.join(stateHome, `python-venv-${pin}`);
const ROOMS = ["room1", "room2"] as const;
type Room = (typeof ROOMS)[number];
const hub = (r: Room) => `hub.${r}.pyfleet.engine.test`;
const TAG = "python fleet";

const missing = missingToolchain() || languageHostMissing("python") || (spawnSync("python3", ["-c", "import venv, ensurepip"]).status !== 0 ? "python3 with venv and ensurepip" : "");
if (missing) {
  console.log(`SKIP engine tier (${TAG}): ${missing}`);
  test(`engine ${TAG}`, { skip: `missing: ${missing}` }, () => {});
} else {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-python-fleet-"));
  fs.mkdirSync(path.join(work, "backend"));
  const dir = path.join(work, "project");
  const env = consumerEnv(work, randomBytes(16).toString("hex"));
  const log: string[] = [];
  const run = makeRunner(env, dir, log);
  const pulumi = (...args: string[]) => run("pulumi", [...args, "--non-interactive"]);
  const up = (allowFail = false) => run("pulumi", ["up", "--yes", "--skip-preview", "--non-interactive"], { allowFail });
  const secs = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  /** The `Resources:` section of an up: counts by kind. */
  const changes = (out: string): Record<string, number> => {
    const section = out.slice(out.lastIndexOf("Resources:"));
    const counts: Record<string, number> = {};
    for (const m of section.matchAll(/^\s+[+~-]?\s*(\d+) (created|updated|deleted|replaced|unchanged|errored)/gm)) counts[m[2]] = Number(m[1]);
    return counts;
  };
  /** The stack's resources (URNs in its export). */
  const urns = async (): Promise<string[]> => ((JSON.parse((await pulumi("stack", "export")).out) as { deployment: { resources?: { urn: string }[] } }).deployment.resources ?? []).map((r) => r.urn);
  const acceptedSessions = (h: SandboxHost): number => Number(ssh(h, "journalctl -q --no-pager -o cat _COMM=sshd-session _COMM=sshd | grep -c '^Accepted ' || true").stdout.trim());
  const hosts = new Map<Room, SandboxHost>();
  const asFound = new Map<Room, string>();
  const H = (r: Room) => hosts.get(r)!;
  const setServers = async (rooms: readonly Room[]) => {
    await run("pulumi", ["config", "rm", "servers"], { allowFail: true });
    for (const [i, r] of rooms.entries()) {
      const fields = { name: r, host: H(r).addr, sshKeyFile: H(r).sshKey, hostKeyFile: H(r).hostKeyFile, hubDomain: hub(r) };
      for (const [k, v] of Object.entries(fields)) await pulumi("config", "set", "--path", `servers[${i}].${k}`, v);
    }
  };

  before(async () => {
    const t0 = Date.now();
    for (const [i, r] of ROOMS.entries()) {
      hosts.set(r, createHost(`pyfleet-${r}`, "trixie"));
      asFound.set(r, fingerprint(H(r)));
      void i;
    }
    console.log(`# ${TAG}: two hosts in ${secs(t0)}`);
    await run("npm", ["run", "--silent", "build:lib"], { cwd: repoRoot });
    fs.mkdirSync(dir, { recursive: true });
    for (const f of ["Pulumi.yaml", "requirements.txt", "__main__.py"]) fs.copyFileSync(path.join(example, f), path.join(dir, f));
    const ready = path.join(venv, ".jhe-ready");
    if (!fs.existsSync(ready)) {
      fs.rmSync(venv, { recursive: true, force: true });
      await run("python3", ["-m", "venv", venv]);
      await run(path.join(venv, "bin", "python"), ["-m", "pip", "install", "-q", "-r", path.join(example, "requirements.txt")], { timeoutMs: 10 * 60_000 });
      fs.writeFileSync(ready, `${pin}\n`);
    }
    const project = path.join(dir, "Pulumi.yaml");
    fs.writeFileSync(project, fs.readFileSync(project, "utf8").replace(/virtualenv: venv$/m, `virtualenv: ${venv}`));
    await pulumi("package", "add", path.join(repoRoot, "provider"));
    await pulumi("stack", "init", "pyfleet");
    await setServers(ROOMS);
    console.log(`# ${TAG}: hosts, package and project ready in ${secs(t0)}`);
  });
  after(async () => {
    if (process.env.JHE_KEEP_HOSTS === "1") return;
    try { await pulumi("destroy", "--yes", "--skip-preview"); } catch { /* already destroyed, or the failure is reported by a test */ }
    for (const r of ROOMS) {
      try { removeHost(`pyfleet-${r}`); } catch (e) { console.log(`# ${String(e)}`); }
    }
    if (process.env.JHE_KEEP_LOGS === "1") fs.writeFileSync(path.join(work, "log.txt"), log.join("\n"));
    else fs.rmSync(work, { recursive: true, force: true });
  });

  let cas: Record<string, string> = {};

  test(`engine ${TAG}: up creates both servers' edges, a kernel runs through each proxy`, async () => {
    const t0 = Date.now();
    const res = await up();
    const n = (await urns()).length;
    console.log(`# ${TAG} up: ${JSON.stringify(changes(res.out))} in ${secs(t0)}; ${n} resources in the stack`);
    const outputs = JSON.parse((await pulumi("stack", "output", "--json")).out) as Record<string, Record<string, string> | string>;
    assert.deepEqual(outputs.urls, Object.fromEntries(ROOMS.map((r) => [r, `https://${hub(r)}/`])));
    assert.equal(outputs.splitAuthPasswords, "[secret]");
    cas = outputs.caCertificates as Record<string, string>;
    for (const r of ROOMS) {
      assert.match(cas[r], /BEGIN CERTIFICATE/);
      const k = await probeHubKernel({ baseUrl: `https://${hub(r)}/`, connectTo: { host: H(r).addr }, ca: cas[r], username: H(r).hubUser, password: H(r).hubPassword });
      assert.match(k.output, /42/);
      console.log(`# ${TAG}: ${r}: kernel through its proxy: ${k.output.trim()} in ${k.totalMs} ms`);
    }
  });

  test(`engine ${TAG}: a second up changes nothing`, async () => {
    const before = ROOMS.map((r) => fingerprint(H(r)));
    const t0 = Date.now();
    const res = await up();
    console.log(`# ${TAG} second up: ${JSON.stringify(changes(res.out))} in ${secs(t0)}`);
    assert.deepEqual(Object.keys(changes(res.out)), ["unchanged"], res.out.slice(-2000));
    ROOMS.forEach((r, i) => assert.equal(fingerprintDiff(before[i], fingerprint(H(r))), "", r));
  });

  test(`engine ${TAG}: dropping a server without removeServers is refused before any SSH, deleting nothing`, async () => {
    const before = ROOMS.map((r) => fingerprint(H(r)));
    const sessions = ROOMS.map((r) => acceptedSessions(H(r)));
    const resourcesBefore = (await urns()).length;
    await setServers(["room1"]);
    const t0 = Date.now();
    const res = await up(true);
    const shown = res.out.slice(res.out.indexOf("Diagnostics:"));
    const resourcesAfter = (await urns()).length;
    console.log(`# ${TAG} room2 dropped, unconfirmed: exit ${res.code} in ${secs(t0)}; ${JSON.stringify(changes(res.out))}; resources ${resourcesBefore} before, ${resourcesAfter} after\n${shown.split("\n").slice(0, 8).map((l) => `#   ${l}`).join("\n")}`);
    assert.notEqual(res.code, 0, "the run fails");
    const expected = "jupyterhub-edge:hosts: server room2 was deployed by this EdgeFleet and is not among hosts any more; this up would tear its site down and delete its CA and split-auth passwords for good. If you renamed it, give it its name back; to remove it, confirm it in the EdgeFleet's removeServers argument (Python: remove_servers=[\"room2\"])";
    assert.ok(res.out.includes(expected), `the refusal:\n  ${expected}\nnot in:\n${res.out.slice(-3000)}`);
    assert.match(res.out, /\(nothing was changed: fix the config and run again\)/);
    assert.equal(changes(res.out).deleted ?? 0, 0);
    assert.equal(resourcesAfter, resourcesBefore, "the stack still has every resource");
    const outputs = JSON.parse((await pulumi("stack", "output", "--json")).out) as Record<string, Record<string, string>>;
    assert.deepEqual(Object.keys(outputs.urls ?? {}), [...ROOMS], "the stack's outputs still name both servers");
    ROOMS.forEach((r, i) => {
      assert.equal(acceptedSessions(H(r)) - sessions[i] - 1, 0, `no SSH session reached ${r}`); // -1: the count's own session
      assert.equal(fingerprintDiff(before[i], fingerprint(H(r))), "", r);
    });
  });

  test(`engine ${TAG}: with removeServers, up removes that server's edge only and leaves its host as found`, async () => {
    const room1Before = fingerprint(H("room1"));
    const resourcesBefore = await urns();
    await pulumi("config", "set", "--path", "removeServers[0]", "room2");
    const t0 = Date.now();
    const res = await up();
    const after = await urns();
    const counts = changes(res.out);
    console.log(`# ${TAG} room2 removed, confirmed: ${JSON.stringify(counts)} in ${secs(t0)}; resources ${resourcesBefore.length} → ${after.length}`);
    const gone = resourcesBefore.filter((u) => !after.includes(u));
    assert.ok(gone.length > 0 && gone.every((u) => u.includes("workshop-room2")), `only room2's resources go:\n${gone.join("\n")}`);
    assert.equal(counts.created ?? 0, 0);
    assert.equal(fingerprintDiff(asFound.get("room2")!, fingerprint(H("room2"))), "", "room2 as it was found");
    assert.equal(fingerprintDiff(room1Before, fingerprint(H("room1"))), "", "room1 untouched");
    const outputs = JSON.parse((await pulumi("stack", "output", "--json")).out) as Record<string, Record<string, string>>;
    assert.deepEqual(Object.keys(outputs.urls), ["room1"]);
    const again = await up();
    assert.deepEqual(Object.keys(changes(again.out)), ["unchanged"], "removeServers left set: the next up is a no-op");
  });

  test(`engine ${TAG}: destroy leaves both hosts as found`, async () => {
    const t0 = Date.now();
    const res = await pulumi("destroy", "--yes", "--skip-preview");
    console.log(`# ${TAG} destroy: ${JSON.stringify(changes(res.out))} in ${secs(t0)}`);
    for (const r of ROOMS) assert.equal(fingerprintDiff(asFound.get(r)!, fingerprint(H(r))), "", `${r} differs from how it was found`);
  });
}
