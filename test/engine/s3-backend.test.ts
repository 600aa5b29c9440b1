/**
 * Engine tier: the workflow's team state backend (docs/ci.md §1–§6) run for real — a bucket on a
 * real S3-compatible server started here (versitygw, posix backend, plain HTTP on 127.0.0.1:
 * test/support/s3-server.ts), bucket versioning on as docs/ci.md asks, the passphrase secrets
 * provider exactly as documented (`stack init … --secrets-provider passphrase`,
 * PULUMI_CONFIG_PASSPHRASE), and the plain CLI on a copy of the repository against one sandbox host:
 * - which spellings of the documented backend URL reach a plain-HTTP endpoint;
 * - docs/ci.md's "Under the hood the action runs" commands, read from the doc, for the up job and
 *   for a pull request's preview;
 * - two `pulumi up` of one stack started at once: one runs, the other gets Pulumi's lock message;
 *   the state is intact afterwards (export parses, resource count unchanged, a further up no-op);
 * - a lock left by a killed run, cleared as docs/ci.md §6 says;
 * - `stack export` (without --show-secrets) and every raw file the server holds (current objects
 *   and old versions) audited for the SSH key, the TLS keys and the split-auth passwords;
 * - destroy + stack rm: what is left in the bucket; the host as found.
 * Without the CLI, plugins or language host: one SKIP line; versitygw not buildable: one SKIP line.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import * as yaml from "js-yaml";
import { ensureProviderBuilt, repoRoot } from "../../scripts/automation";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, ssh } from "../support/sandbox";
import { S3Server, startS3Server, versitygwBinDir } from "../support/s3-server";
import { Secret, findLeaks, formatLeaks, leakForms } from "../support/secret-audit";
import { httpsGet } from "../support/hub-probe";
import { missingToolchain } from "./scenario";

const STACK = "s3-backend";
const PROJECT = "jupyterhub-edge";
const HUB = "hub.s3.test";
const BUCKET = "jupyterhub-edge-state";
const GIVEN_USER = "workshop";
/** Where Pulumi 3.259's diy backend keeps a stack's locks (its fully qualified name has the default org). */
const LOCKS = `.pulumi/locks/organization/${PROJECT}/${STACK}/`;

function missing(): string {
  const engine = missingToolchain();
  if (engine) return engine;
  const r = spawnSync("bash", [path.join(repoRoot, "scripts/toolchain/check-plugins.sh"), "--check"], { encoding: "utf8" });
  return r.stdout.split("\n").filter((l) => l.startsWith("missing language-host")).join("; ");
}

const why = missing();
const vgw = why ? undefined : versitygwBinDir();

