/**
 * Engine tier (variants): a stack deployed by an earlier version of this program, upgraded in place
 * by this one — what a team sees when it updates the package under a live workshop hub.
 *
 * The earlier version (JHE_UPGRADE_FROM, a commit; default: the last one before issue 23's refactor
 * of the program/script contract) is unpacked beside this checkout with `git archive`. Its own
 * `pulumi up` deploys nginx with split auth, an extra domain and brute-force protection on a fresh
 * host. Then this checkout's `pulumi preview` and `pulumi up` run on the same stack (same backend,
 * same stack file) while a probe loop acts as the users.
 *
 * What an upgrade may do: replace the install step (a new script version is installed beside the
 * old one and the old one removed at the end: `newVersionOn`) and update steps whose command (the
 * installed script's hash) or payload changed, re-running their idempotent apply. What it must not:
 * replace, create or delete any other resource; change a byte of a file the site serves from, or a
 * mode or owner; reload or restart the proxy, the hub or fail2ban; fail one user request. The next
 * preview is empty, and this version's destroy leaves the host as it was found.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import * as yaml from "js-yaml";
import { repoRoot } from "../../../scripts/automation";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, ssh } from "../../support/sandbox";
import { ProbeLoop, formatProbeReport, startProbeLoop } from "../../support/probe-loop";
import { missingToolchain } from "../scenario";

const FROM = process.env.JHE_UPGRADE_FROM ?? "fd4a9d0";
const STACK = "upgrade";
const HUB = "hub.upgrade.test";
const WWW = "www.upgrade.test";
const USER = "tutor";
const hostName = "engine-upgrade";

/** Plain `pulumi` of a TypeScript project needs the nodejs language host (scripts/toolchain/check-plugins.sh). */
const languageHost = (): string =>
  spawnSync("bash", [path.join(repoRoot, "scripts/toolchain/check-plugins.sh"), "--check"], { encoding: "utf8" }).stdout.split("\n").filter((l) => l.startsWith("missing language-host")).join("; ");
const why = missingToolchain() || languageHost() || (spawnSync("git", ["cat-file", "-e", `${FROM}^{commit}`], { cwd: repoRoot }).status === 0 ? "" : `commit ${FROM} (JHE_UPGRADE_FROM) not in this clone`);

