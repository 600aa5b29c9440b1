/**
 * Drift (issue 22), the pure part and the probe: the items each step owns come from the very
 * payloads it applies; the real probe script (bash, here on this machine against a scratch tree)
 * reports what it finds; the comparison names each difference, and never shows a secret file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createHash } from "crypto";
import { planSteps } from "../../steps/plan";
import { WatchedStep, driftOf, isWatched, ownUnitsOnce, parseFileRecords, parseProbeOutput, probeRequest, unifiedDiff, watchedStep, watchItems } from "../../steps/drift";
import { filesPayload } from "../../render/files";
import { loadStackFromStrings } from "../../config/fleet";

const sha = (t: string) => createHash("sha256").update(t).digest("hex");
const probeScript = fs.readFileSync(path.join(__dirname, "..", "..", "scripts", "status", "drift-probe.sh"), "utf8");

function site(extra: Record<string, string> = {}) {
  return loadStackFromStrings({ host: "203.0.113.10", sshPrivateKeyFile: "/dev/null", hubDomain: "hub.example.org", splitAuth: JSON.stringify({ users: ["tutor"] }), ...extra }, undefined, "/").hosts[0].site;
}

test("drift: a files payload reads back as the files it was made from (content, mode, group)", () => {
  const files = [
    { path: "/etc/a.conf", mode: "0644", content: "one\n|two\n\nend\n" },
    { path: "/etc/b", mode: "640", group: "www-data", content: "x\n" },
  ];
  assert.deepEqual(parseFileRecords("after nginx\nhandshake 443 hub\n" + filesPayload(files)), [
    { path: "/etc/a.conf", mode: "0644", group: "root", content: "one\n|two\n\nend\n" },
    { path: "/etc/b", mode: "0640", group: "www-data", content: "x\n" },
  ]);
});

test("drift: every watched step of a real plan owns items; secret steps carry no content", () => {
  for (const proxy of ["nginx", "apache"]) {
    const s = site({ proxy });
    const steps = planSteps<string>(s, "after none\n" + filesPayload([{ path: "/etc/jupyterhub-edge/tls/k.pem", mode: "0600", content: "KEY\n" }]), "after none\n" + filesPayload([{ path: "/etc/jupyterhub-edge/htpasswd", mode: "0640", group: "www-data", content: "tutor:$5$x$y\n" }]));
    const watched = ownUnitsOnce(steps.filter(isWatched).map((st) => watchedStep(st, st.payload as string, "root")));
    const units = watched.flatMap((w) => w.items.filter((i) => i.kind === "unit").map((i) => (i as { unit: string }).unit));
    assert.equal(new Set(units).size, units.length, `a unit watched twice: ${units.join(", ")}`);
    const names = watched.map((w) => `${w.name}:${w.items.length}`);
    console.log(`# ${proxy}: ${names.join(" ")}`);
    for (const w of watched) assert.ok(w.items.length > 0, `${w.name} owns nothing?`);
    assert.ok(watched.some((w) => w.items.some((i) => i.kind === "block")), "the hub's managed block");
    assert.ok(watched.some((w) => w.items.some((i) => i.kind === "unit" && i.unit === (proxy === "nginx" ? "nginx" : "apache2"))), "the proxy's unit");
    for (const w of watched.filter((x) => steps.find((st) => st.name === x.name)!.secret)) {
      for (const i of w.items) assert.ok(!("content" in i), `${w.name}: a secret step's item carries content`);
    }
    assert.match(watched[0].command, /^bash \/usr\/local\/lib\/jupyterhub-edge\/[0-9a-f]{16}\/packages\.sh proxy-packages apply$/);
  }
});

test("drift: the real probe script, on a scratch tree: each kind of difference is named, secrets never shown", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-drift-"));
  const plain = path.join(dir, "site.conf"), secret = path.join(dir, "htpasswd"), gone = path.join(dir, "gone.conf"), hub = path.join(dir, "hub.py");
  const block = "# BEGIN jupyterhub-edge managed block\nc.JupyterHub.bind_url = 'http://127.0.0.1:8000'\n# END jupyterhub-edge managed block\n";
  fs.writeFileSync(plain, "a\nb\nc\nd\ne\nf\ng\n");
  fs.writeFileSync(secret, "tutor:$5$changed\n", { mode: 0o644 });
  fs.writeFileSync(hub, "c.Spawner.x = 1\n" + block.replace("127.0.0.1", "0.0.0.0"));
  const me = os.userInfo().username;
  const group = spawnSync("id", ["-gn"], { encoding: "utf8" }).stdout.trim();
  const steps: WatchedStep[] = [
    { name: "proxy-config", command: "", payload: "", items: watchItems({ name: "proxy-config", script: "files", secret: false }, filesPayload([{ path: plain, mode: "0644", group, content: "a\nb\nc\nD\ne\nf\ng\n" }, { path: gone, mode: "0644", content: "x\n" }])) },
    { name: "split-auth-users", command: "", payload: "", items: watchItems({ name: "split-auth-users", script: "files", secret: true }, filesPayload([{ path: secret, mode: "0640", group, content: "tutor:$5$SECRETHASH\n" }])) },
    { name: "hub-bind-url", command: "", payload: "", items: watchItems({ name: "hub-bind-url", script: "hub-managed-block", secret: false }, `config ${hub}\nservice jupyterhub\n` + block.replace(/\n$/, "").split("\n").map((l) => `|${l}\n`).join("")) },
    { name: "proxy-packages", command: "", payload: "", items: watchItems({ name: "proxy-packages", script: "packages", secret: false }, "set nginx\nmanager apt\npackages bash surely-not-a-package-jhe\nservice surely-not-a-unit-jhe\n") },
  ];
  const req = probeRequest(steps);
  assert.doesNotMatch(req, new RegExp(`content ${secret}`), "the secret file's content is never asked for");
  const r = spawnSync("bash", ["-s"], { input: `${probeScript}\n${req}`, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /changed/, "the probe's output carries no secret file's text");
  const drift = driftOf(steps, parseProbeOutput(r.stdout));
  console.log(JSON.stringify(drift, null, 1).split("\n").map((l) => `# ${l}`).join("\n"));
  const owner = me === "root" ? "" : `; owner ${me}:${group}, the program set root:${group}`;
  assert.deepEqual(drift[`proxy-config: ${plain}`], [`content changed${owner}`, `--- ${plain} (as the program wrote it)`, `+++ ${plain} (on the server now)`, "@@ -2,5 +2,5 @@", " b", " c", "-D", "+d", " e", " f"]);
  assert.equal(drift[`proxy-config: ${gone}`], "missing (the program wrote it)");
  assert.equal(drift[`split-auth-users: ${secret}`], `content changed (secret file: not shown); mode 0644, the program set 0640${owner}`);
  assert.ok(!JSON.stringify(drift).includes("SECRETHASH") && !JSON.stringify(drift).includes("$5$changed"));
  assert.deepEqual(drift[`hub-bind-url: ${hub} (managed block)`], ["managed block changed", `--- ${hub} (as the program wrote it)`, `+++ ${hub} (on the server now)`, "@@ -1,3 +1,3 @@", " # BEGIN jupyterhub-edge managed block", "-c.JupyterHub.bind_url = 'http://127.0.0.1:8000'", "+c.JupyterHub.bind_url = 'http://0.0.0.0:8000'", " # END jupyterhub-edge managed block"]);
  assert.equal(drift["proxy-packages: package surely-not-a-package-jhe"], "not installed (the program installed it)");
  assert.equal(drift["proxy-packages: package bash"], undefined, "an installed package is no drift");
  // "unknown" where the machine runs no systemd (a container); "inactive" on a host.
  assert.match(String(drift["proxy-packages: unit surely-not-a-unit-jhe"]), /^(inactive|unknown), the program keeps it running/);
  // Nothing else: the user's own line above the block is not the program's.
  assert.equal(Object.keys(drift).length, 6);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("drift: the probe refuses unsafe request lines instead of reading them", () => {
  const r = spawnSync("bash", ["-s"], { input: `${probeScript}\nfile ../etc/shadow\ncontent /etc/../etc/shadow\npackage apt -oAPT::x\nunit --now\n`, encoding: "utf8" });
  assert.equal(r.status, 0);
  assert.equal(r.stdout, "bad file\nbad content\nbad package\nbad unit\n");
});

test("drift: a long diff is cut to 40 lines and says how many more", () => {
  const a = Array.from({ length: 200 }, (_, i) => `line ${i}`).join("\n") + "\n";
  const b = a.replace(/line (\d*[05])\n/g, "LINE $1\n");
  const d = unifiedDiff(a, b, "/x").split("\n");
  assert.equal(d.length, 41);
  assert.match(d[40], /^… \(\d+ more lines\)$/);
  assert.equal(sha(unifiedDiff("same\n", "same\n", "/x")), sha("--- /x (as the program wrote it)\n+++ /x (on the server now)"));
});

test("drift: SELinux — the selinux step's booleans, port types and labels; nothing looked at where SELinux is off", () => {
  const payload = "# why\nrequire auto\nport tcp 8000 http_port_t\nboolean httpd_can_network_relay on\nfcontext /srv/www httpd_sys_content_t tree\n";
  const steps: WatchedStep[] = [{ name: "selinux", command: "", payload, items: watchItems({ name: "selinux", script: "selinux", secret: false }, payload) }];
  assert.equal(probeRequest(steps), "selinux_port tcp 8000\nselinux_boolean httpd_can_network_relay\nselinux_label /srv/www\n");
  const onHost = "selinux_port tcp 8000 soundd_port_t\nselinux_boolean httpd_can_network_relay off\nselinux_label /srv/www var_t\n";
  assert.deepEqual(driftOf(steps, parseProbeOutput(onHost)), {
    "selinux: port tcp/8000": "tcp/8000 is soundd_port_t, the program labels it http_port_t",
    "selinux: boolean httpd_can_network_relay": "off, the program set on",
    "selinux: label of /srv/www": "labelled var_t, the program's file context says httpd_sys_content_t",
  });
  assert.deepEqual(driftOf(steps, parseProbeOutput("selinux_port tcp 8000 http_port_t,soundd_port_t\nselinux_boolean httpd_can_network_relay on\nselinux_label /srv/www httpd_sys_content_t\n")), {});
  // This machine runs no SELinux: the real probe says so once and looks at nothing.
  const r = spawnSync("bash", ["-s"], { input: `${probeScript}\n${probeRequest(steps)}`, encoding: "utf8" });
  assert.equal(r.stdout, "selinux off\n");
  assert.deepEqual(driftOf(steps, parseProbeOutput(r.stdout)), {});
});
