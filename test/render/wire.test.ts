/**
 * Render tier: the one payload contract. render/wire.ts writes the wire format, lib.sh's
 * read_payload reads it (run here by bash itself, against a scratch state directory), and both sides
 * read every payload the plan builds the same way: values, records in order, file entries (mode,
 * group, path, content) and the text block. Every step's payload passes its own script's key list
 * (the `read_payload` line of the script): no script parses a format of its own.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseConfig } from "../../config/schema";
import { planSteps } from "../../steps/plan";
import { constantsPrelude, hostConstants, scriptsDir, stripComments } from "../../steps/remote-scripts";
import { comment, files, parseWire, records, text, values, wire } from "../../render/wire";
import { platformIds } from "../../model/platforms";
import { variants } from "./variants";

const sha = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-wire-"));
process.on("exit", () => fs.rmSync(scratch, { recursive: true, force: true }));

/** The reader's view of a payload, as bash prints it: one line per value, record, file entry, text. */
const DUMP = [
  "for k in $(printf '%s\\n' \"${!PAYLOAD[@]}\" | sort); do printf 'value %s=%s\\n' \"$k\" \"${PAYLOAD[$k]}\"; done",
  "payload_records | sed 's/^/record /'",
  "i=0",
  "while read -r mode group path; do i=$((i + 1)); printf 'file %s %s %s %s\\n' \"$mode\" \"$group\" \"$path\" \"$(sha256sum <\"$PAYLOAD_DIR/content/$i\" | cut -c1-64)\"; done < <(payload_files)",
  "printf 'text %s\\n' \"$(payload_text | sha256sum | cut -c1-64)\"",
].join("\n") + "\n";

/** Runs lib.sh's read_payload with KEYS on PAYLOAD (as root would, in a scratch state directory). */
function bashRead(keys: string[], payload: string, after = DUMP): { status: number; stdout: string; stderr: string } {
  const state = fs.mkdtempSync(path.join(scratch, "state-"));
  const prelude = constantsPrelude({ ...hostConstants, stateDir: state, stepLock: path.join(state, "lock") });
  const script = `id() { echo 0; }\n${prelude}${stripComments(fs.readFileSync(path.join(scriptsDir, "lib.sh"), "utf8"))}read_payload ${keys.map((k) => `'${k}'`).join(" ")}\n${after}`;
  const file = path.join(state, "run.sh");
  fs.writeFileSync(file, script);
  const r = spawnSync("bash", [file, "wire-test", "apply"], { input: payload, encoding: "utf8" });
  const left = fs.readdirSync(state).filter((f) => f.startsWith(".payload."));
  assert.deepEqual(left, [], "the staging directory is gone when the step ends");
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** What the reader must print for a payload, from the TypeScript reader. */
function expected(payload: string): string {
  const p = parseWire(payload);
  return [
    ...Object.keys(p.values).sort().map((k) => `value ${k}=${p.values[k]}`),
    ...p.records.map((r) => `record ${r.key} ${r.value}`),
    ...p.files.map((f) => `file ${f.mode} ${f.group} ${f.path} ${sha(f.content)}`),
    `text ${sha(p.text)}`,
  ].join("\n") + "\n";
}

test("every kind of entry reads the same on both sides, content byte for byte", () => {
  const payload = wire(
    values({ after: "nginx", handshake: "443 hub.example.org", spaced: "a  b  c " }),
    comment("why: a comment line is ignored"),
    records("lineage", [["hub.example.org", "http-01", "hub.example.org", "*.example.org"], ["b.example.org", "dns-01", "b.example.org"]]),
    files([
      { path: "/etc/x/a.conf", mode: "0644", content: "line one\n|bar-looking line\n\nend\nfile /not/a/record 0644\n" },
      { path: "/etc/x/key.pem", mode: "0640", group: "www-data", content: "-----BEGIN PRIVATE KEY-----\n$(touch /tmp/pwned) `x` '\"\\\n" },
    ]),
    text("-----BEGIN CERTIFICATE-----\nMII…\n"),
  );
  const r = bashRead(["after", "handshake", "spaced", "lineage", "file", "text"], payload);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, expected(payload));
  assert.ok(!r.stderr.includes("PRIVATE"), "the reader prints no content");
  assert.deepEqual(parseWire(payload).files[1].content, "-----BEGIN PRIVATE KEY-----\n$(touch /tmp/pwned) `x` '\"\\\n");
});

