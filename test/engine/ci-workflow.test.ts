/**
 * Engine tier: the GitHub Actions workflow (.github/workflows/pulumi.yml) in everything but the
 * runner. Its jobs' own `run:` steps are read from the workflow file and run with bash (secrets
 * from the sandbox host), and its pulumi/actions steps become the CLI commands the action runs
 * (login, stack select, `preview --diff …` / `up --yes --skip-preview …`) built from their `with:`
 * inputs and `env:`, in a copy of the repository with a `file://` backend in place of the bucket.
 * Plain `pulumi` of the TypeScript project needs the nodejs language host: without it, one SKIP.
 *
 * Also the preview a reviewer reads: nothing to do after `up`; a hubPath change, an extra domain,
 * nginx → apache show what changes on the server and no script text; a program upgrade that only
 * edits comments in remote scripts has nothing to do, a real script edit re-runs exactly the steps
 * using that script; `stack export` carries each script once, in the install step only.
 * JHE_PREVIEW_TEXT_DIR=DIR keeps each preview's text there.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import * as yaml from "js-yaml";
import { repoRoot } from "../../scripts/automation";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, ssh } from "../support/sandbox";
import { httpsGet } from "../support/hub-probe";
import { missingToolchain } from "./scenario";

interface WorkflowStep { name?: string; uses?: string; run?: string; with?: Record<string, string | boolean>; env?: Record<string, string> }
interface Workflow { env: Record<string, string>; jobs: Record<string, { steps: WorkflowStep[] }> }

function missing(): string {
  const engine = missingToolchain();
  if (engine) return engine;
  const r = spawnSync("bash", [path.join(repoRoot, "scripts/toolchain/check-plugins.sh"), "--check"], { encoding: "utf8" });
  return r.stdout.split("\n").filter((l) => l.startsWith("missing language-host")).join("; ");
}

const STACK = "ci";
const HUB = "hub.ci.test";
const WWW = "www.ci.test";
const why = missing();

if (why) {
  console.log(`SKIP engine tier (CI workflow commands): ${why}`);
  test("engine: CI workflow commands", { skip: `missing: ${why}` }, () => {});
} else {
  const workflow = yaml.load(fs.readFileSync(path.join(repoRoot, ".github/workflows/pulumi.yml"), "utf8")) as Workflow;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-ci-"));
  const project = path.join(work, "repo");
  const backend = path.join(work, "backend");
  const textDir = process.env.JHE_PREVIEW_TEXT_DIR;
  let host: SandboxHost;
  let asFound: string;
  let secrets: Record<string, string>;
  const vars: Record<string, string> = {};

  /** `${{ … }}` as the runner would expand it, for the expressions the workflow uses. */
  const expand = (text: string): string =>
    text.replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_, expr: string) => {
      let m: RegExpExecArray | null;
      if ((m = /^secrets\.(\w+)$/.exec(expr))) return secrets[m[1]] ?? "";
      if ((m = /^env\.(\w+)$/.exec(expr))) return workflow.env[m[1]];
      if ((m = /^matrix\.stack$/.exec(expr))) return STACK;
      if ((m = /^vars\.(\w+) \|\| '([^']*)'$/.exec(expr))) return vars[m[1]] || m[2];
      throw new Error(`the test cannot expand \${{ ${expr} }}; teach it`);
    });

  const baseEnv = (): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PULUMI_HOME: process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi"),
    // This machine has no internet: what a runner would download is installed already.
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_DISABLE_REGISTRY_RESOLVE: "true",
    GITHUB_WORKSPACE: project,
  });

  const pulumi = (args: string[], env: NodeJS.ProcessEnv) => {
    const t0 = Date.now();
    const r = spawnSync("pulumi", args, { cwd: project, env, encoding: "utf8", timeout: 20 * 60_000, maxBuffer: 64 * 1024 * 1024 });
    return { status: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}`, seconds: (Date.now() - t0) / 1000 };
  };

  /** The CLI commands pulumi/actions runs for these inputs (its src/main.ts + the Automation API). */
  function actionCommands(inputs: Record<string, string | boolean>): string[][] {
    const known = ["command", "stack-name", "cloud-url", "pulumi-version", "diff", "suppress-progress", "comment-on-pr", "edit-pr-comment", "github-token", "comment-on-summary", "upsert"];
    for (const k of Object.keys(inputs)) assert.ok(known.includes(k), `pulumi/actions input '${k}' has no CLI mapping in this test; add it`);
    const stack = expand(String(inputs["stack-name"]));
    const flags = [...(inputs.diff === true ? ["--diff"] : []), ...(inputs["suppress-progress"] === true ? ["--suppress-progress"] : [])];
    const command = inputs.command === "preview" ? ["preview", ...flags] : inputs.command === "up" ? ["up", "--yes", "--skip-preview", ...flags] : assert.fail(`command ${inputs.command}`);
    return [
      ["--non-interactive", "--cwd", project, "login", expand(String(inputs["cloud-url"]))],
      ["stack", "select", ...(inputs.upsert === true ? ["--create"] : []), "--stack", stack, "--non-interactive"],
      [...command, "--stack", stack, "--non-interactive"],
    ];
  }

  /**
   * One job of the workflow, step by step, as the runner would; returns the pulumi command's output
   * (the drift job: its check step's, which may fail, and the job summary it wrote).
   */
  function runJob(job: "preview" | "up" | "drift", extraArgs: string[] = []): { status: number; out: string; seconds: number; command: string; summary: string } {
    let result: { status: number; out: string; seconds: number; command: string; summary: string } | undefined;
    const summaryFile = path.join(work, `summary-${job}.md`);
    fs.writeFileSync(summaryFile, "");
    for (const step of workflow.jobs[job].steps) {
      const env = { ...baseEnv(), GITHUB_STEP_SUMMARY: summaryFile, ...Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, expand(v)])) };
      if (step.uses?.startsWith("actions/checkout@") || step.uses?.startsWith("actions/setup-node@")) continue; // the copy; this Node
      // node_modules is the checkout's own (linked); npm ci's prepare script (build:lib) ran in before().
      if (step.run?.startsWith("npm ci")) continue;
      // Without a command the action only installs the CLI: here it is on the PATH already.
      if (step.uses?.startsWith("pulumi/actions@") && step.with?.command === undefined) continue;
      if (step.run?.includes("scripts/ci/drift-check.sh")) {
        const t0 = Date.now();
        const r = spawnSync("bash", ["-e", "-c", step.run], { cwd: project, env, encoding: "utf8", timeout: 20 * 60_000 });
        result = { status: r.status ?? -1, out: `${r.stdout}${r.stderr}`, seconds: (Date.now() - t0) / 1000, command: expand(step.run), summary: fs.readFileSync(summaryFile, "utf8") };
        console.log(`# ${job}: ${step.run} → exit ${result.status} in ${result.seconds.toFixed(1)} s`);
        continue;
      }
      if (step.run) {
        const r = spawnSync("bash", ["-e", "-c", step.run], { cwd: project, env, encoding: "utf8" });
        assert.equal(r.status, 0, `${job}: '${step.run}' failed:\n${r.stdout}${r.stderr}`);
        assert.ok(!`${r.stdout}${r.stderr}`.includes(secrets.SSH_PRIVATE_KEY.split("\n")[1]), "a run: step printed the key");
        continue;
      }
      assert.ok(step.uses?.startsWith("pulumi/actions@"), `${job}: unknown step ${step.uses}`);
      const [login, select, command] = actionCommands(step.with!);
      for (const c of [login, select]) {
        const r = pulumi(c, env);
        assert.equal(r.status, 0, `pulumi ${c.join(" ")}:\n${r.out}`);
      }
      const r = pulumi([...command, ...extraArgs], env);
      result = { ...r, command: `pulumi ${[...command, ...extraArgs].join(" ")}`, summary: "" };
      console.log(`# ${job}: ${result.command} → exit ${r.status} in ${r.seconds.toFixed(1)} s`);
    }
    return result!;
  }

  const keep = (name: string, text: string) => {
    fs.writeFileSync(path.join(work, `${name}.txt`), text);
    if (textDir) fs.mkdirSync(textDir, { recursive: true }), fs.writeFileSync(path.join(textDir, `${name}.txt`), text);
  };
  /** The stack file, edited as a pull request would edit it. */
  const stackFile = path.join(project, `Pulumi.${STACK}.yaml`);
  const editStack = (f: (config: Record<string, unknown>) => void) => {
    const doc = yaml.load(fs.readFileSync(stackFile, "utf8")) as { config: Record<string, unknown> };
    f(doc.config);
    fs.writeFileSync(stackFile, yaml.dump(doc));
  };
  /** "NAME OP" of every resource the preview would change (Pulumi's `TYPE: (op)` header, then its urn). */
  const changes = (out: string): string[] => {
    const lines = out.split("\n");
    const found: string[] = [];
    lines.forEach((line, i) => {
      const head = /^\s*(?:\+-|[~+-])\s*[\w:/.-]+: \((\w[\w-]*)\)$/.exec(line);
      if (!head) return;
      const urn = lines.slice(i + 1, i + 4).map((l) => /\[urn=[^\]]*::([^:\]]+)\]/.exec(l)).find(Boolean);
      if (urn) found.push(`${urn[1]} ${head[1]}`);
    });
    return found.sort();
  };
  const noScriptText = (out: string) => {
    assert.ok(!/set -euo pipefail|read_kv_payload|safe_path\(\)/.test(out.replace(/urn=[^\]]*edge-host-scripts\][\s\S]*?(?=\n\s*[~+-]+\s*\S+:\S+: \(|\nResources:)/g, "")), "script text in the preview outside the install step");
    assert.ok(!/PRIVATE KEY-----\s*\n\s*[A-Za-z0-9+/]/.test(out), "key material in the preview");
  };

  before(() => {
    host = createHost("engine-ci", "trixie");
    asFound = fingerprint(host);
    secrets = {
      PULUMI_BACKEND_URL: `file://${backend}`,
      PULUMI_CONFIG_PASSPHRASE: randomBytes(16).toString("hex"),
      AWS_ACCESS_KEY_ID: "unused-with-a-file-backend",
      AWS_SECRET_ACCESS_KEY: "unused-with-a-file-backend",
      SSH_PRIVATE_KEY: fs.readFileSync(host.sshKey, "utf8"),
      SSH_HOST_KEY: host.hostKey,
    };
    // The checkout: the repository's files (as committed or edited), its node_modules linked.
    const files = spawnSync("git", ["ls-files", "-co", "--exclude-standard"], { cwd: repoRoot, encoding: "utf8" }).stdout.trim().split("\n");
    for (const f of files) {
      if (!fs.existsSync(path.join(repoRoot, f))) continue;
      fs.mkdirSync(path.dirname(path.join(project, f)), { recursive: true });
      fs.copyFileSync(path.join(repoRoot, f), path.join(project, f));
    }
    fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(project, "node_modules"));
    // What `npm ci` runs as the prepare script: the package's own provider plugin (dist/).
    const build = spawnSync("npm", ["run", "--silent", "build:lib"], { cwd: project, encoding: "utf8" });
    assert.equal(build.status, 0, `build:lib in the checkout:\n${build.stdout}${build.stderr}`);
    fs.mkdirSync(backend, { recursive: true });
    // What the team commits once (docs/ci.md §2): the stack file with its encryption salt.
    fs.writeFileSync(stackFile, yaml.dump({ config: {
      "jupyterhub-edge:host": host.addr,
      "jupyterhub-edge:sshPrivateKeyFile": ".secrets/ssh_key",
      "jupyterhub-edge:hostKeyFile": ".secrets/host_key.pub",
      "jupyterhub-edge:platform": "debian-13",
      "jupyterhub-edge:proxy": "nginx",
      "jupyterhub-edge:hubDomain": HUB,
      "jupyterhub-edge:extraSites": [{ domain: WWW }],
    } }));
    const env = { ...baseEnv(), PULUMI_CONFIG_PASSPHRASE: secrets.PULUMI_CONFIG_PASSPHRASE };
    for (const c of [["login", secrets.PULUMI_BACKEND_URL], ["stack", "init", STACK, "--secrets-provider", "passphrase", "--non-interactive"]]) {
      const r = pulumi(c, env);
      assert.equal(r.status, 0, `pulumi ${c.join(" ")}:\n${r.out}`);
    }
    assert.match(fs.readFileSync(stackFile, "utf8"), /^encryptionsalt: /m, "the salt a team commits");
  });

  after(() => {
    if (process.env.JHE_KEEP_HOSTS === "1") return;
    if (host) removeHost("engine-ci");
    fs.rmSync(work, { recursive: true, force: true });
  });

  test("CI: the up job (merge to main) deploys the stack; the site answers", async () => {
    const r = runJob("up");
    keep("up", r.out);
    assert.equal(r.status, 0, r.out.slice(-4000));
    noScriptText(r.out);
    const outputs = pulumi(["stack", "output", "--json", "--stack", STACK], { ...baseEnv(), PULUMI_CONFIG_PASSPHRASE: secrets.PULUMI_CONFIG_PASSPHRASE });
    const { url, caCertificate } = JSON.parse(outputs.out) as { url: string; caCertificate: string };
    assert.equal(url, `https://${HUB}/`);
    const login = await httpsGet(`https://${HUB}/hub/login`, { connectTo: { host: host.addr }, ca: caCertificate, timeoutMs: 15_000 });
    assert.equal(login.status, 200);
  });

  test("CI: the preview job right after has nothing to do", () => {
    const r = runJob("preview");
    keep("preview-unchanged", r.out);
    assert.equal(r.status, 0, r.out);
    assert.deepEqual(changes(r.out), []);
    const created = changes(fs.readFileSync(path.join(work, "up.txt"), "utf8"));
    assert.ok(created.includes("edge-host-scripts create") && created.length > 15, `the change parser reads the up's creates: ${created.join(", ")}`);
    assert.match(r.out, /Resources:\s*\n\s*\d+ unchanged\s*$/m);
  });

  test("CI: the scheduled drift job: clean passes; a hand edit fails it with the server, the item and the diff in the job summary; up --refresh repairs", () => {
    const clean = runJob("drift");
    assert.equal(clean.status, 0, clean.out.slice(-3000));
    assert.match(clean.summary, /^### Stack `ci`: no drift$/m);
    const vhost = "/etc/nginx/conf.d/jupyterhub-edge.conf";
    const wrote = ssh(host, `sha256sum ${vhost}`).stdout;
    const edit = ssh(host, "bash -s", `set -e; sed -i '0,/proxy_read_timeout/s//proxy_read_timeout 7200s; # by hand, room 2/' ${vhost}; nginx -t -q; systemctl reload nginx`);
    assert.equal(edit.status, 0, edit.stderr);
    const dirty = runJob("drift");
    keep("drift-job", dirty.out);
    console.log(dirty.summary.split("\n").map((l) => `#   ${l}`).join("\n"));
    assert.notEqual(dirty.status, 0, "the job fails on drift");
    assert.match(dirty.summary, /^### Stack `ci`: hand edits on the servers$/m);
    assert.match(dirty.summary, /^server \(this stack's server\):$/m);
    assert.match(dirty.summary, new RegExp(`proxy-config: ${vhost}`));
    assert.match(dirty.summary, /"\+\s*proxy_read_timeout 7200s; # by hand, room 2[^"]*"/);
    const env = { ...baseEnv(), PULUMI_BACKEND_URL: secrets.PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE: secrets.PULUMI_CONFIG_PASSPHRASE };
    const repair = pulumi(["up", "--refresh", "--yes", "--skip-preview", "--suppress-progress", "--stack", STACK, "--non-interactive"], env);
    assert.equal(repair.status, 0, repair.out.slice(-3000));
    assert.equal(ssh(host, `sha256sum ${vhost}`).stdout, wrote, "the vhost is back as the program wrote it");
    const again = runJob("drift");
    assert.equal(again.status, 0, again.out.slice(-3000));
  });

  test("CI: preview of a hubPath change shows the rendered vhost lines and the hub block, no script", () => {
    const before = fingerprint(host);
    editStack((c) => (c["jupyterhub-edge:hubPath"] = "/jhub/"));
    try {
      const r = runJob("preview");
      keep("preview-hubpath", r.out);
      assert.equal(r.status, 0, r.out);
      // Port 80 redirects every path already: only the HTTPS vhost and the hub's block change.
      assert.deepEqual(changes(r.out), ["edge-hub-hub-bind-url update", "edge-proxy-proxy-config update"]);
      assert.match(r.out, /\+\s*\|\s*location \/jhub\/ \{/);
      assert.match(r.out, /\+\s*\|c\.JupyterHub\.bind_url = 'http:\/\/127\.0\.0\.1:8000\/jhub\/'/);
      assert.doesNotMatch(r.out, /~ create:|~ update:|~ delete:/, "command lines are unchanged");
      noScriptText(r.out);
    } finally {
      editStack((c) => delete c["jupyterhub-edge:hubPath"]);
    }
    assert.equal(fingerprintDiff(before, fingerprint(host)), "", "a preview changes nothing on the host");
  });

  test("CI: preview of an extra domain: a new certificate, its key as [secret], the new server block", () => {
    editStack((c) => (c["jupyterhub-edge:extraSites"] = [{ domain: WWW }, { domain: "docs.ci.test" }]));
    try {
      const r = runJob("preview");
      keep("preview-extra-domain", r.out);
      assert.equal(r.status, 0, r.out);
      assert.deepEqual(changes(r.out), [
        "edge-certs-docs.ci.test-cert create", "edge-certs-docs.ci.test-csr create", "edge-certs-docs.ci.test-key create",
        "edge-certs-tls-files update", "edge-proxy-proxy-config update", "edge-proxy-proxy-http update", "edge-proxy-web-roots update",
      ]);
      assert.match(r.out, /\+\s*\|\s*server_name docs\.ci\.test;/);
      assert.match(r.out, /stdin\s*:\s*\[secret\]/);
      noScriptText(r.out);
    } finally {
      editStack((c) => (c["jupyterhub-edge:extraSites"] = [{ domain: WWW }]));
    }
  });

  test("CI: preview of nginx → apache: the proxy steps are replaced, the Apache files shown", () => {
    editStack((c) => (c["jupyterhub-edge:proxy"] = "apache"));
    try {
      const r = runJob("preview");
      keep("preview-apache", r.out);
      assert.equal(r.status, 0, r.out);
      assert.deepEqual(changes(r.out), [
        "edge-bruteforce-fail2ban-jail update", // the jail reads the other proxy's access log
        "edge-hub-hub-bind-url update", // its comment names the proxy
        "edge-proxy-apache-modules create",
        "edge-proxy-proxy-capacity replace", // the sizing is per proxy (nginx.conf vs the MPM file)
        "edge-proxy-proxy-config replace", "edge-proxy-proxy-http replace", "edge-proxy-proxy-packages replace",
        "edge-proxy-rate-limit-packages create", // Apache's login rate limit: mod_qos on Debian 13
        "edge-proxy-selinux update", // its reasons name the proxy
      ]);
      assert.match(r.out, /\+\s*\|<VirtualHost \*:443>/);
      assert.match(r.out, /[-]\s*\|\s*listen 443 ssl;/);
      noScriptText(r.out);
    } finally {
      editStack((c) => (c["jupyterhub-edge:proxy"] = "nginx"));
    }
  });

  const scriptFile = (name: string) => path.join(project, "scripts", "remote", name);
  const original: Record<string, string> = {};
  const editScript = (name: string, f: (t: string) => string) => {
    original[name] ??= fs.readFileSync(scriptFile(name), "utf8");
    fs.writeFileSync(scriptFile(name), f(fs.readFileSync(scriptFile(name), "utf8")));
  };
  const restoreScripts = () => { for (const [n, t] of Object.entries(original)) fs.writeFileSync(scriptFile(n), t); };

  test("CI: a program upgrade that edits only comments in remote scripts has nothing to do on the server", () => {
    editScript("files.sh", (t) => t.replace(/^# files: .*$/m, "$&\n# (a reviewer's clarifying comment)"));
    editScript("lib.sh", (t) => t.replace(/^(set -euo pipefail)$/m, "$1   # stop at the first error"));
    try {
      const r = runJob("preview");
      keep("preview-comment-edit", r.out);
      assert.equal(r.status, 0, r.out);
      assert.deepEqual(changes(r.out), [], "no remote step changes");
      assert.match(r.out, /Resources:\s*\n\s*\d+ unchanged\s*$/m);
      const strict = runJob("preview", ["--expect-no-changes"]);
      assert.equal(strict.status, 0, `pulumi's own --expect-no-changes:\n${strict.out.slice(-2000)}`);
    } finally {
      restoreScripts();
    }
  });

  test("CI: a real edit of one script replaces the install step and updates exactly the steps that run it", () => {
    editScript("certbot.sh", (t) => `${t}\nsay "done"\n`);
    editScript("hub-managed-block.sh", (t) => `${t}\ntrue\n`);
    try {
      const r = runJob("preview");
      keep("preview-script-edit", r.out);
      assert.equal(r.status, 0, r.out);
      // No ACME in this stack: the certbot edit touches the installed scripts only.
      assert.deepEqual(changes(r.out), ["edge-host-scripts replace", "edge-hub-hub-bind-url update"]);
      assert.match(r.out, /~\s*create\s*:\s*"bash \/usr\/local\/lib\/jupyterhub-edge\/[0-9a-f]{16}\/hub-managed-block\.sh hub-bind-url apply" => "bash \/usr\/local\/lib\/jupyterhub-edge\/[0-9a-f]{16}\/hub-managed-block\.sh hub-bind-url apply"/);
    } finally {
      restoreScripts();
    }
  });

  test("CI: stack export carries each script once, in the install step, and no step's command holds script text", () => {
    const r = pulumi(["stack", "export", "--stack", STACK], { ...baseEnv(), PULUMI_CONFIG_PASSPHRASE: secrets.PULUMI_CONFIG_PASSPHRASE });
    assert.equal(r.status, 0, r.out);
    const resources = (JSON.parse(r.out) as { deployment: { resources: { urn: string; type: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> }[] } }).deployment.resources;
    const commands = resources.filter((x) => x.type === "command:remote:Command");
    assert.ok(commands.length >= 8);
    for (const c of commands) {
      const text = JSON.stringify([c.inputs, c.outputs]);
      const isInstall = c.urn.endsWith("::edge-host-scripts");
      assert.equal(/set -euo pipefail/.test(text), isInstall, `${c.urn.split("::").pop()}: script text ${isInstall ? "missing" : "present"}`);
      assert.ok(String(c.inputs?.create).length < 120, `${c.urn}: ${String(c.inputs?.create).slice(0, 80)}…`);
    }
    const marker = "jupyterhub-edge remote script 'files'";
    assert.equal(r.out.split(marker).length - 1, 2, "files.sh once as the install step's input, once as its output");
    console.log(`# stack export: ${(r.out.length / 1024).toFixed(0)} KiB, ${commands.length} remote commands, longest command line ${Math.max(...commands.map((c) => String(c.inputs?.create).length))} chars`);
  });

  test("CI: destroy leaves the host as it was found", () => {
    const r = pulumi(["destroy", "--yes", "--skip-preview", "--suppress-progress", "--stack", STACK, "--non-interactive"], { ...baseEnv(), PULUMI_CONFIG_PASSPHRASE: secrets.PULUMI_CONFIG_PASSPHRASE });
    assert.equal(r.status, 0, r.out.slice(-3000));
    const diff = fingerprintDiff(asFound, fingerprint(host));
    assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
  });
}
