/**
 * Engine tier, issue 24: a Pulumi program of someone else's — Python (examples/python, through the
 * component provider and a generated SDK) or TypeScript (examples/typescript, through the npm
 * package) — runs this project's EdgeSite through the real CLI, language hosts and plugins against a
 * sandbox host: up creates the site, a kernel runs through the proxy, a second up changes nothing, a
 * bad value is refused before any SSH with the stack config's own message and deletes nothing,
 * destroy leaves the host as found, and the stack's export holds no secret in plaintext.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import { repoRoot } from "../../scripts/automation";
import { loadStackFromStrings } from "../../config/fleet";
import { ConfigError } from "../../config/schema";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, ssh } from "../support/sandbox";
import { probeHubKernel } from "../support/hub-probe";
import { missingToolchain } from "./scenario";

export interface ConsumerProgram {
  /** "python" or "typescript": names the tests and the stack. */
  language: string;
  /** Sandbox host name (unique among the tests). */
  hostName: string;
  /** What this consumer needs beyond the engine tier's toolchain ("" when all is there). */
  missing: () => string;
  /** Makes the program's project in `dir` (copied example, its dependencies, the package). */
  prepare: (dir: string, env: NodeJS.ProcessEnv, run: Runner) => Promise<void>;
}

export interface RunResult {
  code: number;
  out: string;
}
export type Runner = (cmd: string, args: string[], opts?: { cwd?: string; allowFail?: boolean; timeoutMs?: number }) => Promise<RunResult>;

/** The language host of `language` next to the CLI (or on PATH), as check-plugins.sh reports it. */
/** A consumer project's CLI environment: a file backend under `work`, no downloads, no ambient plugins. */
export function consumerEnv(work: string, passphrase: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PULUMI_BACKEND_URL: `file://${path.join(work, "backend")}`,
    PULUMI_CONFIG_PASSPHRASE: passphrase,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
    PULUMI_DISABLE_REGISTRY_RESOLVE: "true",
  };
}

/**
 * Runs a command with `env` (in `cwd`, default `dir`), its output kept in `log`; rejects on a
 * non-zero exit unless allowFail; killed after timeoutMs (default 5 min).
 */
