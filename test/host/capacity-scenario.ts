/**
 * Host tier, capacity (issue 12; issue 10's fault case 5): a host sized by the program holds 2,000
 * websockets over TLS through the proxy to an echo backend at the hub's upstream, with 0 drops, and
 * keeps every one of them through a graceful reload (a real config change pushed by the program's
 * own files step) — each still echoes afterwards, and new ones open. Then undo puts Debian's main
 * config back byte for byte and removes the drop-in.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { parseConfig } from "../../config/schema";
import { ProxyKind, SiteSpec } from "../../model/site";
import { Step, certificatePayload, planSteps } from "../../steps/plan";
import { dropInPath } from "../../render/capacity";
import { TestCa, makeTestCa } from "../support/test-ca";
import { SandboxHost, createHost, removeHost, runStep, ssh } from "../support/sandbox";
import { WsHold } from "../support/ws-hold";

const HUB = "hub.jhe.test";
const ECHO_PORT = 8100;
const SOCKETS = 2000;

/** Copies the echo backend to the host and runs it as a transient unit (test scaffolding, not the program's). */
export function startEchoBackend(host: SandboxHost, port = ECHO_PORT, workers = 4, address = "127.0.0.1", tls?: { cert: string; key: string }): void {
  const source = fs.readFileSync(path.join(__dirname, "..", "support", "ws-echo-backend.js"), "utf8");
  const scheme = tls ? "https" : "http";
  const r = ssh(host, `cat >/root/ws-echo-backend.js && systemctl stop jhe-echo-${port} 2>/dev/null; systemd-run --unit jhe-echo-${port} -p LimitNOFILE=20000 /usr/bin/node /root/ws-echo-backend.js ${port} ${workers} ${address}${tls ? ` ${tls.cert} ${tls.key}` : ""} && for i in $(seq 50); do curl -fsSk ${scheme}://127.0.0.1:${port}/ >/dev/null 2>&1 && exit 0; sleep 0.2; done; journalctl -u jhe-echo-${port} --no-pager | tail; exit 1`, source);
  assert.equal(r.status, 0, `echo backend did not start: ${r.stdout}${r.stderr}`);
}