test("the reader refuses what its script does not take: unknown keys, missing required ones, bad file entries, stray lines", () => {
  const refused = (keys: string[], payload: string, why: RegExp) => {
    const r = bashRead(keys, payload);
    assert.notEqual(r.status, 0, `accepted: ${JSON.stringify(payload)}`);
    assert.match(r.stderr, why);
  };
  refused(["path!"], "bits 2048\npath /x\n", /unexpected payload key 'bits'/);
  refused(["path!", "bits!"], "path /x\n", /payload lacks 'bits'/);
  refused(["file"], "file ../etc/passwd 0644\n|x\nend\n", /safe absolute path/);
  refused(["file"], "file /etc/x 644\n|x\nend\n", /bad mode/);
  refused(["file"], "file /etc/x 0644 Bad;group\n|x\nend\n", /bad group/);
  refused(["file"], "file /etc/x 0644\n|x\n", /has no 'end'/);
  refused(["file"], "file /etc/x 0644\nstray\nend\n", /content lines start with/);
  refused(["file"], "|outside\n", /text line outside a file entry/);
  refused(["a"], "A value\n", /malformed payload line/);
});

/** Each script's apply key list: the arguments of its `read_payload` line (not the undo's `*`). */
function scriptKeys(script: string): string[] {
  const src = fs.readFileSync(path.join(scriptsDir, `${script}.sh`), "utf8").replace(/\\\n\s*/g, "");
  const line = src.split("\n").find((l) => /^read_payload /.test(l));
  assert.ok(line, `${script}.sh reads its payload with read_payload`);
  return line.replace(/^read_payload /, "").trim().split(/\s+/);
}

test("no remote script parses a payload of its own: each reads stdin only through read_payload", () => {
  for (const f of fs.readdirSync(scriptsDir).filter((f) => f.endsWith(".sh") && f !== "lib.sh" && f !== "install.sh")) {
    const src = fs.readFileSync(path.join(scriptsDir, f), "utf8");
    assert.doesNotMatch(src, /while IFS= read -r line/, `${f} reads lines of its own`);
    assert.doesNotMatch(src, /read_kv_payload/, `${f} uses the old reader`);
  }
});

test("every payload the plan builds, on every platform, reads the same in bash as in TypeScript, under its script's keys", () => {
  const sample = (p: string, mode: string, group?: string) => wire(values({ after: "none" }), files([{ path: p, mode, ...(group ? { group } : {}), content: "x\n" }]));
  const seen = new Set<string>();
  let checked = 0;
  for (const [name, config] of Object.entries(variants)) {
    for (const platform of [config.platform ?? "debian-13", "rhel-9", "fedora-43"]) {
      if (!platformIds.includes(platform as never)) continue;
      let site;
      try {
        site = parseConfig({ ...config, platform }).site;
      } catch {
        continue; // a variant this platform does not take
      }
      const steps = planSteps<string>(site, sample("/etc/jupyterhub-edge/tls/k.pem", "0600"), sample("/etc/jupyterhub-edge/htpasswd", "0640", "root"), undefined, sample("/etc/jupyterhub-edge/acme.ini", "0600"));
      for (const step of steps) {
        if (step.script === "install") continue;
        const key = `${step.script}\n${step.payload}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const r = bashRead(scriptKeys(step.script), step.payload);
        assert.equal(r.status, 0, `${name} on ${platform}, step ${step.name}: ${r.stderr}`);
        assert.equal(r.stdout, expected(step.payload), `${name} on ${platform}, step ${step.name}`);
        checked++;
      }
    }
  }
  assert.ok(checked > 50, `only ${checked} payloads checked`);
});

test("text and records survive the round trip exactly", () => {
  const payload = wire(values({ config: "/etc/jupyterhub/jupyterhub_config.py" }), text("# BEGIN x\nc.A = '|'\n\n# END x\n"));
  assert.equal(parseWire(payload).text, "# BEGIN x\nc.A = '|'\n\n# END x\n");
  assert.deepEqual(parseWire(wire(records("root", [["/srv/a", "a.example.org"]]))).records, [{ key: "root", value: "/srv/a a.example.org" }]);
  assert.throws(() => wire(values({ bad: "two\nlines" })), /one line/);
  assert.throws(() => wire(values({ file: "x" })), /not file\/end/);
});