if (why) {
  console.log(`SKIP engine tier (upgrade from ${FROM}): ${why}`);
  test("engine upgrade", { skip: `missing: ${why}` }, () => {});
} else {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-upgrade-"));
  const oldProject = path.join(work, "old");
  const newProject = path.join(work, "new");
  const backend = path.join(work, "backend");
  const passphrase = randomBytes(16).toString("hex");
  let host: SandboxHost;
  let asFound = "";
  let deployed = "";
  let running = "";
  let loop: ProbeLoop | undefined;

  const env = (): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PULUMI_HOME: process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi"),
    PULUMI_BACKEND_URL: `file://${backend}`,
    PULUMI_CONFIG_PASSPHRASE: passphrase,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
  });
  const pulumi = (cwd: string, args: string[]) => {
    const t0 = Date.now();
    const r = spawnSync("pulumi", [...args, "--stack", STACK, "--non-interactive"], { cwd, env: env(), encoding: "utf8", timeout: 20 * 60_000, maxBuffer: 64 * 1024 * 1024 });
    return { status: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}`, stdout: r.stdout ?? "", seconds: (Date.now() - t0) / 1000 };
  };
  /** `pulumi preview --json`: the change summary, and each changing resource's operation by name. */
  const planned = (cwd: string): { summary: Record<string, number>; changes: [string, string][] } => {
    const r = pulumi(cwd, ["preview", "--json"]);
    assert.equal(r.status, 0, `preview in ${path.basename(cwd)}:\n${r.out.slice(-4000)}`);
    const doc = JSON.parse(r.stdout) as { steps?: { op: string; urn: string }[]; changeSummary?: Record<string, number> };
    const changes = (doc.steps ?? []).filter((s) => s.op !== "same").map((s): [string, string] => [s.urn.split("::").pop()!, s.op]);
    return { summary: doc.changeSummary ?? {}, changes };
  };
  /** The processes that would change on a reload or restart: the units' main PIDs, nginx's workers. */
  const processes = () =>
    ssh(host, "for u in nginx jupyterhub fail2ban; do echo \"$u $(systemctl show -p MainPID --value $u)\"; done; echo \"nginx workers $(ps -o pid= --ppid \"$(systemctl show -p MainPID --value nginx)\" | sort -n | tr -s ' \\n' ' ')\"").stdout.trim();
  /** A project directory holding a program version: its files, node_modules, its own provider build. */
  const prepare = (dir: string, files: () => void, lockOf: string) => {
    fs.mkdirSync(dir, { recursive: true });
    files();
    const sameLock = fs.readFileSync(path.join(dir, "package-lock.json"), "utf8") === fs.readFileSync(path.join(repoRoot, "package-lock.json"), "utf8");
    if (sameLock) fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(dir, "node_modules"));
    else {
      const ci = spawnSync("npm", ["ci", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: dir, encoding: "utf8" });
      assert.equal(ci.status, 0, `npm ci for ${lockOf}:\n${ci.stdout}${ci.stderr}`);
    }
    const build = spawnSync("npm", ["run", "--silent", "build:lib"], { cwd: dir, encoding: "utf8" });
    assert.equal(build.status, 0, `build:lib for ${lockOf}:\n${build.stdout}${build.stderr}`);
  };

  before(() => {
    // The earlier version, as committed; this one, as it is in the working tree.
    prepare(oldProject, () => {
      const r = spawnSync("bash", ["-o", "pipefail", "-c", 'git archive "$0" | tar -x -C "$1"', FROM, oldProject], { cwd: repoRoot, encoding: "utf8" });
      assert.equal(r.status, 0, `git archive ${FROM}: ${r.stderr}`);
    }, FROM);
    prepare(newProject, () => {
      for (const f of spawnSync("git", ["ls-files", "-co", "--exclude-standard"], { cwd: repoRoot, encoding: "utf8" }).stdout.trim().split("\n")) {
        if (!fs.existsSync(path.join(repoRoot, f)) || f.startsWith("node_modules/")) continue;
        fs.mkdirSync(path.dirname(path.join(newProject, f)), { recursive: true });
        fs.copyFileSync(path.join(repoRoot, f), path.join(newProject, f));
      }
    }, "this checkout");
    host = createHost(hostName, "trixie");
    asFound = fingerprint(host);
    fs.mkdirSync(backend, { recursive: true });
    const stackFile = path.join(oldProject, `Pulumi.${STACK}.yaml`);
    fs.writeFileSync(stackFile, yaml.dump({ config: {
      "jupyterhub-edge:host": host.addr,
      "jupyterhub-edge:sshPrivateKeyFile": host.sshKey,
      "jupyterhub-edge:hostKey": host.hostKey,
      "jupyterhub-edge:platform": "debian-13",
      "jupyterhub-edge:proxy": "nginx",
      "jupyterhub-edge:hubDomain": HUB,
      "jupyterhub-edge:extraSites": [{ domain: WWW }],
      "jupyterhub-edge:splitAuth": { users: [USER], realm: "Workshop" },
    } }));
    for (const args of [["login", `file://${backend}`], ["stack", "init", STACK, "--secrets-provider", "passphrase"]]) {
      const r = spawnSync("pulumi", [...args, "--non-interactive"], { cwd: oldProject, env: env(), encoding: "utf8" });
      assert.equal(r.status, 0, `pulumi ${args.join(" ")}:\n${r.stdout}${r.stderr}`);
    }
    // The same stack file (with its salt) in the new checkout: what a team's repository carries.
    fs.copyFileSync(stackFile, path.join(newProject, `Pulumi.${STACK}.yaml`));
  });

  after(async () => {
    await loop?.stop().catch(() => undefined);
    if (process.env.JHE_KEEP_HOSTS === "1") return;
    if (host) removeHost(hostName);
    fs.rmSync(work, { recursive: true, force: true });
  });

  test(`engine upgrade: the earlier version (${FROM}) deploys the site; a probe loop starts acting as its users`, async () => {
    const up = pulumi(oldProject, ["up", "--yes", "--skip-preview"]);
    assert.equal(up.status, 0, up.out.slice(-4000));
    console.log(`# ${FROM}: up in ${up.seconds.toFixed(1)} s; ${(/Resources:[\s\S]*?(?=\n\n|Duration)/.exec(up.out)?.[0] ?? "").replace(/\s+/g, " ")}`);
    const outputs = JSON.parse(pulumi(oldProject, ["stack", "output", "--json", "--show-secrets"]).stdout) as Record<string, string>;
    const basic = `Basic ${Buffer.from(`${USER}:${outputs[`splitAuthPassword-${USER}`]}`).toString("base64")}`;
    deployed = fingerprint(host);
    running = processes();
    loop = await startProbeLoop({
      connectTo: { host: host.addr }, ca: outputs.caCertificate, intervalMs: 100, maxMs: 20 * 60_000, maxRequests: 60_000,
      targets: [
        // What a participant sees: the hub's login form, behind the workshop password.
        { name: "hub login form (with the workshop password)", url: `https://${HUB}/hub/login`, ok: [200], bodyMatch: 'name="username"', headers: { Authorization: basic } },
        { name: "hub API (open)", url: `https://${HUB}/hub/api/`, ok: [200], bodyMatch: '"version"' },
        { name: "other domain", url: `https://${WWW}/`, ok: [200, 403, 404] },
      ],
    });
  });

  test("engine upgrade: this version's preview replaces only the install step; nothing is created or deleted", () => {
    const { summary, changes } = planned(newProject);
    console.log(`# preview by this version: ${JSON.stringify(summary)}; changing: ${changes.map(([n, op]) => `${n} ${op}`).join(", ") || "none"}`);
    const total = Object.values(summary).reduce((a, n) => a + n, 0);
    assert.ok(total > 20 && (summary.same ?? 0) > 0, `the preview read the deployed stack: ${JSON.stringify(summary)}`);
    for (const op of ["create", "delete"]) assert.equal(summary[op] ?? 0, 0, `the upgrade would ${op} resources: ${JSON.stringify(summary)}`);
    const text = pulumi(newProject, ["preview", "--diff"]);
    fs.writeFileSync(path.join(work, "upgrade-preview.txt"), text.out);
    for (const [name, op] of changes) {
      if (name === "edge-host-scripts") assert.match(op, /^(replace|create-replacement|update)$/, `${name}: ${op}`);
      else assert.equal(op, "update", `${name} would be ${op} by the upgrade (only the install step may be replaced)`);
    }
  });

  test("engine upgrade: this version's up changes no served file and restarts nothing; the users saw no failure", async () => {
    const up = pulumi(newProject, ["up", "--yes", "--skip-preview"]);
    assert.equal(up.status, 0, up.out.slice(-4000));
    console.log(`# upgrade up in ${up.seconds.toFixed(1)} s; ${(/Resources:[\s\S]*?(?=\n\n|Duration)/.exec(up.out)?.[0] ?? "").replace(/\s+/g, " ")}`);
    const report = await loop!.stop();
    loop = undefined;
    console.log(formatProbeReport("# upgrade probe", report));
    for (const t of report.targets) assert.equal(t.failed, 0, `${t.name}: ${t.failed} of ${t.sent} requests failed during the upgrade`);
    // The program's own records and its installed scripts may change; nothing else on the host.
    const own = (l: string) => /\/(var\/lib|usr\/local\/lib)\/jupyterhub-edge(\/|\b)/.test(l);
    const diff = fingerprintDiff(deployed, fingerprint(host)).split("\n").filter((l) => l && !own(l));
    assert.deepEqual(diff, [], `the upgrade changed the host outside the program's own records:\n${diff.join("\n")}`);
    assert.equal(processes(), running, "the proxy, the hub or fail2ban was restarted or reloaded");
  });

  test("engine upgrade: the next preview has nothing to do", () => {
    const { summary, changes } = planned(newProject);
    assert.deepEqual(changes, [], "changes after the upgrade");
    assert.deepEqual(Object.keys(summary), ["same"], `changes after the upgrade: ${JSON.stringify(summary)}`);
    console.log(`# preview after the upgrade: ${JSON.stringify(summary)}`);
  });

  test("engine upgrade: this version's destroy leaves the host as found", () => {
    const r = pulumi(newProject, ["destroy", "--yes", "--skip-preview"]);
    assert.equal(r.status, 0, r.out.slice(-4000));
    const diff = fingerprintDiff(asFound, fingerprint(host));
    assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
  });
}