export function capacityScenario(proxy: ProxyKind): void {
  const hostName = `cap-${proxy}`;
  let host: SandboxHost;
  let ca: TestCa;
  let site: SiteSpec;
  let steps: Step[];
  let mainBefore = "";
  let stockNofile = "";
  const unit = proxy === "nginx" ? "nginx" : "apache2";
  const plan = (extra: Record<string, unknown>) => {
    ({ site } = parseConfig({
      proxy,
      host: host.addr,
      sshPrivateKeyFile: host.sshKey,
      hostKey: host.hostKey,
      platform: "debian-13",
      hubDomain: HUB,
      // The echo backend stands at the hub's upstream; the hub itself is left alone.
      hubUpstream: `http://127.0.0.1:${ECHO_PORT}`,
      manageHubConfig: false,
      expectedParticipants: 400,
      ...extra,
    }));
    return planSteps(site, certificatePayload(site, ca.material));
  };
  const apply = (list: Step[]) => {
    for (const step of list) {
      const r = runStep(host, step, "apply");
      assert.equal(r.status, 0, `step ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
    }
  };
  const hold = (total: number) =>
    new WsHold({ url: `wss://${host.addr}/user/learner/api/kernels/k/channels`, total, ca: ca.caPem, servername: HUB, hostHeader: HUB });

  before(() => {
    host = createHost(hostName, "trixie");
    ca = makeTestCa([HUB]);
    // What Debian's package ships, before the program edits it (installed here only to read it).
    if (proxy === "nginx") {
      ssh(host, "apt-get install -y -q nginx >/dev/null 2>&1");
      mainBefore = ssh(host, "cat /etc/nginx/nginx.conf").stdout;
      assert.match(mainBefore, /^worker_processes auto;$/m);
      assert.match(mainBefore, /^\s*worker_connections 768;$/m);
    }
    startEchoBackend(host);
  });
  after(() => {
    if (host && process.env.JHE_KEEP_HOSTS !== "1") removeHost(hostName);
  });

  test(`capacity ${proxy}: the sized config is applied; the service runs with the limits`, () => {
    steps = plan({});
    const capacityAt = steps.findIndex((s) => s.name === "proxy-capacity");
    apply(steps.slice(0, capacityAt));
    // The open-files limit Apache's parent runs with before the program sizes it (undo gives it back).
    if (proxy === "apache") stockNofile = ssh(host, "awk '/Max open files/ {print $4, $5}' /proc/$(systemctl show -p MainPID --value apache2)/limits").stdout.trim();
    apply(steps.slice(capacityAt));
    // The processes that hold the connections: nginx's workers (worker_rlimit_nofile; the master was
    // only reloaded), Apache's parent (restarted for its new limits) and so its children.
    const holder = proxy === "nginx" ? "$(pgrep -f 'nginx: worker process' | head -1)" : `$(systemctl show -p MainPID --value ${unit})`;
    const limits = ssh(host, `systemctl show -p LimitNOFILE --value ${unit}; awk '/Max open files/ {print $4}' /proc/${holder}/limits`).stdout.trim().split("\n");
    assert.deepEqual(limits, ["16384", "16384"], "LimitNOFILE from the drop-in, in force in the processes that hold the sockets");
    assert.equal(ssh(host, `test -f ${dropInPath(site)} && echo yes`).stdout.trim(), "yes");
    if (proxy === "nginx") {
      const main = ssh(host, "cat /etc/nginx/nginx.conf").stdout;
      assert.match(main, /^#jhe-capacity# worker_processes auto;$/m);
      assert.match(main, /^#jhe-capacity# \s*worker_connections 768;$/m);
      assert.match(main, /^include \/etc\/nginx\/jupyterhub-edge-main\.conf; # jupyterhub-edge capacity/m);
      const workers = ssh(host, "pgrep -c -f 'nginx: worker process'").stdout.trim();
      assert.equal(Number(workers), site.capacity.nginx.workerProcesses);
    } else {
      // Threads per child as sized (+ the listener and the MPM's own threads).
      const threads = ssh(host, "ps -o nlwp= --ppid $(systemctl show -p MainPID --value apache2) | sort -n | tail -1").stdout.trim();
      assert.ok(Number(threads) >= site.capacity.apache.threadsPerChild, `apache children run ${threads} threads, want ≥ ${site.capacity.apache.threadsPerChild}`);
    }
    const again = runStep(host, steps.find((s) => s.name === "proxy-capacity")!, "apply");
    assert.equal(again.status, 0, `the second apply failed:\n${again.stdout}${again.stderr}`);
    assert.match(again.stdout, /unchanged/, "a second apply changes nothing");
  });

  if (proxy === "apache") {
    test("capacity apache: a sizing whose threads kernel.pid_max cannot hold is refused, nothing changed", () => {
      // The same step with the thread count raised to this kernel's pid_max: with what already
      // runs, it cannot fit, whatever the machine's pid_max is.
      const pidMax = Number(ssh(host, "cat /proc/sys/kernel/pid_max").stdout.trim());
      const step = steps.find((s) => s.name === "proxy-capacity")!;
      const tooBig = { ...step, payload: String(step.payload).replace(/^tasks \d+$/m, `tasks ${pidMax}`) };
      const pid = ssh(host, "systemctl show -p MainPID --value apache2").stdout.trim();
      const dropIn = ssh(host, `sha256sum ${dropInPath(site)}`).stdout;
      const r = runStep(host, tooBig, "apply");
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, new RegExp(`Apache may run ${pidMax} threads .* kernel\\.pid_max is ${pidMax} and \\d+ tasks already run here, leaving \\d+ .*raise kernel\\.pid_max`));
      assert.equal(ssh(host, `sha256sum ${dropInPath(site)}`).stdout, dropIn, "the drop-in is untouched");
      assert.equal(ssh(host, "systemctl show -p MainPID --value apache2").stdout.trim(), pid, "Apache was neither restarted nor stopped");
    });
  }

  test(`capacity ${proxy}: ${SOCKETS} websockets over TLS held with 0 drops, and through a graceful reload`, async () => {
    const client = hold(SOCKETS);
    try {
      const t0 = Date.now();
      const opened = await client.open();
      console.log(`# ${proxy}: opened ${opened.open}/${SOCKETS} in ${((Date.now() - t0) / 1000).toFixed(1)} s; failed ${opened.failed}; ${opened.errors.join("; ")}`);
      assert.equal(opened.open, SOCKETS, `all held (failed ${opened.failed}: ${opened.errors.join("; ")})`);
      const echo = await client.echo();
      assert.equal(echo.answered, SOCKETS, "every socket echoes through the proxy");

      // A real change pushed the program's way: the files step tests, then reloads gracefully.
      const pids = ssh(host, `systemctl show -p MainPID --value ${unit}`).stdout.trim();
      const changed = plan({ maxUploadMb: 1024 }).find((s) => s.name === "proxy-config")!;
      const r = runStep(host, changed, "apply");
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /tested and reloaded/);
      assert.equal(ssh(host, `systemctl show -p MainPID --value ${unit}`).stdout.trim(), pids, "a reload, not a restart");

      const after = await client.settle();
      assert.equal(after.dropped, 0, `dropped during the reload: ${after.errors.join("; ")}`);
      assert.equal(after.open, SOCKETS);
      const echoAfter = await client.echo();
      assert.equal(echoAfter.answered, SOCKETS, "every socket still echoes after the reload");
      const fresh = hold(200);
      try {
        assert.equal((await fresh.open()).open, 200, "new websockets open after the reload");
      } finally {
        await fresh.close();
      }
      console.log(`# ${proxy}: ${after.open} held through the reload, 0 dropped; echo p50 ${echoAfter.p50Ms.toFixed(1)} ms`);
    } finally {
      await client.close();
    }
  });

  if (proxy === "apache") {
    test("capacity apache: a sizing within the running parent's limits, and undo, reload in place", () => {
      // 30 participants: ServerLimit 16 / ThreadLimit 64, within what the parent started with (the
      // 400-participant sizing's ThreadLimit 275) — so no restart, and the open-files limit is set
      // on the running parent; undo then gives it back the limit it had before the first apply.
      const pid = ssh(host, "systemctl show -p MainPID --value apache2").stdout.trim();
      const small = plan({ expectedParticipants: 30, openFilesLimit: 8192 }).find((s) => s.name === "proxy-capacity")!;
      const r = runStep(host, small, "apply");
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /LimitNOFILE=8192, reloaded/);
      assert.equal(ssh(host, "systemctl show -p MainPID --value apache2").stdout.trim(), pid, "a reload, not a restart");
      assert.equal(ssh(host, `awk '/Max open files/ {print $4, $5}' /proc/${pid}/limits`).stdout.trim(), "8192 8192");
      steps = steps.map((s) => (s.name === "proxy-capacity" ? small : s));
    });
  }

  test(`capacity ${proxy}: undo puts the stock config back byte for byte`, () => {
    const pidBeforeUndo = ssh(host, `systemctl show -p MainPID --value ${unit}`).stdout.trim();
    for (const step of [...steps].reverse()) {
      const r = runStep(host, step, "undo");
      assert.equal(r.status, 0, `undo of ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
      if (step.name === "proxy-capacity" && proxy === "apache") {
        // Undo reloads (the stock ServerLimit/ThreadLimit fit the running parent) and gives the
        // parent back the open-files limit it had before the first apply.
        const pid = ssh(host, "systemctl show -p MainPID --value apache2").stdout.trim();
        assert.equal(pid, pidBeforeUndo, "undo reloads, it does not restart");
        assert.equal(ssh(host, `awk '/Max open files/ {print $4, $5}' /proc/${pid}/limits`).stdout.trim(), stockNofile);
      }
    }
    assert.equal(ssh(host, `test -e ${dropInPath(site)} || echo gone`).stdout.trim(), "gone");

    assert.equal(ssh(host, "test -e /var/lib/jupyterhub-edge/capacity || echo gone").stdout.trim(), "gone");
    if (proxy === "nginx") {
      // The package was installed before the program came: it stays, with its own nginx.conf.
      assert.equal(ssh(host, "cat /etc/nginx/nginx.conf").stdout, mainBefore);
      assert.equal(ssh(host, "test -e /etc/nginx/jupyterhub-edge-main.conf || echo gone").stdout.trim(), "gone");
    }
  });
}
