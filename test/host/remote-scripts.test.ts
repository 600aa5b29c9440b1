/**
 * Host tier: the install step on a real host, run exactly as the provider runs it (`bash -s
 * scripts apply|undo`, the bundle on stdin). Scripts land under their content hash, steps run them
 * by that path, a second install changes nothing, a program upgrade keeps the old scripts until the
 * old bundle is undone, a damaged transfer is refused, and undo leaves the host as it was found.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseConfig } from "../../config/schema";
import { Step, installStep, planSteps, remoteCommand } from "../../steps/plan";
import { installRoot, scriptBundle, scriptsDir } from "../../steps/remote-scripts";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, runStep, ssh } from "../support/sandbox";

const hostName = "ht-scripts";
let host: SandboxHost;
let asFound: string;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-scripts-host-"));

before(() => {
  host = createHost(hostName, "trixie");
  asFound = fingerprint(host);
});
after(() => {
  if (host && process.env.JHE_KEEP_HOSTS !== "1") removeHost(hostName);
  fs.rmSync(scratch, { recursive: true, force: true });
});

const installed = (): string => ssh(host, `cd ${installRoot} 2>/dev/null && find . -printf '%y %m %u %p\\n' | sort`).stdout;
const run = (step: Step, mode: "apply" | "undo") => {
  const r = runStep(host, step, mode);
  assert.equal(r.status, 0, `${step.name} ${mode} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout.trim();
};

/** The install step of a copy of scripts/remote/ with `edit` applied to one file (a program upgrade). */
function upgraded(file: string, edit: (text: string) => string): { step: Step; bundle: ReturnType<typeof scriptBundle> } {
  const dir = path.join(scratch, `v${fs.readdirSync(scratch).length}`);
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(scriptsDir)) fs.copyFileSync(path.join(scriptsDir, f), path.join(dir, f));
  fs.writeFileSync(path.join(dir, file), edit(fs.readFileSync(path.join(dir, file), "utf8")));
  const bundle = scriptBundle(dir);
  return { step: { ...installStep(), payload: bundle.text, newVersionOn: bundle.id }, bundle };
}

test("install puts every script under its hash, root-owned, and the steps run them by that path", () => {
  const bundle = scriptBundle();
  console.log(`# ${run(installStep(), "apply")}`);
  const tree = installed();
  for (const s of bundle.scripts) {
    assert.match(tree, new RegExp(`^d 755 root ./${s.hash}$`, "m"));
    assert.match(tree, new RegExp(`^f 644 root ./${s.hash}/${s.name}\\.sh$`, "m"));
  }
  assert.match(tree, new RegExp(`^f 644 root ./bundles/${bundle.id}$`, "m"));
  const sums = ssh(host, `sha256sum ${bundle.scripts.map((s) => s.path).join(" ")}`).stdout;
  for (const s of bundle.scripts) assert.match(sums, new RegExp(`^${s.hash}[0-9a-f]{48}  ${s.path.replace(/\./g, "\\.")}$`, "m"));

  const site = parseConfig({ host: host.addr, sshPrivateKeyFile: host.sshKey, platform: "debian-13", hubDomain: "hub.jhe.test" }).site;
  const preflight = planSteps(site, "after none\n").find((s) => s.name === "preflight")!;
  assert.match(remoteCommand(preflight, "apply", "root"), new RegExp(`^bash ${installRoot}/[0-9a-f]{16}/preflight\\.sh preflight apply$`));
  assert.match(run(preflight, "apply"), /^jupyterhub-edge preflight: host is debian 13 with systemd/);
  run(preflight, "undo");
});

test("a second install changes nothing on the host", () => {
  const before = fingerprint(host);
  run(installStep(), "apply");
  assert.equal(fingerprintDiff(before, fingerprint(host)), "");
});

test("a comment-only edit is the same bundle; a code edit installs beside the old until the old is undone", () => {
  const current = scriptBundle();
  assert.equal(upgraded("certbot.sh", (t) => t.replace(/^# certbot/m, "# certbot (an edited comment)")).bundle.id, current.id);
  const next = upgraded("certbot.sh", (t) => `${t}\ntrue\n`);
  assert.notEqual(next.bundle.id, current.id);
  const oldCertbot = current.scripts.find((s) => s.name === "certbot")!;
  const newCertbot = next.bundle.scripts.find((s) => s.name === "certbot")!;
  assert.notEqual(newCertbot.hash, oldCertbot.hash);
  // Pulumi's create-before-delete replace: the new bundle first, the old one's undo at the end.
  run(next.step, "apply");
  let tree = installed();
  for (const s of [...current.scripts, ...next.bundle.scripts]) assert.match(tree, new RegExp(`./${s.hash}/${s.name}\\.sh$`, "m"), `${s.name} ${s.hash}`);
  console.log(`# old bundle undone: ${run(installStep(), "undo")}`);
  tree = installed();
  assert.ok(!tree.includes(oldCertbot.hash), "the old certbot script is gone");
  for (const s of next.bundle.scripts) assert.match(tree, new RegExp(`./${s.hash}/${s.name}\\.sh$`, "m"), `${s.name} kept for the new bundle`);
  assert.deepEqual(tree.split("\n").filter((l) => l.includes("bundles/")).map((l) => l.split("/").pop()), [next.bundle.id]);
  // And back, as the next upgrade would do it.
  run(installStep(), "apply");
  run(next.step, "undo");
});

test("a script damaged on the way is refused, and the installed scripts stay as they were", () => {
  const before = installed();
  const good = installStep<string>();
  const files = scriptBundle().scripts.find((s) => s.name === "files")!;
  const damaged: Step = { ...good, payload: String(good.payload).replace(files.text, files.text.replace("proxy_test", "proxy_tset")) };
  assert.notEqual(damaged.payload, good.payload);
  const r = runStep(host, damaged, "apply");
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /files\.sh arrived damaged/);
  assert.equal(installed(), before);
});

test("undo removes everything, also when run twice, and the host is as it was found", () => {
  run(installStep(), "undo");
  run(installStep(), "undo");
  assert.equal(ssh(host, `test -e ${installRoot} && echo present || echo absent`).stdout.trim(), "absent");
  const diff = fingerprintDiff(asFound, fingerprint(host));
  assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
});
