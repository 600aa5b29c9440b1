/**
 * Engine tier, a fleet (issue 13): one stack, three workshop servers — nginx on Debian 13, Apache on
 * Debian 13 with a site of its own, nginx on Debian 12 with a site of its own — through the real
 * engine and plugins. Proves, in order:
 *   - one server alone, then all three from scratch: printed as a time ratio (3 ÷ 1, the goal is
 *     ≤ 1.3×), and the three servers' steps overlap in time (the engine runs them in parallel);
 *   - every server serves its own hub (a kernel through split auth, with the password read back from
 *     that server's secret stack output) and its outputs are per server, passwords masked;
 *   - removing a server touches only that server's resources, and leaves it as it was found;
 *     adding it back creates only its own;
 *   - a server whose SSH is down fails only its own resources, with an error naming it and the
 *     address; the others, configured at the same time, take the change; nothing of the failed
 *     server is deleted; the next up converges (a plain `up`, as the workflow runs it: with
 *     `--continue-on-error` the engine would delete the steps that wait on the failed one);
 *   - destroy leaves every server as found — `/etc` and the program's other trees hashed before and
 *     after, the package-owned files the package manager purged listed — while the sites that were
 *     on two of them keep serving throughout (a probe loop from the first up to the end).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import type { EngineEvent, Stack, UpResult } from "@pulumi/pulumi/automation";
import { edgeStack } from "../../scripts/automation";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, packageOwnedFiles, removeHost, ssh, treeHashes, setSshd } from "../support/sandbox";
import { httpsGet, probeHubKernel } from "../support/hub-probe";
import { ProbeLoop, formatProbeReport, startProbeLoop } from "../support/probe-loop";
import { installPreexistingSite, missingToolchain } from "./scenario";

interface Room { name: string; suite: "trixie" | "bookworm"; platform: string; proxy: "nginx" | "apache"; legacySite: boolean }
const ROOMS: Room[] = [
  { name: "room1", suite: "trixie", platform: "debian-13", proxy: "nginx", legacySite: false },
  { name: "room2", suite: "trixie", platform: "debian-13", proxy: "apache", legacySite: true },
  { name: "room3", suite: "bookworm", platform: "debian-12", proxy: "nginx", legacySite: true },
];
const hub = (r: Room) => `hub.${r.name}.fleet.test`;
const legacy = (r: Room) => `legacy.${r.name}.fleet.test`;
const TUTOR = "tutor"; // split auth's user, its password generated per server by @pulumi/random
const STACK = "engine-fleet";

const missing = missingToolchain();
if (missing) {
  console.log(`SKIP engine tier (fleet of 3): ${missing}`);
  test("engine fleet of 3", { skip: `missing: ${missing}` }, () => {});
} else {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-engine-fleet-"));
  const workDir = path.join(work, "project");
  const backendDir = path.join(work, "backend");
  const passphrase = randomBytes(16).toString("hex");
  const hosts = new Map<string, SandboxHost>();
  const asFound = new Map<string, { fingerprint: string; hashes: string }>();
  const owned = new Map<string, string[]>();
  const legacyLoops: { room: Room; loop: ProbeLoop }[] = [];
  let stack: Stack;
  const log: string[] = [];
  const onOutput = (s: string) => log.push(s);
  const H = (r: Room) => hosts.get(r.name)!;

  const entry = (r: Room) => ({ name: r.name, host: H(r).addr, hostKey: H(r).hostKey, sshPrivateKeyFile: H(r).sshKey, platform: r.platform, proxy: r.proxy, hubDomain: hub(r) });
  const setRooms = (rooms: Room[]) => stack.setAllConfig(Object.fromEntries(
    rooms.flatMap((r, i) => Object.entries(entry(r)).map(([k, v]) => [`jupyterhub-edge:hosts[${i}].${k}`, { value: v }])),
  ), true);
  const clearRooms = async () => {
    if ("jupyterhub-edge:hosts" in (await stack.getAllConfig())) await stack.removeConfig("jupyterhub-edge:hosts");
  };

  /** An `up` that records, per server, which resources it changed and when its steps ran. */
  async function upRecorded() {
    const changed: string[] = [];
    const span = new Map<string, { first: number; last: number }>();
    const onEvent = (e: EngineEvent) => {
      const m = e.resourcePreEvent?.metadata ?? e.resOutputsEvent?.metadata ?? e.resOpFailedEvent?.metadata;
      if (!m || m.type === "pulumi:pulumi:Stack") return;
      const name = m.urn.split("::").pop()!;
      const room = /^edge-(room\d)/.exec(name)?.[1];
      if (room && m.op !== "same") {
        const s = span.get(room) ?? { first: Date.now(), last: 0 };
        s.last = Date.now();
        span.set(room, s);
      }
      // "read": the program's reference to the stack's own last outputs (removal check), no change.
      if (e.resourcePreEvent && m.op !== "same" && m.op !== "read") changed.push(`${m.op} ${name}`);
    };
    const t0 = Date.now();
    let up: UpResult | undefined;
    let error: unknown;
    try {
      up = await stack.up({ onOutput, onEvent });
    } catch (e) {
      error = e;
    }
    return { up, error, changed, span, seconds: (Date.now() - t0) / 1000 };
  }
  const rooms = (changed: string[]) => [...new Set(changed.map((c) => /^\S+ edge-(room\d)/.exec(c)?.[1] ?? c))].sort();

  async function kernelThroughSplitAuth(r: Room, outputs: Record<string, string>) {
    const h = H(r);
    const result = await probeHubKernel({
      baseUrl: outputs.url, connectTo: { host: h.addr }, ca: outputs.caCertificate, username: h.hubUser, password: h.hubPassword,
      basicAuth: { username: TUTOR, password: outputs[`splitAuthPassword-${TUTOR}`] },
    });
    assert.match(result.output, /42/);
    return result.totalMs;
  }

  before(async () => {
    const t0 = Date.now();
    for (const [i, r] of ROOMS.entries()) {
      const h = createHost(`engine-fleet-${i + 1}`, r.suite);
      hosts.set(r.name, h);
      if (r.legacySite) installPreexistingSite(h, r.proxy, legacy(r));
      asFound.set(r.name, { fingerprint: fingerprint(h), hashes: treeHashes(h) });
    }
    console.log(`# three sandbox hosts up in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    stack = await edgeStack({
      stackName: STACK, workDir, backendDir, passphrase,
      config: {
        // Shared by every server of the fleet; ALLOW is TEST-NET-1, so this machine must give the password.
        splitAuth: JSON.stringify({ users: [TUTOR], allowFrom: ["192.0.2.0/24"], realm: "Workshop" }),
      },
    });
  });
  after(async () => {
    for (const { loop } of legacyLoops.splice(0)) await loop.stop().catch(() => undefined);
    if (process.env.JHE_KEEP_HOSTS === "1") return;
    try { await stack?.destroy({ onOutput }); } catch { /* reported by a test */ }
    for (const i of ROOMS.keys()) removeHost(`engine-fleet-${i + 1}`);
    fs.rmSync(work, { recursive: true, force: true });
  });

  let oneSeconds = 0;
  test("engine fleet: one server alone (the baseline), then destroy puts it back as found", async () => {
    await setRooms([ROOMS[0]]);
    const one = await upRecorded();
    assert.ifError(one.error);
    assert.equal(one.up!.summary.result, "succeeded");
    oneSeconds = one.seconds;
    console.log(`# one server: ${JSON.stringify(one.up!.summary.resourceChanges)} in ${one.seconds.toFixed(1)} s`);
    await stack.destroy({ onOutput });
    assert.equal(fingerprintDiff(asFound.get("room1")!.fingerprint, fingerprint(H(ROOMS[0]))), "");
  });

  test("engine fleet: three servers from scratch, in parallel; each serves its own hub, outputs per server", async () => {
    // The sites that were there before: probed from now until the fleet is destroyed.
    for (const r of ROOMS.filter((x) => x.legacySite)) {
      legacyLoops.push({ room: r, loop: await startProbeLoop({
        targets: [{ name: legacy(r), url: `http://${legacy(r)}/`, ok: [200], bodyMatch: "legacy site" }],
        connectTo: { host: H(r).addr }, intervalMs: 200, maxMs: 40 * 60_000, maxRequests: 100_000,
      }) });
    }
    await setRooms(ROOMS);
    const three = await upRecorded();
    assert.ifError(three.error);
    const ratio = three.seconds / oneSeconds;
    console.log(`# three servers: ${JSON.stringify(three.up!.summary.resourceChanges)} in ${three.seconds.toFixed(1)} s; one alone took ${oneSeconds.toFixed(1)} s: 3 ÷ 1 = ${ratio.toFixed(2)}× (goal ≤ 1.3×)`);
    // Parallel, not one after the other: every server's steps were running while each other's were.
    const spans = ROOMS.map((r) => three.span.get(r.name)!);
    const overlap = Math.min(...spans.map((s) => s.last)) - Math.max(...spans.map((s) => s.first));
    console.log(`# steps ran ${spans.map((s, i) => `${ROOMS[i].name} ${((s.last - s.first) / 1000).toFixed(1)} s`).join(", ")}; all three at once for ${(overlap / 1000).toFixed(1)} s`);
    assert.ok(overlap > 0, "the servers' steps never ran at the same time: the engine serialised them");

    const out = three.up!.outputs.hosts.value as Record<string, Record<string, string>>;
    assert.deepEqual(Object.keys(out).sort(), ROOMS.map((r) => r.name));
    for (const r of ROOMS) {
      assert.equal(out[r.name].url, `https://${hub(r)}/`);
      owned.set(r.name, packageOwnedFiles(H(r)));
      const listener = ssh(H(r), "ss -ltnpH 'sport = :443'").stdout;
      assert.match(listener, r.proxy === "nginx" ? /"nginx"/ : /"apache2"/, `${r.name}: 443 is served by ${r.proxy}`);
      const ms = await kernelThroughSplitAuth(r, out[r.name]);
      console.log(`# ${r.name} (${r.proxy}, ${r.platform}): a kernel through split auth with its own output's password in ${ms} ms`);
    }
    // Each server has its own CA and its own generated password.
    assert.equal(new Set(ROOMS.map((r) => out[r.name].caCertificate)).size, 3);
    assert.equal(new Set(ROOMS.map((r) => out[r.name][`splitAuthPassword-${TUTOR}`])).size, 3);
    // As a reviewer or a CI log sees them: the passwords masked, nowhere in the stored state.
    const cli = spawnSync("pulumi", ["stack", "output", "hosts", "--json", "--stack", STACK], {
      cwd: workDir, encoding: "utf8",
      env: { ...process.env, PULUMI_BACKEND_URL: `file://${backendDir}`, PULUMI_CONFIG_PASSPHRASE: passphrase, PULUMI_SKIP_UPDATE_CHECK: "true" },
    });
    assert.equal(cli.status, 0, cli.stderr);
    const masked = JSON.parse(cli.stdout) as Record<string, Record<string, string>>;
    for (const r of ROOMS) assert.equal(masked[r.name][`splitAuthPassword-${TUTOR}`], "[secret]", `${r.name}'s password is a secret output`);
    const state = fs.readdirSync(backendDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => fs.readFileSync(path.join(e.parentPath, e.name), "utf8")).join("\n");
    for (const r of ROOMS) assert.ok(!state.includes(out[r.name][`splitAuthPassword-${TUTOR}`]), `${r.name}'s password in the state in plaintext`);
    assert.ok(!ROOMS.some((r) => log.join("").includes(out[r.name][`splitAuthPassword-${TUTOR}`])), "a password in the engine's output");
  });

  test("engine fleet: a bad value in one entry of the live fleet is refused; no server changes, no SSH session", async () => {
    const sessions = () => ROOMS.map((r) => Number(ssh(H(r), "journalctl -q --no-pager -o cat _COMM=sshd-session _COMM=sshd | grep -c '^Accepted ' || true").stdout.trim()));
    const before = ROOMS.map((r) => fingerprint(H(r)));
    await stack.setConfig("jupyterhub-edge:hosts[1].proxy", { value: "ngnix" }, true);
    let refused: Awaited<ReturnType<typeof upRecorded>>;
    let previewError: unknown;
    const counted = sessions();
    try {
      previewError = await stack.preview({ onOutput }).then(() => null, (e: unknown) => e);
      refused = await upRecorded();
    } finally {
      await stack.setConfig("jupyterhub-edge:hosts[1].proxy", { value: ROOMS[1].proxy }, true);
    }
    const opened = sessions().map((n, i) => n - counted[i] - 1); // the second count's own session
    console.log(`# live fleet, hosts[1].proxy "ngnix": preview and up refused, ${refused.changed.length} changes, SSH sessions per server ${opened.join("/")}`);
    assert.match(String(previewError), /jupyterhub-edge:hosts\[1\]\.proxy/);
    assert.match(String(refused.error), /jupyterhub-edge:hosts\[1\]\.proxy/);
    assert.deepEqual(refused.changed, []);
    assert.deepEqual(opened, [0, 0, 0]);
    ROOMS.forEach((r, i) => assert.equal(fingerprintDiff(before[i], fingerprint(H(r))), "", `${r.name} changed`));
    const again = await upRecorded();
    assert.ifError(again.error);
    assert.deepEqual(again.changed, [], "the corrected config is a no-op");
  });

  test("engine fleet: removing a server touches only it and leaves it as found; adding it back creates only its own", async () => {
    const room3 = ROOMS[2];
    const others = ROOMS.slice(0, 2).map((r) => ({ r, before: fingerprint(H(r)) }));
    await clearRooms();
    await setRooms(ROOMS.slice(0, 2));
    // Unconfirmed, the removal is refused before anything is declared: nothing changes anywhere.
    const refused = await upRecorded();
    assert.ok(refused.error, "removing a deployed server without removeServers must fail");
    assert.match(String(refused.error), /jupyterhub-edge:hosts: server room3 was deployed by this stack and is not among hosts any more/);
    assert.deepEqual(refused.changed, [], `nothing may change: ${refused.changed.join(", ")}`);
    console.log(`# remove room3 unconfirmed: refused, ${refused.changed.length} changes`);
    await stack.setConfig("jupyterhub-edge:removeServers[0]", { value: room3.name }, true);
    const removed = await upRecorded();
    await stack.removeConfig("jupyterhub-edge:removeServers");
    assert.ifError(removed.error);
    console.log(`# remove room3: ${JSON.stringify(removed.up!.summary.resourceChanges)} in ${removed.seconds.toFixed(1)} s`);
    assert.deepEqual(rooms(removed.changed), ["room3"], `changed: ${removed.changed.join(", ")}`);
    assert.ok(removed.changed.every((c) => c.startsWith("delete ")), removed.changed.join(", "));
    for (const { r, before } of others) assert.equal(fingerprintDiff(before, fingerprint(H(r))), "", `${r.name} changed`);
    const diff = fingerprintDiff(asFound.get(room3.name)!.fingerprint, fingerprint(H(room3)));
    assert.equal(diff, "", `room3 is not as found after its removal:\n${diff}`);

    await setRooms(ROOMS);
    const added = await upRecorded();
    assert.ifError(added.error);
    console.log(`# add room3 back: ${JSON.stringify(added.up!.summary.resourceChanges)} in ${added.seconds.toFixed(1)} s`);
    assert.deepEqual(rooms(added.changed), ["room3"], `changed: ${added.changed.join(", ")}`);
    assert.ok(added.changed.every((c) => c.startsWith("create ")), added.changed.join(", "));
    for (const { r, before } of others) assert.equal(fingerprintDiff(before, fingerprint(H(r))), "", `${r.name} changed`);
    const out = added.up!.outputs.hosts.value as Record<string, Record<string, string>>;
    const login = await httpsGet(`https://${hub(room3)}/hub/login`, { connectTo: { host: H(room3).addr }, ca: out.room3.caCertificate, timeoutMs: 15_000 });
    assert.equal(login.status, 401, "room3's hub pages ask for the split-auth password again");
  });

  test("engine fleet: a server whose SSH is down fails only its own resources; the others take the change", async () => {
    const down = ROOMS[0];
    const sshd = (action: "stop" | "start") => setSshd(H(down), action);
    const room1Urns = async () => ((await stack.exportStack()).deployment.resources as { urn: string }[]).map((r) => r.urn).filter((u) => u.includes("::edge-room1")).sort();
    const room1Before = await room1Urns();
    sshd("stop");
    let failed: Awaited<ReturnType<typeof upRecorded>>;
    try {
      await stack.setConfig("jupyterhub-edge:maxUploadMb", { value: "2048" });
      failed = await upRecorded();
    } finally {
      sshd("start");
    }
    assert.ok(failed.error, "up must fail while room1 cannot be reached");
    const message = String(failed.error);
    const diagnostics = /Diagnostics:\n([\s\S]*?)(?:\nOutputs:|\nResources:|$)/.exec(message)?.[1] ?? "";
    console.log(`# up with room1's SSH down: failed after ${failed.seconds.toFixed(1)} s; changed ${failed.changed.join(", ")}`);
    console.log(`# its diagnostics:\n#   ${diagnostics.trim().split("\n").join("\n#   ")}`);
    // The resources the error is about: those the diagnostics name, and those marked failed.
    const failing = new Set([...message.matchAll(/command:remote:Command \(?(edge-[\w-]+)\)?:?[^\n]*\*\*\w+ failed\*\*/g), ...diagnostics.matchAll(/command:remote:Command \((edge-[\w-]+)\):/g)].map((m) => m[1]));
    assert.ok(failing.size > 0, `no failed resource found in: ${message.slice(-1500)}`);
    assert.deepEqual([...failing].filter((n) => !n.startsWith("edge-room1-")), [], "only room1's resources failed");
    assert.match(diagnostics, new RegExp(`dial tcp ${H(down).addr.replace(/\./g, "\\.")}:22: connect: connection refused`), "the error says which address could not be reached");
    // Nothing of room1 was deleted: no delete was even attempted, and its resources are all in the state.
    assert.deepEqual(failed.changed.filter((c) => !c.startsWith("update ")), [], "only updates were started");
    assert.deepEqual(await room1Urns(), room1Before, "room1's resources are all still in the state");
    const upload = (r: Room) => ssh(H(r), r.proxy === "nginx" ? "grep -ho 'client_max_body_size [0-9]*m' /etc/nginx/conf.d/jupyterhub-edge.conf | sort -u" : "grep -ho 'LimitRequestBody [0-9]*' /etc/apache2/sites-enabled/jupyterhub-edge.conf | sort -u").stdout.trim();
    assert.equal(upload(ROOMS[1]), "LimitRequestBody 2147483648", "room2 took the change");
    assert.equal(upload(ROOMS[2]), "client_max_body_size 2048m", "room3 took the change");
    assert.equal(upload(ROOMS[0]), "client_max_body_size 512m", "room1 kept its config");

    const again = await upRecorded();
    assert.ifError(again.error);
    console.log(`# next up with room1 back: ${JSON.stringify(again.up!.summary.resourceChanges)}; changed ${again.changed.join(", ")}`);
    assert.deepEqual(rooms(again.changed), ["room1"]);
    assert.equal(upload(ROOMS[0]), "client_max_body_size 2048m");
  });

  test("engine fleet: destroy leaves every server as found; the sites that were there served throughout", async () => {
    const res = await stack.destroy({ onOutput });
    console.log(`# destroy: ${JSON.stringify(res.summary.resourceChanges)}`);
    // Every loop stopped before any assertion, so that none outlives a failure.
    const reports = [];
    for (const { room, loop } of legacyLoops.splice(0)) reports.push({ room, report: await loop.stop() });
    for (const { room, report } of reports) {
      console.log(formatProbeReport(`${room.name}'s own site from the first fleet up to after destroy`, report));
      const t = report.targets[0];
      assert.ok(t.sent > 20, `too few probes: ${t.sent}`);
      assert.equal(t.failed, 0, `${room.name}'s site failed ${t.failed}×: ${JSON.stringify(t.firstFailures)}`);
    }
    for (const r of ROOMS) {
      const found = asFound.get(r.name)!;
      const now = fingerprint(H(r));
      const hashes = treeHashes(H(r));
      const gone = (owned.get(r.name) ?? []).filter((f) => !now.includes(` ${f} -> `));
      console.log(`# ${r.name} (${r.proxy}, ${r.platform}${r.legacySite ? ", there before" : ", installed by the program"}) before the first up / after destroy:\n#   ${found.hashes.trim().split("\n").join("\n#   ")}\n#   ---\n#   ${hashes.trim().split("\n").join("\n#   ")}`);
      console.log(`# ${r.name}: package-owned files purged by the package manager: ${gone.length}${gone.length ? `\n#   ${gone.slice(0, 12).join("\n#   ")}${gone.length > 12 ? `\n#   … ${gone.length - 12} more` : ""}` : ""}`);
      const diff = fingerprintDiff(found.fingerprint, now);
      assert.equal(diff, "", `${r.name} differs from how it was found:\n${diff}`);
      assert.equal(hashes, found.hashes, `${r.name}: tree hashes differ`);
    }
  });
}