export function makeRunner(env: NodeJS.ProcessEnv, dir: string, log: string[]): Runner {
  return (cmd, args, opts = {}) =>
    new Promise((resolve, reject) => {
      const p = spawn(cmd, args, { cwd: opts.cwd ?? dir, env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      p.stdout.on("data", (d) => (out += d));
      p.stderr.on("data", (d) => (out += d));
      const timer = setTimeout(() => p.kill("SIGTERM"), opts.timeoutMs ?? 5 * 60_000);
      p.on("close", (code) => {
        clearTimeout(timer);
        log.push(`$ ${cmd} ${args.join(" ")}\n${out}`);
        if (code !== 0 && !opts.allowFail) reject(new Error(`${cmd} ${args.join(" ")} failed (${code}):\n${out.slice(-4000)}`));
        else resolve({ code: code ?? -1, out });
      });
    });
}

export function languageHostMissing(language: string): string {
  const r = spawnSync("bash", [path.join(repoRoot, "scripts/toolchain/check-plugins.sh"), "--check"], { encoding: "utf8" });
  return r.stdout.split("\n").find((l) => l.startsWith(`missing language-host pulumi-language-${language}`)) ?? "";
}

/** The bad value every consumer tries: the message is the stack config path's own (config/fleet.ts). */
export function configPathMessage(strings: Record<string, string>): string {
  try {
    loadStackFromStrings(strings, undefined, repoRoot);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems[0];
    throw e;
  }
  throw new Error("expected the config path to refuse the value");
}

const HUB_SUFFIX = "consumer.engine.test";

export function consumerScenario(c: ConsumerProgram): void {
  const missing = missingToolchain() || c.missing();
  const tag = `${c.language} consumer`;
  if (missing) {
    console.log(`SKIP engine tier (${tag}): ${missing}`);
    test(`engine ${tag}`, { skip: `missing: ${missing}` }, () => {});
    return;
  }
  const hub = `hub.${c.language}.${HUB_SUFFIX}`;
  const www = `www.${c.language}.${HUB_SUFFIX}`;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `jhe-${c.language}-consumer-`));
  fs.mkdirSync(path.join(work, "backend"));
  const dir = path.join(work, "project");
  const passphrase = randomBytes(16).toString("hex");
  const env = consumerEnv(work, passphrase);
  const log: string[] = [];
  const run = makeRunner(env, dir, log);
  const pulumi = (...args: string[]) => run("pulumi", [...args, "--non-interactive"]);
  /** The `Resources:` section of an up: counts by kind. */
  const changes = (out: string): Record<string, number> => {
    const section = out.slice(out.lastIndexOf("Resources:"));
    const counts: Record<string, number> = {};
    for (const m of section.matchAll(/^\s+[+~-]?\s*(\d+) (created|updated|deleted|replaced|unchanged|errored|to create)/gm)) counts[m[2]] = Number(m[1]);
    return counts;
  };
  const acceptedSessions = (): number => Number(ssh(host, "journalctl -q --no-pager -o cat _COMM=sshd-session _COMM=sshd | grep -c '^Accepted ' || true").stdout.trim());

  let host: SandboxHost;
  let asFound: string;
  let caPem: string;

  before(async () => {
    const t0 = Date.now();
    host = createHost(c.hostName, "trixie");
    asFound = fingerprint(host);
    await run("npm", ["run", "--silent", "build:lib"], { cwd: repoRoot });
    await c.prepare(dir, env, run);
    await pulumi("stack", "init", "consumer");
    for (const [k, v] of Object.entries({ host: host.addr, sshKeyFile: host.sshKey, hostKeyFile: host.hostKeyFile, hubDomain: hub, wwwDomain: www })) {
      await pulumi("config", "set", k, v);
    }
    console.log(`# ${tag}: host, package and project ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
  after(async () => {
    if (process.env.JHE_KEEP_HOSTS === "1") return;
    try { await pulumi("destroy", "--yes", "--skip-preview"); } catch { /* already destroyed, or the failure is reported by a test */ }
    try { removeHost(c.hostName); } catch (e) { console.log(`# ${String(e)}`); }
    if (process.env.JHE_KEEP_LOGS === "1") fs.writeFileSync(path.join(work, "log.txt"), log.join("\n"));
    else fs.rmSync(work, { recursive: true, force: true });
  });

  test(`engine ${tag}: pulumi up creates the site`, async () => {
    const t0 = Date.now();
    const up = await pulumi("up", "--yes", "--skip-preview");
    console.log(`# ${tag} up: ${JSON.stringify(changes(up.out))} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.ok((changes(up.out).created ?? 0) >= 15, up.out.slice(-3000));
    const outputs = JSON.parse((await pulumi("stack", "output", "--json")).out) as Record<string, unknown>;
    assert.equal(outputs.url, `https://${hub}/`);
    assert.equal(outputs.hubBindUrl, "http://127.0.0.1:8000/");
    assert.equal(outputs.splitAuthPasswords, "[secret]", "split-auth passwords are a secret output");
    caPem = outputs.caCertificate as string;
    assert.match(caPem, /BEGIN CERTIFICATE/);
  });

  test(`engine ${tag}: a kernel runs print(6*7) through the proxy`, async () => {
    const r = await probeHubKernel({ baseUrl: `https://${hub}/`, connectTo: { host: host.addr }, ca: caPem, username: host.hubUser, password: host.hubPassword });
    assert.match(r.output, /42/);
    console.log(`# ${tag}: kernel through the proxy: ${r.output.trim()} in ${r.totalMs} ms`);
  });

  test(`engine ${tag}: a second up changes nothing`, async () => {
    const before = fingerprint(host);
    const t0 = Date.now();
    const up = await pulumi("up", "--yes", "--skip-preview");
    const counts = changes(up.out);
    console.log(`# ${tag} second up: ${JSON.stringify(counts)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.deepEqual(Object.keys(counts), ["unchanged"], up.out.slice(-2000));
    assert.equal(fingerprintDiff(before, fingerprint(host)), "");
  });

  test(`engine ${tag}: a hand edit shows in preview --refresh and up --refresh puts it back (the package's own provider, from this language)`, async () => {
    const vhost = "/etc/nginx/conf.d/jupyterhub-edge.conf";
    const wrote = ssh(host, `sha256sum ${vhost}`).stdout;
    const edit = ssh(host, "bash -s", `set -e; sed -i '0,/proxy_read_timeout/s//proxy_read_timeout 7200s; # by hand/' ${vhost}; nginx -t -q; systemctl reload nginx`);
    assert.equal(edit.status, 0, edit.stderr);
    const t0 = Date.now();
    const preview = await pulumi("preview", "--refresh", "--diff");
    const lines = preview.out.split("\n").filter((l) => /proxy-config: |by hand/.test(l));
    console.log(`# ${tag} preview --refresh in ${((Date.now() - t0) / 1000).toFixed(1)} s:\n${lines.map((l) => `#   ${l.trim()}`).join("\n")}`);
    assert.match(preview.out, new RegExp(`proxy-config: ${vhost}`));
    assert.match(preview.out, /\+\s*proxy_read_timeout 7200s; # by hand/);
    const t1 = Date.now();
    await pulumi("up", "--refresh", "--yes", "--skip-preview");
    console.log(`# ${tag} up --refresh in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    assert.equal(ssh(host, `sha256sum ${vhost}`).stdout, wrote, "the vhost is back as the program wrote it");
    await pulumi("preview", "--refresh", "--expect-no-changes");
  });

  test(`engine ${tag}: a bad value is refused with the stack config's message, before any SSH, deleting nothing`, async () => {
    const expected = configPathMessage({ host: host.addr, sshPrivateKeyFile: host.sshKey, hubDomain: "not a domain" });
    const before = fingerprint(host);
    const sessions = acceptedSessions();
    const resourcesBefore = (await pulumi("stack", "export")).out.match(/"urn":/g)?.length;
    await pulumi("config", "set", "hubDomain", "not a domain");
    try {
      const t0 = Date.now();
      const up = await run("pulumi", ["up", "--yes", "--skip-preview", "--non-interactive"], { allowFail: true });
      const shown = up.out.slice(up.out.indexOf("Diagnostics:"));
      console.log(`# ${tag} bad value: exit ${up.code} in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${JSON.stringify(changes(up.out))}\n${shown.split("\n").slice(0, 6).map((l) => `#   ${l}`).join("\n")}`);
      assert.notEqual(up.code, 0, "the run fails");
      assert.ok(up.out.includes(expected), `the stack config path's message:\n  ${expected}\nnot in:\n${up.out.slice(-3000)}`);
      assert.match(up.out, /\(nothing was changed: fix the config and run again\)/);
      assert.equal(changes(up.out).deleted ?? 0, 0);
      assert.equal(acceptedSessions() - sessions - 1, 0, "no SSH session reached the server"); // -1: the count's own session
    } finally {
      await pulumi("config", "set", "hubDomain", hub);
    }
    assert.equal((await pulumi("stack", "export")).out.match(/"urn":/g)?.length, resourcesBefore, "the stack still has every resource");
    assert.equal(fingerprintDiff(before, fingerprint(host)), "");
    const again = await pulumi("up", "--yes", "--skip-preview");
    assert.deepEqual(Object.keys(changes(again.out)), ["unchanged"], "the corrected value gives a no-op up");
  });

  test(`engine ${tag}: the stack's export holds no secret in plaintext`, async () => {
    const state = (await pulumi("stack", "export")).out;
    const secretLines = fs.readFileSync(host.sshKey, "utf8").split("\n").filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l)).slice(2);
    assert.ok(secretLines.length > 0);
    for (const line of secretLines) assert.ok(!state.includes(line), "SSH private key in the export");
    assert.ok(!/PRIVATE KEY/.test(state), `a private key in plaintext: ${/.{80}PRIVATE KEY.{40}/.exec(state)?.[0]}`);
    assert.match(state, /"ciphertext"/, "secrets are stored encrypted");
    const all = log.join("\n");
    assert.ok(!secretLines.some((l) => all.includes(l)) && !/PRIVATE KEY-----\n[A-Za-z0-9+/]/.test(all), "key material in the CLI's output");
  });

  test(`engine ${tag}: destroy leaves the host as it was found`, async () => {
    const t0 = Date.now();
    const res = await pulumi("destroy", "--yes", "--skip-preview");
    console.log(`# ${tag} destroy: ${JSON.stringify(changes(res.out))} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const diff = fingerprintDiff(asFound, fingerprint(host));
    assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
  });
}