if (why) {
  console.log(`SKIP engine tier (S3 state backend): ${why}`);
  test("engine: S3 state backend", { skip: `missing: ${why}` }, () => {});
} else if (!vgw?.dir) {
  console.log(`SKIP engine tier (S3 state backend): versitygw cannot be built here: ${vgw?.error}`);
  test("engine: S3 state backend", { skip: `versitygw: ${vgw?.error}` }, () => {});
} else {
  const binDir = vgw.dir;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-s3-backend-"));
  const project = path.join(work, "repo");
  const stackFile = path.join(project, `Pulumi.${STACK}.yaml`);
  const accessKey = `jhe${randomBytes(6).toString("hex")}`;
  const secretKey = randomBytes(24).toString("base64url");
  const passphrase = randomBytes(24).toString("base64");
  const givenPassword = randomBytes(18).toString("base64url");
  let s3: S3Server;
  let host: SandboxHost;
  let asFound: string;
  /** The URL the workflow's PULUMI_BACKEND_URL secret would hold (settled by the first test). */
  let backendUrl = "";
  /** Every place audited: name → text. */
  const places = new Map<string, string>();
  const addPlace = (where: string, text: string) => places.set(where, (places.get(where) ?? "") + text + "\n");
  const secrets: Secret[] = [];
  const t00 = Date.now();

  const documented = (hostPort: string) => `s3://${BUCKET}?endpoint=${hostPort}&s3ForcePathStyle=true&region=us-east-1`;

  /** What the workflow's pulumi/actions step has in its environment (docs/ci.md §3), nothing else from here. */
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    // A PULUMI_HOME of its own (plugins shared): `pulumi login` records the current backend there.
    PULUMI_HOME: path.join(work, "pulumi-home"),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_DISABLE_REGISTRY_RESOLVE: "true",
    PULUMI_CONFIG_PASSPHRASE: passphrase,
    AWS_ACCESS_KEY_ID: accessKey,
    AWS_SECRET_ACCESS_KEY: secretKey,
    AWS_REGION: "us-east-1",
    ...(backendUrl ? { PULUMI_BACKEND_URL: backendUrl } : {}),
    ...extra,
  });
  const pulumi = (args: string[], extra: NodeJS.ProcessEnv = {}, input?: string) => {
    const t0 = Date.now();
    const r = spawnSync("pulumi", args, { cwd: project, env: env(extra), input, encoding: "utf8", timeout: 10 * 60_000, maxBuffer: 64 * 1024 * 1024 });
    return { status: r.status ?? -1, stdout: r.stdout ?? "", out: `${r.stdout ?? ""}${r.stderr ?? ""}`, seconds: (Date.now() - t0) / 1000 };
  };
  /** A pulumi command in the background (for two at once). */
  const pulumiAsync = (args: string[]) => new Promise<{ status: number; out: string; seconds: number }>((resolve) => {
    const t0 = Date.now();
    const child = spawn("pulumi", args, { cwd: project, env: env(), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.stderr.on("data", (d: Buffer) => (out += d));
    child.on("close", (code) => resolve({ status: code ?? -1, out, seconds: (Date.now() - t0) / 1000 }));
  });
  /** docs/ci.md's "Under the hood the action runs" lines, run with bash as written (<env> → the stack). */
  const docCommands = (): { login: string; select: string; preview: string; up: string } => {
    const doc = fs.readFileSync(path.join(repoRoot, "docs/ci.md"), "utf8");
    const block = /Under the hood the action runs[\s\S]*?```\n([\s\S]*?)```/.exec(doc)?.[1] ?? "";
    const lines = block.split("\n").map((l) => l.replace(/\s+#.*$/, "").trim().replace(/<env>/g, STACK)).filter(Boolean);
    const find = (re: RegExp) => lines.find((l) => re.test(l)) ?? assert.fail(`docs/ci.md's command block has no ${re}: ${lines.join(" / ")}`);
    return { login: find(/ login /), select: find(/ stack select /), preview: find(/^pulumi preview /), up: find(/^pulumi up /) };
  };
  const bash = (line: string) => {
    const t0 = Date.now();
    const r = spawnSync("bash", ["-c", line], { cwd: project, env: env(), encoding: "utf8", timeout: 10 * 60_000, maxBuffer: 64 * 1024 * 1024 });
    return { status: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}`, seconds: (Date.now() - t0) / 1000 };
  };
  const resources = (): { urn: string; type: string; outputs?: Record<string, unknown> }[] => {
    const r = pulumi(["stack", "export", "--stack", STACK]);
    assert.equal(r.status, 0, r.out);
    return JSON.parse(r.stdout).deployment.resources ?? [];
  };
  const keys = async (prefix = ".pulumi/") => (await s3.listObjects(BUCKET, prefix)).map((o) => o.key).sort();
  const ofStack = (k: string) => k.split("/").some((part) => part === STACK || part.startsWith(`${STACK}.`));
  const secs = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

  before(async () => {
    const t0 = Date.now();
    s3 = await startS3Server({ binDir, accessKey, secretKey, versioning: true, workDir: path.join(work, "s3") });
    await s3.createBucket(BUCKET);
    console.log(`# versitygw ${s3.version} (posix backend, versioning on) at ${s3.endpoint}; bucket ${BUCKET} created over SigV4; toolchain ready in ${vgw.seconds.toFixed(1)} s`);
    host = createHost(STACK, "trixie");
    asFound = fingerprint(host);
    // The checkout: the repository's files, its node_modules linked (as in ci-workflow.test.ts).
    const files = spawnSync("git", ["ls-files", "-co", "--exclude-standard"], { cwd: repoRoot, encoding: "utf8" }).stdout.trim().split("\n");
    for (const f of files) {
      if (!fs.existsSync(path.join(repoRoot, f)) || f.startsWith("Pulumi.") && f !== "Pulumi.yaml") continue;
      fs.mkdirSync(path.dirname(path.join(project, f)), { recursive: true });
      fs.copyFileSync(path.join(repoRoot, f), path.join(project, f));
    }
    fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(project, "node_modules"));
    // The package's provider plugin (what `npm ci`'s prepare script builds), the checkout's own.
    ensureProviderBuilt();
    fs.symlinkSync(path.join(repoRoot, "dist"), path.join(project, "dist"));
    fs.mkdirSync(path.join(work, "pulumi-home"));
    fs.symlinkSync(path.join(process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi"), "plugins"), path.join(work, "pulumi-home", "plugins"));
    // The workflow's own step writes the key files (scripts/ci/stack-secrets.sh, from the secrets).
    const sshKey = fs.readFileSync(host.sshKey, "utf8");
    const w = spawnSync("bash", ["scripts/ci/stack-secrets.sh"], { cwd: project, env: { PATH: process.env.PATH, SSH_PRIVATE_KEY: sshKey, SSH_HOST_KEY: host.hostKey }, encoding: "utf8" });
    assert.equal(w.status, 0, w.stderr);
    secrets.push({ name: "SSH private key", value: sshKey });
    secrets.push({ name: `split-auth password of ${GIVEN_USER} (secret config)`, value: givenPassword });
    console.log(`# host ${host.name} at ${host.addr}; s3 server, host and checkout ready in ${secs(t0)}`);
  });

  after(async () => {
    if (process.env.JHE_KEEP_HOSTS === "1") return;
    if (resourcesLeft()) pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK, "--non-interactive"]);
    if (host) removeHost(STACK);
    await s3?.stop();
    fs.rmSync(work, { recursive: true, force: true });
    console.log(`# S3 backend test: ${secs(t00)} in all`);
  });
  let destroyed = false;
  const resourcesLeft = () => !destroyed && fs.existsSync(stackFile);

  test("S3 backend: which spellings of the documented URL reach a plain-HTTP endpoint", () => {
    const base = documented(s3.hostPort);
    const forms: [string, string][] = [
      ["documented form as is", base],
      ["+ disableSSL=true", `${base}&disableSSL=true`],
      ["endpoint=http://…", base.replace(`endpoint=${s3.hostPort}`, `endpoint=http://${s3.hostPort}`)],
      ["+ disable_https=true (gocloud's v2 name)", `${base}&disable_https=true`],
      ["disableSSL=true, no s3ForcePathStyle", `s3://${BUCKET}?endpoint=${s3.hostPort}&region=us-east-1&disableSSL=true`],
    ];
    const works: Record<string, boolean> = {};
    for (const [name, url] of forms) {
      const r = pulumi(["--non-interactive", "login", url]);
      works[name] = r.status === 0;
      const why = r.out.split("\n").map((l) => l.trim()).filter((l) => /error/i.test(l)).pop() ?? "";
      console.log(`# login ${name}: ${r.status === 0 ? "works" : `fails: …${why.replace(accessKey, "***").slice(-200)}`} (${r.seconds.toFixed(1)} s)`);
    }
    assert.equal(works["documented form as is"], false, "the documented form means https:// — not this server");
    assert.equal(works["+ disableSSL=true"], true, "disableSSL=true makes Pulumi put http:// before the endpoint");
    assert.equal(works["endpoint=http://…"], true);
    backendUrl = `${base}&disableSSL=true`;
    console.log(`# PULUMI_BACKEND_URL=${backendUrl}`);
  });

  test("S3 backend: the stack created as docs/ci.md §2 says: login, stack init --secrets-provider passphrase, a secret config value", () => {
    assert.ok(backendUrl, "a working URL");
    fs.writeFileSync(stackFile, yaml.dump({ config: {
      "jupyterhub-edge:host": host.addr,
      "jupyterhub-edge:sshPrivateKeyFile": ".secrets/ssh_key",
      "jupyterhub-edge:hostKeyFile": ".secrets/host_key.pub",
      "jupyterhub-edge:platform": "debian-13",
      "jupyterhub-edge:proxy": "nginx",
      "jupyterhub-edge:hubDomain": HUB,
      "jupyterhub-edge:splitAuth": { users: [{ name: GIVEN_USER }, "tutor"], allowFrom: ["192.0.2.0/24"] },
    } }));
    for (const c of [["login", backendUrl], ["stack", "init", STACK, "--secrets-provider", "passphrase", "--non-interactive"]]) {
      const r = pulumi(c);
      assert.equal(r.status, 0, `pulumi ${c[0]}:\n${r.out}`);
    }
    // The password on stdin, not the command line: `pulumi config set --secret --path KEY` reads it there.
    const set = pulumi(["config", "set", "--secret", "--path", `${PROJECT}:splitAuth.users[0].password`, "--stack", STACK, "--non-interactive"], {}, givenPassword);
    assert.equal(set.status, 0, set.out);
    const stored = fs.readFileSync(stackFile, "utf8");
    assert.match(stored, /^encryptionsalt: /m, "the salt a team commits");
    assert.match(stored, /password:\s*\n?\s*secure: /, "the password is stored encrypted in the stack file");
    addPlace("stack file", stored);
  });

  test("S3 backend: the up job's commands (docs/ci.md) deploy the stack with its state in the bucket", async () => {
    const cmds = docCommands();
    const out: string[] = [];
    for (const line of [cmds.login, cmds.select, cmds.up]) {
      const r = bash(line);
      out.push(r.out);
      console.log(`# ${line.replace(/"\$PULUMI_BACKEND_URL"/, "$PULUMI_BACKEND_URL")} → exit ${r.status} in ${r.seconds.toFixed(1)} s`);
      assert.equal(r.status, 0, `${line}:\n${r.out.slice(-4000)}`);
    }
    addPlace("up output", out.join("\n"));
    const objects = await keys();
    console.log(`# bucket after up: ${objects.length} objects: ${objects.map((k) => k.replace(/\d{10,}/, "…")).join(", ")}`);
    assert.ok(objects.includes(`.pulumi/stacks/${PROJECT}/${STACK}.json`), "the checkpoint is an object in the bucket");
    assert.ok(objects.includes(".pulumi/meta.yaml"));
    assert.ok(!fs.readdirSync(path.join(work, "pulumi-home")).some((f) => f === "stacks"), "no local state");
    const outputs = JSON.parse(pulumi(["stack", "output", "--json", "--stack", STACK]).stdout) as { url: string; caCertificate: string };
    assert.equal(outputs.url, `https://${HUB}/`);
    const login = await httpsGet(`https://${HUB}/hub/login`, { connectTo: { host: host.addr }, ca: outputs.caCertificate, timeoutMs: 15_000 });
    assert.equal(login.status, 401, "split auth asks this machine (not in allowFrom) for the password");
  });

  test("S3 backend: a pull request's preview (docs/ci.md's commands) shows the change and runs nothing", () => {
    const before = fingerprint(host);
    const set = pulumi(["config", "set", `${PROJECT}:maxUploadMb`, "2048", "--stack", STACK]);
    assert.equal(set.status, 0, set.out);
    try {
      const cmds = docCommands();
      for (const line of [cmds.login, cmds.select]) assert.equal(bash(line).status, 0, line);
      const r = bash(cmds.preview);
      console.log(`# ${cmds.preview} → exit ${r.status} in ${r.seconds.toFixed(1)} s`);
      assert.equal(r.status, 0, r.out.slice(-4000));
      assert.match(r.out, /-\s*\|\s+client_max_body_size 512m;/);
      assert.match(r.out, /\+\s*\|\s+client_max_body_size 2048m;/);
      addPlace("preview --diff", r.out);
    } finally {
      pulumi(["config", "rm", `${PROJECT}:maxUploadMb`, "--stack", STACK]);
    }
    assert.equal(fingerprintDiff(before, fingerprint(host)), "", "a preview changes nothing on the host");
  });

  test("S3 backend: a second `pulumi up` while one runs is refused by the lock; the state is intact", async () => {
    const count = resources().length;
    const set = pulumi(["config", "set", `${PROJECT}:maxUploadMb`, "1024", "--stack", STACK]);
    assert.equal(set.status, 0, set.out);
    const up = ["up", "--yes", "--skip-preview", "--diff", "--suppress-progress", "--stack", STACK, "--non-interactive"];
    // While they run: the lock objects as the bucket holds them.
    let running = true;
    const seen = new Set<string>();
    const watch = (async () => {
      while (running) {
        for (const k of await keys(".pulumi/locks/").catch(() => [])) seen.add(k);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const t0 = Date.now();
    // The second starts once the first holds its lock: two started in the same instant may both
    // see the other's lock and both back off (Pulumi writes its lock, then looks for others), which
    // is safe but proves nothing about the refusal a second operator meets.
    const first = pulumiAsync(up);
    while (seen.size === 0 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 100));
    const [a, b] = await Promise.all([first, pulumiAsync(up)]);
    running = false;
    await watch;
    const results = [a, b];
    const ran = results.filter((r) => r.status === 0);
    const refused = results.filter((r) => /the stack is currently locked by \d+ lock\(s\)/.test(r.out));
    console.log(`# two ups at once: exits ${a.status} (${a.seconds.toFixed(1)} s) and ${b.status} (${b.seconds.toFixed(1)} s), ${secs(t0)} in all; lock objects seen: ${[...seen].map((k) => k.replace(/[0-9a-f-]{36}/, "<uuid>")).join(", ")}`);
    for (const r of refused) {
      const msg = r.out.split("\n").map((l) => l.trim()).filter((l) => /locked by|created by/.test(l));
      console.log(`# refused with:\n#   ${msg.join("\n#   ")}`);
    }
    assert.equal(ran.length, 1, `exactly one up runs: ${results.map((r) => `exit ${r.status}: ${r.out.slice(-600)}`).join("\n----\n")}`);
    assert.equal(refused.length, 1, "the other is refused with the lock message");
    assert.match(refused[0].out, /the stack is currently locked by 1 lock\(s\)\. Either wait for the other process\(es\) to end/);
    assert.match(refused[0].out, new RegExp(`s3://${BUCKET}/\\.pulumi/locks/organization/${PROJECT}/${STACK}/[0-9a-f-]{36}\\.json\\S*: created by \\S+@\\S+ \\(pid \\d+\\)`));
    assert.doesNotMatch(refused[0].out, /Updating \(|Resources:/, "the refused one did not start an update");
    assert.ok(seen.size >= 1 && [...seen].every((k) => k.startsWith(LOCKS)), `the lock is an object in the bucket under ${LOCKS}`);
    assert.deepEqual(await keys(".pulumi/locks/"), [], "no lock left behind");
    addPlace("up output", ran[0].out + refused[0].out);
    // The state afterwards: it parses, the same resources, the change applied once, a further up no-op.
    assert.equal(resources().length, count, "resource count unchanged");
    assert.match(ssh(host, "cat /etc/nginx/conf.d/jupyterhub-edge.conf").stdout, /client_max_body_size 1024m;/, "the change the running up made is on the host");
    const again = pulumi([...up.filter((x) => x !== "--diff"), "--expect-no-changes"]);
    console.log(`# a further up: exit ${again.status} in ${again.seconds.toFixed(1)} s: ${/Resources:[\s\S]*?(?=\n\n|Duration)/.exec(again.out)?.[0].replace(/\s+/g, " ")}`);
    assert.equal(again.status, 0, again.out.slice(-3000));
    assert.match(again.out, /Resources:\s*\n\s*\d+ unchanged/);
  });

  test("S3 backend: a lock left by a killed run: up refused, preview not; `pulumi cancel` removes it (docs/ci.md §6)", async () => {
    const lock = `${LOCKS}00000000-0000-4000-8000-000000000000.json`;
    await s3.putObject(BUCKET, lock, JSON.stringify({ pid: 4242, username: "runner", hostname: "fv-az123-456", timestamp: new Date(Date.now() - 3600_000).toISOString() }));
    try {
      const up = pulumi(["up", "--yes", "--skip-preview", "--stack", STACK, "--non-interactive"]);
      assert.notEqual(up.status, 0, "up is refused while the lock is there");
      assert.match(up.out, /the stack is currently locked by 1 lock\(s\)[\s\S]*created by runner@fv-az123-456 \(pid 4242\)/);
      // A preview takes no lock in a self-managed backend: the PR job still previews.
      const preview = pulumi(["preview", "--stack", STACK, "--non-interactive", "--expect-no-changes"]);
      console.log(`# stale lock in the bucket: up exit ${up.status} (lock message), preview exit ${preview.status}`);
      assert.equal(preview.status, 0, preview.out.slice(-2000));
      const cancel = pulumi(["cancel", "--yes", "--stack", STACK, "--non-interactive"]);
      console.log(`# pulumi cancel --yes: exit ${cancel.status}: ${cancel.out.trim().split("\n").pop()}`);
      assert.equal(cancel.status, 0, cancel.out);
      assert.deepEqual(await keys(".pulumi/locks/"), [], "pulumi cancel removed the lock object");
    } finally {
      await s3.deleteObject(BUCKET, lock).catch(() => {});
    }
    const again = pulumi(["up", "--yes", "--skip-preview", "--stack", STACK, "--non-interactive", "--expect-no-changes"]);
    assert.equal(again.status, 0, again.out.slice(-2000));
  });

  test("S3 backend: no plaintext secret in `stack export`, the bucket's objects and old versions on disk, or the CLI output", async () => {
    // The secrets to look for: the TLS keys @pulumi/tls made and the generated password, decrypted.
    const shown = pulumi(["stack", "export", "--show-secrets", "--stack", STACK]);
    assert.equal(shown.status, 0);
    const plain = (v: unknown): unknown => (v && typeof v === "object" && "plaintext" in (v as object) ? JSON.parse((v as { plaintext: string }).plaintext) : v);
    for (const r of JSON.parse(shown.stdout).deployment.resources as { urn: string; type: string; outputs?: Record<string, unknown> }[]) {
      if (r.type !== "tls:index/privateKey:PrivateKey") continue;
      for (const field of ["privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"]) {
        const v = plain(r.outputs?.[field]);
        if (typeof v === "string" && v.includes("PRIVATE KEY")) secrets.push({ name: `TLS key ${r.urn.split("::").pop()} ${field}`, value: v });
      }
    }
    const generated = JSON.parse(pulumi(["stack", "output", "--json", "--show-secrets", "--stack", STACK]).stdout)["splitAuthPassword-tutor"] as string;
    assert.match(generated, /^[A-Za-z0-9]{24}$/);
    secrets.push({ name: "split-auth password of tutor (generated)", value: generated });
    assert.ok(secrets.filter((s) => s.name.startsWith("TLS key")).length >= 2, secrets.map((s) => s.name).join(", "));

    const exported = pulumi(["stack", "export", "--stack", STACK]);
    assert.equal(exported.status, 0);
    addPlace("pulumi stack export", exported.stdout);
    assert.match(exported.stdout, /"ciphertext"/, "secrets are stored encrypted");
    const raw = s3.rawFiles();
    const versions = await s3.listVersions(BUCKET, ".pulumi/");
    console.log(`# on the server's disk: ${Object.keys(raw).length} files (${Object.keys(raw).filter((f) => f.startsWith("versions/")).length} old versions), ${(Object.values(raw).reduce((n, b) => n + b.length, 0) / 1024).toFixed(0)} KiB; ListObjectVersions: ${versions.length} entries`);
    assert.ok(Object.keys(raw).some((f) => f.startsWith("versions/")), "old versions are kept (versioning on)");
    for (const [f, b] of Object.entries(raw)) addPlace(`raw ${f.split("/")[0]} files`, b.toString("utf8"));
    const leaks = findLeaks([...places].map(([where, text]) => ({ where, text })), secrets);
    for (const s of secrets) {
      console.log(`# audit ${s.name}: ${leakForms(s.value).length} forms × ${places.size} places: ${leaks.filter((l) => l.secret === s.name).length} leaks`);
    }
    console.log(`#   places: ${[...places].map(([w, t]) => `${w} ${(t.length / 1024).toFixed(0)} KiB`).join(", ")}`);
    assert.equal(leaks.length, 0, formatLeaks(leaks));
  });

  test("S3 backend: destroy and stack rm leave no state of the stack in the bucket; the host as found", async () => {
    const d = pulumi(["destroy", "--yes", "--skip-preview", "--suppress-progress", "--stack", STACK, "--non-interactive"]);
    console.log(`# destroy: exit ${d.status} in ${d.seconds.toFixed(1)} s`);
    assert.equal(d.status, 0, d.out.slice(-3000));
    destroyed = true;
    const diff = fingerprintDiff(asFound, fingerprint(host));
    assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
    const rm = pulumi(["stack", "rm", "--yes", "--stack", STACK, "--non-interactive"]);
    assert.equal(rm.status, 0, rm.out);
    const left = (await keys()).filter(ofStack);
    console.log(`# after stack rm: ${left.length} objects of the stack left: ${left.map((k) => k.replace(/\.\d{10,}\./, ".<time>.")).join(", ")}`);
    // Pulumi keeps `<stack>.json.bak` and the checkpoint backups unless asked; --remove-backups
    // (on a stack of the same name) takes them too.
    const again = pulumi(["stack", "init", STACK, "--secrets-provider", "passphrase", "--non-interactive"]);
    assert.equal(again.status, 0, again.out);
    const rmAll = pulumi(["stack", "rm", "--yes", "--remove-backups", "--stack", STACK, "--non-interactive"]);
    assert.equal(rmAll.status, 0, rmAll.out);
    const after = (await keys()).filter(ofStack);
    const versions = (await s3.listVersions(BUCKET, ".pulumi/")).filter((v) => ofStack(v.key));
    console.log(`# after stack rm --remove-backups: ${after.length} objects of the stack; ${versions.filter((v) => !v.deleteMarker).length} old versions and ${versions.filter((v) => v.deleteMarker).length} delete markers kept by the bucket's versioning; bucket now: ${(await keys()).join(", ")}`);
    assert.deepEqual(after, [], "no current object of the stack");
    const ls = pulumi(["stack", "ls", "--json"]);
    assert.deepEqual(JSON.parse(ls.stdout), []);
  });
}
