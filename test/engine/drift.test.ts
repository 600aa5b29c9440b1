/**
 * Engine tier, drift (issue 22): hand edits on the servers of a live fleet, seen the Pulumi way.
 * A fleet of three (nginx, Apache, nginx; split auth on, brute-force protection on by default)
 * through the real engine and plugins, this package's own provider included (its ServerState
 * resource is the one with a real read). Proves, in order:
 *   - a no-op `up` without --refresh opens no SSH session on any server;
 *   - tutors' hand edits — a vhost line, a file mode, the password file removed (room1, nginx);
 *     Apache stopped, the hub's managed block edited, fail2ban disabled (room2) — and an edit
 *     outside the program's files (a conf of the tutors' own on room1): `preview --refresh` names
 *     the server, the item and the change (a diff for the vhost, "changed"/"missing" only for the
 *     secret file), and nothing of room3 or of the tutors' own file;
 *   - `up --refresh` re-applies exactly the owning steps: the files are back byte for byte, Apache
 *     and fail2ban run and are enabled, the block is back; the tutors' file is untouched; a kernel
 *     runs print(6*7) → 42 through split auth on both edited servers;
 *   - a second `preview --refresh --expect-no-changes` is clean.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import type { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { edgeStack, repoRoot } from "../../scripts/automation";
import { runLabInBrowser } from "../support/lab-browser";
import * as tls from "tls";
import { SandboxHost, createHost, removeHost, ssh, setSshd } from "../support/sandbox";
import { probeHubKernel } from "../support/hub-probe";
import { missingToolchain } from "./scenario";

interface Room { name: string; proxy: "nginx" | "apache" }
const ROOMS: Room[] = [
  { name: "room1", proxy: "nginx" },
  { name: "room2", proxy: "apache" },
  { name: "room3", proxy: "nginx" },
];
const hub = (r: Room) => `hub.${r.name}.drift.test`;
const TUTOR = "tutor";
const STACK = "engine-drift";
const NGINX_VHOST = "/etc/nginx/conf.d/jupyterhub-edge.conf";
const NGINX_HTTP = "/etc/nginx/conf.d/jupyterhub-edge-http.conf";
const TUTORS_OWN = "/etc/nginx/sites-enabled/tutors-notes";

const missing = missingToolchain();
if (missing) {
  console.log(`SKIP engine tier (drift): ${missing}`);
  test("engine drift", { skip: `missing: ${missing}` }, () => {});
} else {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-engine-drift-"));
  const workDir = path.join(work, "project");
  const backendDir = path.join(work, "backend");
  const passphrase = randomBytes(16).toString("hex");
  const hosts = new Map<string, SandboxHost>();
  const H = (r: Room) => hosts.get(r.name)!;
  let stack: Stack;
  let outputs: Record<string, Record<string, string>> = {};
  const log: string[] = [];
  const onOutput = (s: string) => log.push(s);
  const sessions = () => ROOMS.map((r) => Number(ssh(H(r), "journalctl -q --no-pager -o cat _COMM=sshd-session _COMM=sshd | grep -c '^Accepted ' || true").stdout.trim()));
  const sha = (r: Room, file: string) => ssh(H(r), `sha256sum ${file} 2>/dev/null | cut -d' ' -f1; stat -c '%a %U:%G' ${file} 2>/dev/null`).stdout.trim();
  const sh = (r: Room, script: string) => {
    const res = ssh(H(r), "bash -s", `set -e\n${script}`);
    assert.equal(res.status, 0, `${r.name}: ${res.stderr}`);
    return res.stdout;
  };

  async function kernel(r: Room) {
    const o = outputs[r.name];
    const h = H(r);
    const res = await probeHubKernel({
      baseUrl: o.url, connectTo: { host: h.addr }, ca: o.caCertificate, username: h.hubUser, password: h.hubPassword,
      basicAuth: { username: TUTOR, password: o[`splitAuthPassword-${TUTOR}`] },
    });
    assert.match(res.output, /42/);
    return res.totalMs;
  }

  /** The leaf certificate a server presents for a name, as PEM (the browser pins exactly it). */
  const leafPem = (addr: string, name: string) => new Promise<string>((resolve, reject) => {
    const sock = tls.connect({ host: addr, port: 443, servername: name, rejectUnauthorized: false }, () => {
      const raw = sock.getPeerCertificate().raw.toString("base64");
      sock.destroy();
      resolve(`-----BEGIN CERTIFICATE-----\n${raw.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`);
    });
    sock.once("error", reject);
  });

  /** Which resources an operation would change (or changed), as "op name". */
  const recorder = () => {
    const changed: string[] = [];
    const onEvent = (e: EngineEvent) => {
      const m = e.resourcePreEvent?.metadata;
      if (!m || m.type === "pulumi:pulumi:Stack" || ["same", "read", "refresh"].includes(m.op)) return;
      changed.push(`${m.op} ${m.urn.split("::").pop()}`);
    };
    return { changed, onEvent };
  };

  before(async () => {
    const t0 = Date.now();
    for (const [i, r] of ROOMS.entries()) hosts.set(r.name, createHost(`engine-drift-${i + 1}`, "trixie"));
    console.log(`# three sandbox hosts up in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    stack = await edgeStack({
      stackName: STACK, workDir, backendDir, passphrase,
      config: {
        splitAuth: JSON.stringify({ users: [TUTOR], allowFrom: ["192.0.2.0/24"] }),
        hosts: JSON.stringify(ROOMS.map((r) => ({
          name: r.name, host: H(r).addr, hostKey: H(r).hostKey, sshPrivateKeyFile: H(r).sshKey, platform: "debian-13", proxy: r.proxy, hubDomain: hub(r),
        }))),
      },
    });
  });
  after(async () => {
    if (process.env.JHE_KEEP_HOSTS === "1") return;
    try { await stack?.destroy({ onOutput }); } catch { /* reported by a test */ }
    for (const i of ROOMS.keys()) removeHost(`engine-drift-${i + 1}`);
    fs.rmSync(work, { recursive: true, force: true });
  });

  test("engine drift: the fleet is deployed, each server gets its drift watch; a no-op up opens no SSH session", async () => {
    const t0 = Date.now();
    const up = await stack.up({ onOutput });
    outputs = up.outputs.hosts.value as Record<string, Record<string, string>>;
    console.log(`# up: ${JSON.stringify(up.summary.resourceChanges)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const urns = (await stack.exportStack()).deployment.resources.map((r: { urn: string }) => r.urn) as string[];
    const watches = urns.filter((u) => u.includes("jupyterhub-edge:index:ServerState"));
    assert.deepEqual(watches.map((u) => u.split("::").pop()).sort(), ROOMS.map((r) => `edge-${r.name}-drift`));

    const before = sessions();
    const t1 = Date.now();
    const noop = await stack.up({ onOutput });
    // Less one: the counting session itself is in the second count.
    const opened = sessions().map((n, i) => n - before[i] - 1);
    console.log(`# no-op up: ${JSON.stringify(noop.summary.resourceChanges)} in ${((Date.now() - t1) / 1000).toFixed(1)} s; SSH sessions opened per server: ${opened.join(", ")}`);
    // "read": the fleet's reference to the stack's own last outputs (the removal check), no change.
    assert.deepEqual(Object.keys(noop.summary.resourceChanges!).filter((k) => k !== "same" && k !== "read"), []);
    assert.deepEqual(opened, [0, 0, 0]);
  });

  test("engine drift: a config change updates the steps, not the watch; preview --refresh right after is clean", async () => {
    await stack.setConfig("jupyterhub-edge:splitAuth.realm", { value: "Room of the day" }, true);
    const rec = recorder();
    const preview = await stack.preview({ onEvent: rec.onEvent });
    console.log(`# preview of a new realm: ${JSON.stringify(preview.changeSummary)}; changes: ${rec.changed.sort().join(", ")}`);
    assert.deepEqual(rec.changed.sort(), ROOMS.map((r) => `update edge-${r.name}-proxy-proxy-config`));
    await stack.up({ onOutput });
    // The watch probes against the stack's current inputs: the new vhosts are no drift.
    const t0 = Date.now();
    const clean = await stack.preview({ refresh: true, expectNoChanges: true });
    console.log(`# preview --refresh --expect-no-changes after the change: ${JSON.stringify(clean.changeSummary)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  const asDeployed = new Map<string, string>();
  test("engine drift: hand edits on two servers; preview --refresh names each server, item and change, and nothing else", async () => {
    const [room1, room2, room3] = ROOMS;
    for (const [r, f] of [[room1, NGINX_VHOST], [room1, NGINX_HTTP], [room1, "/etc/jupyterhub-edge/htpasswd"], [room2, "/etc/jupyterhub/jupyterhub_config.py"]] as const) asDeployed.set(`${r.name}:${f}`, sha(r, f));
    const room3Before = ssh(H(room3), "find /etc/nginx /etc/fail2ban -type f -exec sha256sum {} + | sort").stdout;
    // room1 (nginx): a vhost line, a file mode, the password file, and the tutors' own conf.
    sh(room1, [
      `sed -i '0,/proxy_read_timeout/s//proxy_read_timeout 7200s; # was: proxy_read_timeout/' ${NGINX_VHOST}`,
      `chmod 0600 ${NGINX_HTTP}`,
      `chown www-data ${NGINX_HTTP}`,
      `rm /etc/jupyterhub-edge/htpasswd`,
      `echo '# the tutors own this file' >${TUTORS_OWN}`,
      "nginx -t -q && systemctl reload nginx",
    ].join("\n"));
    // room2 (Apache): the proxy stopped, the hub's managed block edited, fail2ban disabled.
    sh(room2, [
      "systemctl stop apache2",
      // Inside the block only: the user's own bind_url line above it is not the program's.
      "sed -i '/^# BEGIN jupyterhub-edge managed block/,/^# END jupyterhub-edge managed block/s/^c.JupyterHub.bind_url = .*$/c.JupyterHub.bind_url = \"http:\\/\\/0.0.0.0:8000\"  # opened by hand/' /etc/jupyterhub/jupyterhub_config.py",
      "grep -q 'opened by hand' /etc/jupyterhub/jupyterhub_config.py",
      "systemctl disable --now fail2ban",
      // A package the program installed, removed (fail2ban itself stays: it only recommends it).
      "apt-get remove -y -q nftables >/dev/null",
    ].join("\n"));

    const rec = recorder();
    const t0 = Date.now();
    const preview = await stack.preview({ refresh: true, diff: true, onEvent: rec.onEvent });
    const text = preview.stdout;
    console.log(`# preview --refresh in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(preview.changeSummary)}; changes: ${rec.changed.join(", ")}`);
    const driftLines = text.split("\n").filter((l) => /room\d-drift|: |^\s+[-+@]/.test(l) && /drift|proxy-|split-auth|hub-bind|fail2ban|^\s+[-+@]/.test(l));
    console.log(driftLines.slice(0, 60).map((l) => `#   ${l}`).join("\n"));
    assert.deepEqual(rec.changed.sort(), ["update edge-room1-drift", "update edge-room2-drift"]);
    // room1: the vhost's diff, the mode, the secret file only as missing.
    assert.match(text, new RegExp(`proxy-config: ${NGINX_VHOST}`));
    assert.match(text, /\+\s*proxy_read_timeout 7200s; # was: proxy_read_timeout/);
    assert.match(text, new RegExp(`proxy-http: ${NGINX_HTTP}.*mode 0600, the program set 0644; owner www-data:root, the program set root:root`));
    assert.match(text, /split-auth-users: \/etc\/jupyterhub-edge\/htpasswd.*missing/);
    // room2: Apache stopped, the block's diff, fail2ban disabled.
    assert.match(text, /proxy-packages: unit apache2.*inactive, the program keeps it running/);
    assert.match(text, /hub-bind-url: \/etc\/jupyterhub\/jupyterhub_config.py \(managed block\)/);
    assert.match(text, /\+c\.JupyterHub\.bind_url = \\?"http:\/\/0\.0\.0\.0:8000\\?"  # opened by hand/);
    assert.match(text, /fail2ban-packages: unit fail2ban.*(inactive|disabled)/);
    assert.match(text, /fail2ban-packages: package nftables.*not installed \(the program installed it\)/);
    // Nothing of the tutors' own file, nothing of room3.
    assert.doesNotMatch(text, /tutors-notes/);
    assert.doesNotMatch(text, /room3-drift.*update/);
    assert.equal(ssh(H(room3), "find /etc/nginx /etc/fail2ban -type f -exec sha256sum {} + | sort").stdout, room3Before);
    // The preview is read-only: the edits are all still there.
    assert.equal(ssh(H(room1), `test -e /etc/jupyterhub-edge/htpasswd; echo $?`).stdout.trim(), "1");
    assert.equal(ssh(H(room2), "systemctl is-active apache2").stdout.trim(), "inactive");
  });

  test("engine drift: up --refresh repairs exactly those items through the steps' own apply; a kernel runs on both servers", async () => {
    const [room1, room2] = ROOMS;
    const rec = recorder();
    const t0 = Date.now();
    const up = await stack.up({ refresh: true, onOutput, onEvent: rec.onEvent });
    console.log(`# up --refresh: ${JSON.stringify(up.summary.resourceChanges)} in ${((Date.now() - t0) / 1000).toFixed(1)} s; changed: ${rec.changed.join(", ")}`);
    assert.deepEqual(rec.changed.sort(), ["update edge-room1-drift", "update edge-room2-drift"]);
    for (const [key, want] of asDeployed) {
      const [name, file] = key.split(":");
      assert.equal(sha(ROOMS.find((r) => r.name === name)!, file), want, `${key} is back as the program wrote it`);
    }
    assert.equal(ssh(H(room1), `cat ${TUTORS_OWN}`).stdout, "# the tutors own this file\n", "a file outside the program's is left alone");
    assert.equal(ssh(H(room2), "systemctl is-active apache2; systemctl is-enabled apache2").stdout.trim(), "active\nenabled");
    assert.equal(ssh(H(room2), "systemctl is-active fail2ban; systemctl is-enabled fail2ban").stdout.trim(), "active\nenabled");
    assert.match(ssh(H(room2), "dpkg-query -W -f='${db:Status-Status}' nftables").stdout, /^installed$/);
    for (const r of [room1, room2]) console.log(`# ${r.name} (${r.proxy}): a kernel through split auth in ${await kernel(r)} ms`);
    // And as a participant sees it: a real browser through the repaired password prompt and vhost.
    const shot = path.join(repoRoot, "test-artifacts", "drift", "room1-after-repair.png");
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    const b = await runLabInBrowser({
      baseUrl: outputs.room1.url, hostAddr: H(room1).addr, leafCertPem: await leafPem(H(room1).addr, hub(room1)),
      basicAuth: { username: TUTOR, password: outputs.room1[`splitAuthPassword-${TUTOR}`] }, hubUser: H(room1).hubUser, hubPassword: H(room1).hubPassword,
      screenshotPath: shot,
    });
    assert.equal(b.output, "42");
    assert.equal(b.outputAfterReload, "42");
    console.log(`# room1: chromium ${b.chromiumVersion}: password prompt (${b.challenges[0]?.realm}) → JupyterLab → print(6*7) → ${b.output}, after reload ${b.outputAfterReload}; ${path.relative(repoRoot, shot)}`);
  });

  test("engine drift: a second preview --refresh is clean (--expect-no-changes)", async () => {
    const t0 = Date.now();
    const preview = await stack.preview({ refresh: true, expectNoChanges: true });
    console.log(`# preview --refresh --expect-no-changes: ${JSON.stringify(preview.changeSummary)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  test("engine drift: a server that does not answer is shown as such; the others are still read", async () => {
    const down = ROOMS[2];
    const sshd = (action: "stop" | "start") => setSshd(H(down), action);
    sshd("stop");
    try {
      const rec = recorder();
      const t0 = Date.now();
      const preview = await stack.preview({ refresh: true, diff: true, onEvent: rec.onEvent });
      console.log(`# preview --refresh with ${down.name}'s SSH down: ${JSON.stringify(preview.changeSummary)} in ${((Date.now() - t0) / 1000).toFixed(1)} s; changes: ${rec.changed.join(", ")}`);
      assert.deepEqual(rec.changed, [`update edge-${down.name}-drift`]);
      const line = preview.stdout.split("\n").find((l) => l.includes("server: unreachable"));
      console.log(`#   ${line?.trim()}`);
      assert.match(line ?? "", new RegExp(`server edge-${down.name} \\(${H(down).addr.replace(/\./g, "\\.")}\\): the drift probe failed`));
    } finally {
      sshd("start");
    }
    await stack.preview({ refresh: true, expectNoChanges: true });
  });
}
