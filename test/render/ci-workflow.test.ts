/**
 * Render tier: the GitHub Actions workflow (.github/workflows/pulumi.yml). actionlint (with
 * shellcheck on its scripts) accepts it and rejects a broken copy; its shape is what docs/ci.md
 * promises (preview + PR comment, up on main, one run per stack at a time, every secret
 * documented); and scripts/ci/changed-stacks.sh picks the right stacks in a real git history.
 * The engine tier runs the jobs' commands against a sandbox host (test/engine/ci-workflow.test.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";

const repo = path.join(__dirname, "..", "..");
const workflowFile = path.join(repo, ".github", "workflows", "pulumi.yml");

interface WorkflowStep { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> }
interface Job { needs?: string; if?: string; environment?: string; concurrency?: { group: string; "cancel-in-progress": boolean }; steps: WorkflowStep[]; strategy?: { matrix: Record<string, unknown> } }
const workflow = yaml.load(fs.readFileSync(workflowFile, "utf8")) as { on: Record<string, { branches: string[] }>; env: Record<string, string>; jobs: Record<string, Job> };

function actionlint(...args: string[]) {
  return spawnSync("bash", [path.join(repo, "scripts/toolchain/actionlint.sh"), "-no-color", ...args], { cwd: repo, encoding: "utf8", timeout: 10 * 60_000 });
}

test("actionlint (and shellcheck on the run: scripts) accepts the workflow", () => {
  const r = actionlint();
  console.log(`# ${r.stderr.trim().split("\n").pop()}`);
  assert.equal(r.status, 0, `actionlint found problems:\n${r.stdout}\n${r.stderr}`);
});

test("actionlint rejects a broken workflow (the lint can fail)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-actionlint-"));
  const broken = fs.readFileSync(workflowFile, "utf8")
    .replace("needs: stacks\n    # Secrets", "needs: stack\n    # Secrets")
    .replace("fromJSON(needs.stacks.outputs.stacks) }}\n    # Per-stack", "fromJSON(needs.stacks.output.stacks) }}\n    # Per-stack");
  const file = path.join(dir, "broken.yml");
  fs.writeFileSync(file, broken);
  const r = actionlint(file);
  fs.rmSync(dir, { recursive: true, force: true });
  assert.notEqual(r.status, 0);
  assert.match(r.stdout, /job "preview" needs job "stack" which does not exist/);
});

const pulumiStep = (job: string): WorkflowStep => {
  const steps = workflow.jobs[job].steps.filter((s) => s.uses?.startsWith("pulumi/actions@"));
  assert.equal(steps.length, 1, `${job}: one pulumi/actions step`);
  return steps[0];
};

test("pull requests get `preview --diff` commented on the PR; pushes to main run `up`", () => {
  assert.deepEqual(workflow.on.pull_request.branches, ["main"]);
  assert.deepEqual(workflow.on.push.branches, ["main"]);
  const preview = pulumiStep("preview").with!;
  assert.equal(preview.command, "preview");
  assert.equal(preview.diff, true);
  assert.equal(preview["comment-on-pr"], true);
  assert.match(String(workflow.jobs.preview.if), /github\.event_name == 'pull_request'/);
  const up = pulumiStep("up").with!;
  assert.equal(up.command, "up");
  assert.match(String(workflow.jobs.up.if), /github\.event_name == 'push'/);
  for (const job of ["preview", "up"]) {
    assert.equal(workflow.jobs[job].needs, "stacks");
    assert.equal(workflow.jobs[job].strategy!.matrix.stack, "${{ fromJSON(needs.stacks.outputs.stacks) }}");
    assert.equal(pulumiStep(job).with!["stack-name"], "${{ matrix.stack }}");
    assert.equal(pulumiStep(job).with!["cloud-url"], "${{ secrets.PULUMI_BACKEND_URL }}", "a self-managed backend");
    assert.equal(pulumiStep(job).env!.PULUMI_CONFIG_PASSPHRASE, "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}");
    assert.ok(workflow.jobs[job].steps.some((s) => s.run === "bash scripts/ci/stack-secrets.sh"), `${job}: SSH key and host key from secrets`);
  }
});

test("two runs never touch one stack at once: previews and ups share one queue per stack", () => {
  const groups = ["preview", "up"].map((j) => workflow.jobs[j].concurrency);
  for (const g of groups) {
    assert.equal(g?.group, "pulumi-stack-${{ matrix.stack }}");
    assert.equal(g?.["cancel-in-progress"], false, "a running up is never cancelled midway");
  }
});

test("every secret and variable the workflow uses is documented in docs/ci.md; the CLI version is the tested one", () => {
  const text = fs.readFileSync(workflowFile, "utf8");
  const doc = fs.readFileSync(path.join(repo, "docs", "ci.md"), "utf8");
  const names = [...new Set([...text.matchAll(/\b(secrets|vars)\.([A-Z_]+)/g)].map((m) => m[2]))].filter((n) => n !== "GITHUB_TOKEN");
  assert.ok(names.length >= 7, names.join(" "));
  for (const n of names) assert.match(doc, new RegExp("`" + n + "`"), `docs/ci.md does not explain ${n}`);
  const cli = fs.readFileSync(path.join(repo, "scripts/toolchain/pulumi-cli.sh"), "utf8");
  assert.equal(workflow.env.PULUMI_CLI_VERSION, /PULUMI_CLI_VERSION:-([0-9.]+)/.exec(cli)![1]);
});

test("changed-stacks.sh: a stack file → that stack; program code → every stack; docs → none; opted-out stacks never", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-stacks-"));
  const git = (...args: string[]) => {
    const r = spawnSync("git", ["-c", "user.email=t@example.org", "-c", "user.name=t", ...args], { cwd: dir, encoding: "utf8" });
    assert.equal(r.status, 0, `git ${args.join(" ")}: ${r.stderr}${r.stdout}`);
    return r.stdout.trim();
  };
  const write = (file: string, text: string) => { fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true }); fs.writeFileSync(path.join(dir, file), text); };
  fs.mkdirSync(path.join(dir, "scripts", "ci"), { recursive: true });
  fs.copyFileSync(path.join(repo, "scripts/ci/changed-stacks.sh"), path.join(dir, "scripts/ci/changed-stacks.sh"));
  git("init", "-q", "-b", "main");
  write("Pulumi.yaml", "name: x\n");
  write("Pulumi.dev.yaml", "# jupyterhub-edge-ci: off\nconfig: {}\n");
  write("Pulumi.room-a.yaml", "config: {}\n");
  write("Pulumi.room-b.yaml", "config: {}\n");
  write("steps/plan.ts", "// v1\n");
  git("add", "-A");
  git("commit", "-q", "-m", "one");
  const commit = (files: Record<string, string | null>) => {
    for (const [f, t] of Object.entries(files)) t === null ? fs.rmSync(path.join(dir, f)) : write(f, t);
    git("add", "-A");
    git("commit", "-q", "-m", "next");
    return git("rev-parse", "HEAD");
  };
  const stacks = (base: string) => {
    const r = spawnSync("bash", ["scripts/ci/changed-stacks.sh", base, "HEAD"], { cwd: dir, encoding: "utf8" });
    assert.equal(r.status, 0, `changed-stacks.sh ${base}: ${r.stderr}`);
    return r.stdout.trim();
  };
  let base = git("rev-parse", "HEAD");
  commit({ "Pulumi.room-a.yaml": "config: {a: 1}\n" });
  assert.equal(stacks(base), 'stacks=["room-a"]');
  base = git("rev-parse", "HEAD");
  commit({ "docs/ci.md": "x\n", "README.md": "y\n", "test/x.test.ts": "z\n" });
  assert.equal(stacks(base), "stacks=[]");
  base = git("rev-parse", "HEAD");
  commit({ "scripts/remote/files.sh": "# a comment\n" });
  assert.equal(stacks(base), 'stacks=["room-a","room-b"]', "a program change previews every stack (not dev: opted out)");
  base = git("rev-parse", "HEAD");
  commit({ "Pulumi.room-b.yaml": null, "Pulumi.dev.yaml": "# jupyterhub-edge-ci: off\nconfig: {b: 2}\n" });
  assert.equal(stacks(base), "stacks=[]", "deleted and opted-out stacks are left alone");
  assert.equal(stacks("0000000000000000000000000000000000000000"), 'stacks=["room-a"]', "no base: every stack");
  fs.rmSync(dir, { recursive: true, force: true });
});
