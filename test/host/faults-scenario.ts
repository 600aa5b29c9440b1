/**
 * Host tier, faults the live site survives (issue 10), on one fresh sandbox host per proxy, in
 * sequence. During each fault a probe loop (test/support/probe-loop.ts) requests the hub, another
 * site and the port-80 redirect through the proxy and counts what was not served:
 *   - a first apply cut off during apt (dpkg killed), then a bad change (0 failed requests, the
 *     proxy's own error text in the step's error), a cut after the vhost was written but before the
 *     reload, a cut while the hub restarts on its new block: every next apply converges, no
 *     duplicated block, no half-written file;
 *   - two applies of every step at once (the host's step lock), the hub down (the proxy's 503 page,
 *     the other site untouched, the hub step reports it in bounded time), the ACME server down
 *     (a private pebble pair stopped with acme-server.sh; existing sites keep serving);
 *   - secrets: access logs without `?token=`/Authorization/Cookie, no key in any step output, error
 *     or proxy log (and the checker shown to catch a real leak), key files' modes;
 *   - undo leaves the host as found after all that; then the host goes away: a step fails in bounded time.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import { spawnSync } from "child_process";
import { parseConfig } from "../../config/schema";
import { ProxyKind } from "../../model/site";
import { Step, certificatePayload, planSteps } from "../../steps/plan";
import { TestCa, makeTestCa } from "../support/test-ca";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, runStep, ssh } from "../support/sandbox";
import { httpsGet } from "../support/hub-probe";
import { ProbeReport, ProbeTarget, formatProbeReport, startProbeLoop } from "../support/probe-loop";
import { cutStepAt, runStepAsync, sshAsync } from "../support/faults";
import { AcmeInstance, AcmeServer, startAcme, stopAcme } from "../support/acme";
import { Secret, findLeaks, formatLeaks } from "../support/secret-audit";
import { hubDownMarker } from "../../render/hub-down";
import { redactedMarker } from "../../render/access-log";

const HUB_CONFIG = "/etc/jupyterhub/jupyterhub_config.py";
const noPartialFiles = "find /etc /var/www /var/lib/jupyterhub-edge /var/lib/jupyterhub-edge-acme -name '*.jhe-new*' 2>/dev/null; ls -d /var/lib/jupyterhub-edge/.payload.* /var/lib/jupyterhub-edge/.files.* 2>/dev/null; true";

export function faultScenario(proxy: ProxyKind): void {
  const hostName = `faults-${proxy}`;
  const HUB = `hub.${proxy}.faults.test`;
  const WWW = `www.${proxy}.faults.test`;
  const NEW = `new.${proxy}.faults.test`; // added later with ACME, while the ACME server is down
  const unit = proxy === "nginx" ? "nginx" : "apache2";
  const logDir = proxy === "nginx" ? "/var/log/nginx" : "/var/log/apache2";
  // A private pebble pair: stopping it must not take the shared one from other tests.
  const acmeInstance: AcmeInstance = {
    stateDir: `/var/lib/jupyterhub-edge-sandbox/${process.env.JHE_HOST_PREFIX ?? ""}faults-acme-${proxy}`,
    ports: proxy === "nginx" ? [14731, 15731, 8731, 8732] : [14741, 15741, 8741, 8742],
  };

  let host: SandboxHost;
  let ca: TestCa;
  let steps: Step[];
  let asFound: string;
  let hubConfigBefore: string;
  let acme: AcmeServer | undefined;
  /** Everything the steps printed (stdout + stderr, errors included), for the secrets audit. */
  const outputs: { where: string; text: string }[] = [];
  /** The fault matrix: one line per fault and probe target. */
  const matrix: string[] = [];

  const plan = (extra: Record<string, unknown> = {}) => {
    const parsed = parseConfig({
      proxy, host: host.addr, sshPrivateKeyFile: host.sshKey, hostKey: host.hostKey, platform: "debian-13",
      hubDomain: HUB, extraSites: [{ domain: WWW }], ...extra,
    }).site;
    return { site: parsed, steps: planSteps(parsed, certificatePayload(parsed, ca.material)) };
  };
  const record = (where: string, r: { stdout: string; stderr: string }) => outputs.push({ where, text: r.stdout + r.stderr });
  const run = (step: Step, mode: "apply" | "undo" = "apply") => {
    const r = runStep(host, step, mode);
    record(`${step.name} ${mode}`, r);
    return r;
  };
  const applyAll = (list: Step[]) => {
    for (const step of list) {
      const r = run(step);
      assert.equal(r.status, 0, `step ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
    }
  };
  const changedSteps = (next: Step[]) => next.filter((s) => steps.find((o) => o.name === s.name)?.payload !== s.payload);
  const get = (url: string, headers?: Record<string, string>) =>
    httpsGet(url, { connectTo: { host: host.addr }, ca: ca.caPem, timeoutMs: 10_000, headers });

  const targets = (): ProbeTarget[] => [
    { name: "hub", url: `https://${HUB}/hub/login`, ok: [200] },
    { name: "www", url: `https://${WWW}/`, ok: [200], bodyMatch: "is served by jupyterhub-edge" },
    { name: "http→https", url: `http://${WWW}/page`, ok: [301] },
  ];
  const probing = (list = targets()) => startProbeLoop({ targets: list, connectTo: { host: host.addr }, ca: ca.caPem, maxMs: 300_000, maxRequests: 40_000 });
  const note = (label: string, report: ProbeReport) => {
    const text = formatProbeReport(`${proxy} ${label}`, report);
    matrix.push(text);
    console.log(`# ${text.split("\n").join("\n# ")}`);
  };
  const failed = (report: ProbeReport, name: string) => report.targets.find((t) => t.name === name)!.failed;
  const assertNoPartialFiles = () => assert.equal(ssh(host, noPartialFiles).stdout.trim(), "", "temp files or staging left behind");

  before(() => {
    const t0 = Date.now();
    host = createHost(hostName, "trixie");
    console.log(`# host ${host.name} up at ${host.addr} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    ca = makeTestCa([HUB, WWW]);
    ({ steps } = plan());
    asFound = fingerprint(host);
    hubConfigBefore = ssh(host, `cat ${HUB_CONFIG}`).stdout;
  });
  after(async () => {
    await stopAcme(acmeInstance).catch(() => undefined);
    if (host && process.env.JHE_KEEP_HOSTS !== "1") removeHost(hostName);
    if (matrix.length) console.log(`# fault matrix (${proxy}):\n#   ${matrix.join("\n").split("\n").join("\n#   ")}`);
  });

  test(`faults/${proxy}: a first apply cut off while apt runs (dpkg killed) is finished by the next apply`, async () => {
    const packages = steps.find((s) => s.name === "proxy-packages")!;
    applyAll(steps.slice(0, steps.indexOf(packages)));
    const cut = await cutStepAt(host, packages, "pgrep -x dpkg >/dev/null");
    record("proxy-packages apply (cut)", cut.step);
    console.log(`# cut proxy-packages: ${cut.watcher}; step exit ${cut.step.status}`);
    assert.ok(cut.killed, `the cut did not happen: ${cut.watcher}`);
    assert.notEqual(cut.step.status, 0);
    const again = run(packages);
    assert.equal(again.status, 0, again.stdout + again.stderr);
    console.log(`# re-apply of proxy-packages: ${again.stdout.trim().split("\n").join(" | ")}`);
    applyAll(steps);
    assert.equal(ssh(host, "dpkg --audit").stdout.trim(), "", "dpkg left with half-configured packages");
    assert.equal(ssh(host, `systemctl is-active ${unit}`).stdout.trim(), "active");
    assertNoPartialFiles();
    assert.equal((await get(`https://${HUB}/hub/login`)).status, 200);
  });

  test(`faults/${proxy}: a bad change is refused with the proxy's own error, the old files stay, 0 failed requests`, async () => {
    const config = steps.find((s) => s.name === "proxy-config")!;
    const [good, bad, own] = proxy === "nginx"
      ? ["proxy_buffering off;", "proxy_buffering sideways;", /\[emerg\] \d+#\d+: invalid value "sideways" in "proxy_buffering" directive, it must be "on" or "off" in \/etc\/nginx\/conf\.d\/jupyterhub-edge\.conf:\d+/]
      : ["ProxyPreserveHost on", "ProxyPreserveHost sideways", /Syntax error on line \d+ of \/etc\/apache2\/sites-enabled\/jupyterhub-edge\.conf:\nProxyPreserveHost must be On or Off/];
    const broken: Step = { ...config, payload: config.payload.replace(good, bad) };
    const before = fingerprint(host);
    const loop = await probing();
    const r = run(broken);
    const report = await loop.stop();
    note("bad change", report);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /new \S+ config failed its test; the previous files are back/);
    assert.match(r.stderr, own, "the proxy's own error text reaches the step's error (what `up` shows)");
    assert.equal(fingerprintDiff(before, fingerprint(host)), "", "files changed although the test failed");
    for (const t of report.targets) assert.equal(t.failed, 0, `${t.name}: ${JSON.stringify(t.firstFailures)}`);
  });

  test(`faults/${proxy}: cut after the new vhost is written but before the reload: the next apply reloads it`, async () => {
    const next = plan({ maxUploadMb: 100 }).steps;
    const changed = changedSteps(next);
    assert.deepEqual(changed.map((s) => s.name), ["proxy-config"]);
    const marker = proxy === "nginx" ? "client_max_body_size 100m;" : "LimitRequestBody 104857600";
    const file = proxy === "nginx" ? "/etc/nginx/conf.d/jupyterhub-edge.conf" : "/etc/apache2/sites-enabled/jupyterhub-edge.conf";
    const loop = await probing();
    const cut = await cutStepAt(host, changed[0], `grep -qF '${marker}' ${file}`);
    record("proxy-config apply (cut)", cut.step);
    console.log(`# cut proxy-config: ${cut.watcher}; step exit ${cut.step.status}`);
    assert.ok(cut.killed, `the cut did not happen: ${cut.watcher}`);
    const pending = ssh(host, "ls /var/lib/jupyterhub-edge/files/jhe-proxy-config/pending /var/lib/jupyterhub-edge/files/proxy-config/pending 2>/dev/null").stdout.trim();
    const again = run(changed[0]);
    const report = await loop.stop();
    note("cut before reload", report);
    assert.equal(again.status, 0, again.stdout + again.stderr);
    console.log(`# pending mark after the cut: ${pending || "(none)"}; re-apply: ${again.stdout.trim().split("\n").join(" | ")}`);
    assert.match(again.stdout, /finishing an earlier apply that was cut off/);
    assert.match(again.stdout, /config tested and reloaded/);
    assert.match(ssh(host, `cat ${file}`).stdout, new RegExp(marker.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
    assertNoPartialFiles();
    for (const t of report.targets) assert.equal(t.failed, 0, `${t.name}: ${JSON.stringify(t.firstFailures)}`);
    steps = next;
  });

  test(`faults/${proxy}: cut while the hub restarts on its new block: one block, the next apply restarts it`, async () => {
    const hubStep = steps.find((s) => s.name === "hub-bind-url")!;
    // Someone removed the block by hand: the step writes it again and restarts the hub.
    ssh(host, `sed -i '/^# BEGIN jupyterhub-edge managed block/,/^# END jupyterhub-edge managed block/d' ${HUB_CONFIG}`);
    // While the hub restarts, nginx/Apache answer the hub-down page (503; Apache's is a 502 for a
    // request in flight when the hub goes away); JupyterHub's own proxy answers 404 for a moment
    // while the hub registers its routes again. No request may go unanswered.
    const loop = await probing([...targets().slice(1), { name: "hub (restart: 200 or the 503 page)", url: `https://${HUB}/hub/login`, ok: [200, 503, 502, 404] }]);
    const cut = await cutStepAt(host, hubStep, `[[ -e /var/lib/jupyterhub-edge/hub-config/pending ]] && grep -q '^# BEGIN jupyterhub-edge' ${HUB_CONFIG}`);
    record("hub-bind-url apply (cut)", cut.step);
    console.log(`# cut hub-bind-url: ${cut.watcher}; step exit ${cut.step.status}`);
    assert.ok(cut.killed, `the cut did not happen: ${cut.watcher}`);
    const again = run(hubStep);
    const report = await loop.stop();
    note("cut during hub restart", report);
    assert.equal(again.status, 0, again.stdout + again.stderr);
    console.log(`# re-apply: ${again.stdout.trim().split("\n").join(" | ")}`);
    assert.match(again.stdout, /finishing an earlier apply that was cut off: restarting/);
    const config = ssh(host, `cat ${HUB_CONFIG}`).stdout;
    assert.equal(config.match(/^# BEGIN jupyterhub-edge managed block/gm)?.length, 1, "exactly one managed block");
    assert.ok(config.startsWith(hubConfigBefore.replace(/\n?$/, "")), "the user's part of the file is intact");
    assertNoPartialFiles();
    assert.equal(failed(report, "www"), 0);
    assert.equal(failed(report, "http→https"), 0);
    assert.equal(failed(report, "hub (restart: 200 or the 503 page)"), 0, "the hub answered 200 or the hub-down page, never a bare error");
  });

  test(`faults/${proxy}: two applies of every step at once: each step waits for the other, the host ends as one apply leaves it`, async () => {
    // A step held by "the other terminal" first: the next one says it waits, and for whom.
    const holder = sshAsync(host, "flock /run/lock/jupyterhub-edge.lock sleep 3");
    await new Promise((r) => setTimeout(r, 1000));
    const waited = run(steps.find((s) => s.name === "web-roots")!);
    await holder;
    assert.equal(waited.status, 0, waited.stderr);
    assert.match(waited.stdout, /waiting for another jupyterhub-edge step on this host/);

    const loop = await probing();
    const applyAllAsync = async (label: string) => {
      const results: string[] = [];
      for (const step of steps) {
        const r = await runStepAsync(host, step, "apply");
        record(`${step.name} apply (${label})`, r);
        assert.equal(r.status, 0, `${label}: ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
        results.push(r.stdout);
      }
      return results.join("");
    };
    const [a, b] = await Promise.all([applyAllAsync("terminal 1"), applyAllAsync("terminal 2")]);
    const report = await loop.stop();
    note("two applies at once", report);
    const waits = (a + b).match(/waiting for another jupyterhub-edge step/g)?.length ?? 0;
    console.log(`# two applies at once: ${steps.length} steps each, all succeeded; ${waits} step(s) waited for the other`);
    const settled = fingerprint(host);
    applyAll(steps);
    assert.equal(fingerprintDiff(settled, fingerprint(host)), "", "a third apply still had something to change");
    assertNoPartialFiles();
    for (const t of report.targets) assert.equal(t.failed, 0, `${t.name}: ${JSON.stringify(t.firstFailures)}`);
  });

  test(`faults/${proxy}: the hub down: the proxy's 503 page for the hub, the other site untouched, the hub step reports it in bounded time`, async () => {
    const hubStep = steps.find((s) => s.name === "hub-bind-url")!;
    // Stopped, and unable to start again (a runtime drop-in whose ExecStartPre fails; removed below).
    const dropin = "/run/systemd/system/jupyterhub.service.d/zz-fault.conf";
    assert.equal(ssh(host, `mkdir -p ${dropin.replace(/\/[^/]+$/, "")} && printf '[Service]\\nExecStartPre=/bin/false\\n' >${dropin} && systemctl daemon-reload && systemctl stop jupyterhub && echo ok`).stdout.trim(), "ok");
    const page = await get(`https://${HUB}/hub/home`);
    const loop = await probing([
      { name: "hub (down: the 503 page)", url: `https://${HUB}/hub/login?token=hub-down-probe-token-0123456789`, ok: [503], bodyMatch: hubDownMarker },
      ...targets().slice(1),
    ]);
    const t0 = Date.now();
    const r = run(hubStep);
    const seconds = (Date.now() - t0) / 1000;
    const report = await loop.stop();
    note("hub down", report);
    console.log(`# hub down: ${page.status} ${page.headers["content-type"]}, hub step exit ${r.status} after ${seconds.toFixed(1)} s: ${r.stderr.trim().split("\n")[0]}`);
    assert.equal(page.status, 503);
    assert.match(page.body, new RegExp(hubDownMarker));
    assert.match(page.body, /JupyterHub is not answering/);
    assert.match(String(page.headers["content-type"]), /text\/html/);
    assert.match(String(page.headers["strict-transport-security"]), /^max-age=/, "HSTS on the hub-down page too");
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /the hub is down: jupyterhub is not running and did not start/);
    assert.ok(seconds < 120, `the hub step took ${seconds} s: it must report, not hang`);
    assert.equal(failed(report, "www"), 0);
    assert.equal(failed(report, "http→https"), 0);
    assert.equal(failed(report, "hub (down: the 503 page)"), 0, "every hub request got the hub-down page");

    ssh(host, `rm -f ${dropin} && rmdir ${dropin.replace(/\/[^/]+$/, "")} && systemctl daemon-reload`);
    const back = run(hubStep);
    assert.equal(back.status, 0, back.stderr);
    const login = await get(`https://${HUB}/hub/login`);
    assert.equal(login.status, 200, "the hub is served again at once (no cached upstream failure)");
  });

  test(`faults/${proxy}: the ACME server down: the new domain's error names it and the ACME URL, the sites keep serving, the next apply issues`, async () => {
    acme = await startAcme(acmeInstance);
    const directory = acme.directoryUrl(host.machineAddr);
    const acmeConfig = {
      extraSites: [{ domain: WWW }, { domain: NEW, certificateMode: "acme" }],
      acmeEmail: "admin@example.org", acmeServer: directory, acmeCaBundlePem: acme.listenerCaPem, maxUploadMb: 100,
    };
    const next = plan(acmeConfig).steps;
    const changed = changedSteps(next);
    console.log(`# adding ${NEW} with ACME changes: ${changed.map((s) => s.name).join(", ")}`);
    await stopAcme(acmeInstance); // acme-server.sh stop: pebble and its DNS are gone

    const loop = await probing();
    const certificates = changed.find((s) => s.name === "acme-certificates")!;
    let failure = "";
    for (const step of changed) {
      const r = run(step);
      if (step === certificates) { failure = r.stderr; assert.notEqual(r.status, 0, "certbot cannot have succeeded"); break; }
      assert.equal(r.status, 0, `step ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
    }
    const redirect = await httpsGet(`http://${NEW}/x`, { connectTo: { host: host.addr }, timeoutMs: 10_000 });
    const report = await loop.stop();
    note("ACME server down", report);
    console.log(`# ACME down: ${failure.trim().split("\n")[0]}`);
    assert.match(failure, new RegExp(`could not get a certificate for ${NEW.replace(/\./g, "\\.")} from the ACME server ${directory.replace(/[.:/]/g, "\\$&")}`));
    assert.equal(redirect.status, 301, "port 80 serves the new domain already");
    for (const t of report.targets) assert.equal(t.failed, 0, `${t.name}: ${JSON.stringify(t.firstFailures)}`);

    acme = await startAcme(acmeInstance);
    await acme.addName(NEW, host.addr);
    const rest = changed.slice(changed.indexOf(certificates));
    applyAll(rest);
    const root = await acme.issuingRootPem();
    const served = await httpsGet(`https://${NEW}/`, { connectTo: { host: host.addr }, ca: root, timeoutMs: 10_000 });
    assert.equal(served.status, 200);
    assert.equal(served.tls?.authorized, true, "the new domain serves the certificate the ACME server issued");
    steps = next;
  });

  // Values that look like credentials, sent the ways JupyterHub clients send them.
  const sent = {
    queryToken: "qtok-5f2a9c1e7b3d4a6f8e0c2b4d",
    authorization: "atok-9d8c7b6a5f4e3d2c1b0a9f8e",
    cookie: "ctok-1a2b3c4d5e6f7a8b9c0d1e2f",
    refererToken: "rtok-0f1e2d3c4b5a69788796a5b4",
    hubDownToken: "hub-down-probe-token-0123456789",
  };

  test(`faults/${proxy}: access logs record no token, Authorization or Cookie (and the check catches a real leak)`, async () => {
    const headers = {
      Authorization: `token ${sent.authorization}`,
      Cookie: `jupyterhub-session-id=${sent.cookie}`,
      Referer: `https://${HUB}/hub/home?next=%2F&token=${sent.refererToken}`,
    };
    for (const url of [
      `https://${HUB}/hub/api/user?token=${sent.queryToken}`,
      `https://${HUB}/hub/api/user?x=1&access_token=${sent.queryToken}&y=2`,
      `https://${HUB}/hub/login?token=${sent.queryToken}&TOKEN=${sent.queryToken}`,
      `https://${WWW}/missing.html?token=${sent.queryToken}`,
    ]) await get(url, headers);
    await httpsGet(`http://${WWW}/?token=${sent.queryToken}`, { connectTo: { host: host.addr }, headers, timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 500));
    const logs = ssh(host, `for f in ${logDir}/*.log; do echo "== $f"; cat "$f"; done`).stdout;
    const secrets: Secret[] = Object.entries(sent).map(([name, value]) => ({ name, value }));
    const leaks = findLeaks([{ where: `${logDir}/*.log`, text: logs }], secrets);
    const masked = logs.split("\n").filter((l) => l.includes(redactedMarker));
    console.log(`# ${proxy} access log, masked lines:\n#   ${masked.slice(0, 6).join("\n#   ")}`);
    assert.equal(leaks.length, 0, formatLeaks(leaks));
    assert.ok(masked.length >= 5, `expected the masked requests in the log, found:\n${masked.join("\n")}`);
    const maskedTarget = proxy === "nginx" ? `/hub/api/user?token=${redactedMarker}` : `/hub/api/user?${redactedMarker}`;
    assert.ok(logs.includes(maskedTarget), `no ${maskedTarget} in the log`);

    // The host's own default site (not ours) logs in the distro's format: a token sent to it is on
    // disk, and the same check finds it — the checker can fail.
    const leaked = "leak-3e4f5a6b7c8d9e0f1a2b3c4d";
    await httpsGet(`http://${host.addr}/?token=${leaked}`, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 500));
    const after = ssh(host, `cat ${logDir}/access.log`).stdout;
    const found = findLeaks([{ where: `${logDir}/access.log`, text: after }], [{ name: "token sent to the default site", value: leaked }]);
    console.log(`# leak check on the default site's request: ${formatLeaks(found) || "nothing found"}`);
    assert.equal(found.length, 1, "the checker must find a token the default site logged");
  });

  test(`faults/${proxy}: no private key, SSH key or ACME account key in any step output, error or proxy log; key files 0600`, () => {
    const accountKey = ssh(host, "find /etc/letsencrypt/accounts -name private_key.json -exec cat {} +").stdout;
    const accountD = /"d":\s*"([^"]+)"/.exec(accountKey)?.[1];
    assert.ok(accountD, "ACME account key found on the host");
    const issuedKey = ssh(host, `cat /etc/letsencrypt/live/${NEW}/privkey.pem`).stdout;
    assert.match(issuedKey, /PRIVATE KEY/);
    const secrets: Secret[] = [
      ...ca.material.map((m) => ({ name: `TLS key ${m.domain} (pushed, as provided certificates are)`, value: m.privateKeyPem })),
      { name: "SSH private key", value: fs.readFileSync(host.sshKey, "utf8") },
      { name: "ACME account key (d)", value: accountD! },
      { name: `ACME-issued key ${NEW}`, value: issuedKey },
    ];
    const logs = ssh(host, `cat ${logDir}/*.log /var/log/letsencrypt/*.log 2>/dev/null; journalctl -u ${unit} -u jupyterhub -u certbot --no-pager 2>/dev/null`).stdout;
    const places = [...outputs, { where: "proxy, certbot and hub logs on the host", text: logs }];
    const leaks = findLeaks(places, secrets);
    console.log(`# secrets audit: ${secrets.length} secrets × ${places.length} places (${outputs.length} step outputs, errors included): ${leaks.length} leaks`);
    assert.equal(leaks.length, 0, formatLeaks(leaks));

    // Fed a real leak (a step output that printed the key), the same audit fails.
    const leakedOutput = { where: "a step that printed its payload", text: `file /x 0600\n${ca.material[0].privateKeyPem}` };
    assert.equal(findLeaks([...places, leakedOutput], secrets).length, 1);

    const modes = ssh(host, [
      "for f in $(grep -rlZ -- 'PRIVATE KEY' /etc/jupyterhub-edge /etc/letsencrypt /var/lib/jupyterhub-edge 2>/dev/null | tr '\\0' ' ') $(find /etc/letsencrypt/accounts -name private_key.json); do stat -L -c '%a %U:%G %n' \"$f\"; done",
    ].join("\n")).stdout.trim().split("\n");
    const dirs = ssh(host, "stat -c '%a %n' /var/lib/jupyterhub-edge /etc/letsencrypt/archive /etc/letsencrypt/live /etc/letsencrypt/accounts").stdout;
    console.log(`# private key files on the host:\n#   ${modes.join("\n#   ")}\n# dirs: ${dirs.trim().split("\n").join(", ")}`);
    assert.ok(modes.length >= 4, modes.join("\n"));
    for (const line of modes) assert.match(line, /^[46]00 root:root /, `a private key readable beyond root: ${line}`);
    assert.match(dirs, /^700 \/var\/lib\/jupyterhub-edge$/m);
    assert.equal((fs.statSync(host.sshKey).mode & 0o077), 0, "the SSH key on this machine is private to its owner");
  });

  test(`faults/${proxy}: undo after all those faults leaves the host exactly as it was found`, () => {
    for (const step of [...steps].reverse()) {
      const r = run(step, "undo");
      assert.equal(r.status, 0, `undo of ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
    }
    const diff = fingerprintDiff(asFound, fingerprint(host));
    assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
    assert.equal(ssh(host, `cat ${HUB_CONFIG}`).stdout, hubConfigBefore, "hub config restored byte for byte");
  });

  test(`faults/${proxy}: the host gone: a step fails clearly in bounded time (step level, not the engine)`, () => {
    const netns = `jhe-${host.name}`;
    const down = spawnSync("ip", ["-n", netns, "link", "set", "eth0", "down"], { encoding: "utf8" });
    assert.equal(down.status, 0, down.stderr);
    try {
      const t0 = Date.now();
      const r = runStep(host, steps[0], "undo");
      const seconds = (Date.now() - t0) / 1000;
      console.log(`# host gone: undo of ${steps[0].name} exit ${r.status} after ${seconds.toFixed(1)} s: ${r.stderr.trim()}`);
      assert.equal(r.status, 255);
      assert.match(r.stderr, /No route to host|Connection timed out|timed out/);
      assert.ok(seconds < 60, `took ${seconds} s`);
    } finally {
      spawnSync("ip", ["-n", netns, "link", "set", "eth0", "up"]);
    }
  });
}
