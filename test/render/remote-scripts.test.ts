/**
 * Render tier: how steps name their scripts. Comment stripping never changes what bash parses
 * (checked by bash itself: `declare -f` prints a function as parsed, without comments), a comment
 * edit keeps every hash, a code edit changes exactly the hashes of the scripts that contain it, and
 * command lines are short identities with no script text in them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseConfig } from "../../config/schema";
import { planSteps, remoteCommand, scriptNames } from "../../steps/plan";
import { installRoot, installedScript, scriptBundle, scriptsDir, stepScriptNames, stripComments } from "../../steps/remote-scripts";

/** The script as bash parses it: wrapped in a function and printed back by bash. */
function parsed(text: string): string {
  const r = spawnSync("bash", ["-c", 'eval "jhe_parsed() {\n$(cat)\n}" && declare -f jhe_parsed'], { input: text, encoding: "utf8" });
  assert.equal(r.status, 0, `bash could not parse the script: ${r.stderr}`);
  return r.stdout;
}

const scriptFiles = fs.readdirSync(scriptsDir).filter((f) => f.endsWith(".sh"));

for (const file of scriptFiles) {
  test(`remote script ${file}: stripping comments leaves what bash parses unchanged`, () => {
    const text = fs.readFileSync(path.join(scriptsDir, file), "utf8");
    const stripped = stripComments(text);
    assert.ok(stripped.length < text.length, "something was stripped");
    assert.ok(!/^\s*#(?!!)/m.test(stripped.replace(/<<'?(\w+)'?[^\n]*\n[\s\S]*?\n\1\n/g, "")), "no full-line comment left outside here-documents");
    assert.equal(parsed(stripped), parsed(text));
  });
}

test("the bash check can fail: a '#' line inside a multi-line string is not a comment", () => {
  const text = 'x="one\n# two\nthree"\necho "$x"\n';
  assert.notEqual(parsed(stripComments(text)), parsed(text), "the naive stripper changes this script, and the check sees it");
});

test("here-document bodies are kept verbatim, comments and all", () => {
  const text = "f() {\n  python3 - <<'PY'\n# a python comment\nprint(1)\nPY\n}\n# gone\necho done # gone too\n";
  assert.equal(stripComments(text), "f() {\n  python3 - <<'PY'\n# a python comment\nprint(1)\nPY\n}\necho done\n");
});

test("every scripts/remote/*.sh is a ScriptName and is installed; every ScriptName but install has a file", () => {
  assert.deepEqual(stepScriptNames(), scriptNames.filter((n) => n !== "install").sort());
  assert.deepEqual(scriptBundle().scripts.map((s) => s.name), stepScriptNames());
});

const site = parseConfig({
  host: "203.0.113.10",
  sshPrivateKeyFile: "/dev/null",
  hubDomain: "hub.example.org",
  extraSites: [{ domain: "www.example.org" }],
  certificateMode: "acme",
  acmeEmail: "ops@example.org",
  dhe: true,
}).site;
const steps = planSteps(site, "after none\n");

test("command lines are short identities: installed script with its hash, step, mode", () => {
  assert.equal(steps[0].name, "scripts", "the install step comes first");
  for (const step of steps) {
    for (const mode of ["apply", "undo"] as const) {
      const cmd = remoteCommand(step, mode, "root");
      if (step.script === "install") assert.equal(cmd, `bash -s scripts ${mode}`);
      else assert.equal(cmd, `bash ${installRoot}/${installedScript(step.script).hash}/${step.script}.sh ${step.name} ${mode}`);
      assert.ok(cmd.length < 100, `${step.name}: ${cmd}`);
      assert.equal(remoteCommand(step, mode, "deploy"), `sudo -n ${cmd}`);
    }
    if (step.name !== "scripts") assert.ok(step.after.length > 0, `${step.name} runs after another step`);
  }
  assert.match(remoteCommand(steps[1], "apply", "root"), /^bash \/usr\/local\/lib\/jupyterhub-edge\/[0-9a-f]{16}\/preflight\.sh preflight apply$/);
});

test("the install step carries every script once, and only committed text", () => {
  const install = steps[0];
  const bundle = scriptBundle();
  assert.equal(install.payload, bundle.text);
  assert.equal(install.newVersionOn, bundle.id);
  assert.equal(install.replaceOn, undefined, "the new version is installed before the old is removed");
  for (const s of bundle.scripts) {
    assert.equal(bundle.text.split(s.text).length - 1, 1, `${s.name} once`);
    assert.match(s.hash, /^[0-9a-f]{16}$/);
  }
  for (const value of ["hub.example.org", "www.example.org", "203.0.113.10", "ops@example.org"]) assert.ok(!bundle.text.includes(value), value);
  for (const step of steps.slice(1)) {
    assert.ok(!String(step.payload).includes("set -euo pipefail"), `${step.name}: payload holds no script`);
  }
});

test("a comment edit changes no hash; a code edit changes its own script's hash, a prelude edit every one", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-scripts-"));
  let n = 0;
  /** The identities of a copy of scripts/remote/ with `edits` applied (file → text transform). */
  const identities = (edits: Record<string, (t: string) => string>): Record<string, string> => {
    const dir = path.join(tmp, String(n++));
    fs.mkdirSync(dir);
    for (const f of scriptFiles) {
      const text = fs.readFileSync(path.join(scriptsDir, f), "utf8");
      fs.writeFileSync(path.join(dir, f), edits[f] ? edits[f](text) : text);
    }
    const b = scriptBundle(dir);
    return Object.fromEntries([["bundle", b.id], ...b.scripts.map((s) => [s.name, s.hash])]);
  };
  const changedKeys = (a: Record<string, string>, b: Record<string, string>) => Object.keys(a).filter((k) => a[k] !== b[k]).sort();
  const original = identities({});
  assert.deepEqual(original, Object.fromEntries([["bundle", scriptBundle().id], ...scriptBundle().scripts.map((s) => [s.name, s.hash])]));
  const commentsOnly = {
    "files.sh": (t: string) => t.replace(/^# files: .*$/m, "# files: an edited comment, and\n#   a new comment line") + "\n# trailing comment\n\n",
    "lib.sh": (t: string) => t.replace(/^(set -euo pipefail)$/m, "$1   # with a comment"),
    "install.sh": (t: string) => `# a new first line\n${t}`,
  };
  assert.deepEqual(identities(commentsOnly), original, "comment edits change nothing");
  assert.deepEqual(changedKeys(original, identities({ ...commentsOnly, "certbot.sh": (t) => t + "true\n" })), ["bundle", "certbot"]);
  assert.deepEqual(changedKeys(original, identities({ "install.sh": (t) => t + "true\n" })), ["bundle"]);
  assert.deepEqual(changedKeys(original, identities({ "lib.sh": (t) => t + "true\n" })), Object.keys(original).sort(), "a prelude change changes every script");
  fs.rmSync(tmp, { recursive: true, force: true });
});

/**
 * Distribution facts live in model/platforms.ts and reach the scripts in their payload or the
 * generated prelude: the scripts' code (comments aside) names no distribution and no path that
 * differs between distributions. Product names (nginx, certbot, fail2ban) and the package
 * managers' own tools (apt, dnf, each a payload value) are not distribution facts.
 */
test("the remote scripts' code names no distribution and no distribution's path", () => {
  const forbidden = /\b(?:debian|ubuntu|rhel|fedora|rocky|alma|centos|epel)\b|\/etc\/(?:apache2|httpd|pki)\b|\/etc\/ssl\/certs|\/usr\/lib64\b|\bapache2ctl\b|\bapachectl\b|certbot(?:-renew)?\.(?:service|timer)/i;
  const found = scriptFiles.flatMap((file) =>
    stripComments(fs.readFileSync(path.join(scriptsDir, file), "utf8"))
      .split("\n")
      .filter((line) => forbidden.test(line))
      .map((line) => `${file}: ${line.trim()}`),
  );
  assert.deepEqual(found, []);
  assert.ok(forbidden.test('cat /etc/ssl/certs/ca-certificates.crt "$ca"'), "the check can fail: Debian's CA bundle path is caught");
});
