/**
 * Render tier, capacity: the sizing formula (model/capacity.ts) for several class sizes and both
 * proxies, the rendered files against golden files, and the real `nginx -t` / `apache2ctl -t` of
 * each platform's release on them — including proof that Apache reads our MPM numbers, not the
 * stock ones, and that a sizing the host's memory cannot hold is refused at preview.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../config/schema";
import { renderCapacity } from "../../render/capacity";
import { renderNginx } from "../../render/nginx";
import { apacheModules, renderApache } from "../../render/apache";
import { capacityPayload } from "../../steps/plan";
import { connectionsPerParticipant } from "../../model/capacity";
import { apacheTest, nginxTest } from "../support/proxy-check";
import { baseConfig } from "./variants";
import { golden } from "../support/golden";


const sized = (extra: Record<string, unknown>) => parseConfig({ ...baseConfig, hostMemoryMb: 16384, ...extra }).site;

/** Class sizes → the numbers the formula must give (hand-checked against the comment in model/capacity.ts). */
const expected = [
  { participants: 30, connections: 165, nginx: { workerProcesses: 2, workerConnections: 768 }, apache: { threadsPerChild: 25, maxRequestWorkers: 175, serverLimit: 16, threadLimit: 64 } },
  { participants: 300, connections: 1650, nginx: { workerProcesses: 2, workerConnections: 2048 }, apache: { threadsPerChild: 207, maxRequestWorkers: 1656, serverLimit: 16, threadLimit: 207 } },
  { participants: 3000, connections: 16500, nginx: { workerProcesses: 3, workerConnections: 12800 }, apache: { threadsPerChild: 500, maxRequestWorkers: 16500, serverLimit: 66, threadLimit: 500 } },
];

for (const e of expected) {
  for (const platform of ["debian-13", "debian-12"]) {
    test(`capacity ${e.participants} participants, ${platform}: formula, golden files, real nginx -t and apache2ctl -t`, () => {
      const nginxSite = sized({ platform, expectedParticipants: e.participants });
      const c = nginxSite.capacity;
      assert.equal(c.connections, e.connections);
      assert.equal(c.connections, Math.ceil((e.participants * connectionsPerParticipant * 110) / 100));
      assert.equal(c.nginx.workerProcesses, e.nginx.workerProcesses);
      assert.equal(c.nginx.workerConnections, e.nginx.workerConnections);
      assert.equal(c.nginx.workerRlimitNofile, 16384);
      // Every proxied connection is two nginx connections; 7/8 of each worker's are usable.
      assert.ok(c.nginx.workerProcesses * c.nginx.workerConnections * 7 / 8 >= 2 * c.connections, "nginx holds every connection");
      assert.ok(c.nginx.workerConnections + 256 <= c.limitNofile, "a worker's connections fit its open-files limit");
      assert.ok(c.nginx.workerConnections >= 768, "never below Debian's stock worker_connections");

      const apacheSite = sized({ platform, expectedParticipants: e.participants, proxy: "apache" });
      const a = apacheSite.capacity.apache;
      assert.deepEqual({ threadsPerChild: a.threadsPerChild, maxRequestWorkers: a.maxRequestWorkers, serverLimit: a.serverLimit, threadLimit: a.threadLimit }, e.apache);
      assert.ok(a.maxRequestWorkers >= apacheSite.capacity.connections, "one thread per held connection");
      assert.ok(a.serverLimit * a.threadsPerChild >= 2 * a.maxRequestWorkers, "room for a second generation during a graceful reload");
      // Never below the stock limits, so the stock config (destroy) fits a parent started with ours.
      assert.ok(a.serverLimit >= 16 && a.threadLimit >= 64 && a.threadLimit >= a.threadsPerChild);
      assert.ok(2 * a.threadsPerChild + 256 <= apacheSite.capacity.limitNofile, "a child's sockets fit its open-files limit");
      assert.equal(apacheSite.capacity.tasksMax, a.serverLimit * (a.threadsPerChild + 4) + 64);

      const n = renderCapacity(nginxSite);
      const ap = renderCapacity(apacheSite);
      const tag = `${platform}-${e.participants}`;
      golden(`capacity/nginx-main-${tag}.conf`, n.proxy.content);
      golden(`capacity/nginx-dropin-${tag}.conf`, n.dropIn.content);
      golden(`capacity/apache-mpm-${tag}.conf`, ap.proxy.content);
      golden(`capacity/apache-dropin-${tag}.conf`, ap.dropIn.content);
      assert.match(n.proxy.content, new RegExp(`^worker_processes ${e.nginx.workerProcesses};$`, "m"));
      assert.match(n.proxy.content, new RegExp(`^    worker_connections ${e.nginx.workerConnections};$`, "m"));
      assert.match(n.dropIn.content, /^\[Service\]\nLimitNOFILE=16384\n$/m);
      assert.match(ap.proxy.content, new RegExp(`^    MaxRequestWorkers ${e.apache.maxRequestWorkers}$`, "m"));
      assert.match(ap.dropIn.content, /^TasksMax=\d+$/m);
      // The preview shows the numbers: they travel in the step's payload, line by line.
      assert.match(capacityPayload(nginxSite), new RegExp(`^\\|    worker_connections ${e.nginx.workerConnections};$`, "m"));

      const vhosts = renderNginx(nginxSite);
      const r = nginxTest([vhosts.http, vhosts.https], nginxSite.platform, [n.proxy]);
      assert.ok(r.ok, `nginx -t failed:\n${r.output}`);
      assert.doesNotMatch(r.output, /\[warn\]/, "no warnings (e.g. worker_connections above the open-files limit)");
      const av = renderApache(apacheSite);
      const t = apacheTest([ap.proxy, av.http, av.https], apacheSite.platform, apacheModules(apacheSite));
      assert.ok(t.ok, `apache2ctl -t failed:\n${t.output}`);
      assert.doesNotMatch(t.output, /AH00\d+: WARNING/, "the MPM accepts the numbers as they are");
    });
  }
}

test("capacity: Apache reads our MPM numbers, not Debian's stock mpm_event.conf (the check can fail)", () => {
  const site = sized({ expectedParticipants: 3000, proxy: "apache" });
  const file = renderCapacity(site).proxy;
  // Without our ServerLimit, Debian's stock one (16) is in force and the MPM says our
  // MaxRequestWorkers cannot fit it: proof that our MaxRequestWorkers is the value read.
  const r = apacheTest([{ ...file, content: file.content.replace(/^\s*ServerLimit .*\n/m, "") }], site.platform);
  assert.match(r.output, /MaxRequestWorkers of 16500 .*ServerLimit of 16\b/s, r.output);
});

test("capacity: nginx -t refuses worker settings outside the main context (the check can fail)", () => {
  const site = sized({ expectedParticipants: 300 });
  const main = renderCapacity(site).proxy;
  const r = nginxTest([main], site.platform);
  assert.equal(r.ok, false);
  assert.match(r.output, /"worker_processes" directive is not allowed here/);
});

test("capacity: overrides, and refusals at preview with the key, the value and the rule", () => {
  const o = sized({ maxConnections: 40000, openFilesLimit: 65536 }).capacity;
  assert.equal(o.connections, 40000);
  assert.equal(o.basis, "maxConnections 40000");
  assert.equal(o.limitNofile, 65536);
  assert.ok(o.nginx.workerProcesses * o.nginx.workerConnections * 7 / 8 >= 80000);

  const refuse = (extra: Record<string, unknown>, re: RegExp) =>
    assert.throws(() => parseConfig({ ...baseConfig, ...extra }), (e: Error) => (assert.match(e.message, re), true));
  refuse({ expectedParticipants: 3000, proxy: "apache" },
    /jupyterhub-edge:expectedParticipants: expectedParticipants 3000 × 5 connections \+ 10 % headroom = 16500 connections need about \d+ MiB in apache \(\d+ KiB each, measured\), more than the 1024 MiB it may use \(half of 2048 MiB assumed: declare jupyterhub-edge:hostMemoryMb/);
  refuse({ maxConnections: 100000, hostMemoryMb: 4096 }, /jupyterhub-edge:maxConnections: maxConnections 100000 connections need about \d+ MiB in nginx .*\(half of 4096 MiB hostMemoryMb/);
  refuse({ expectedParticipants: 0 }, /jupyterhub-edge:expectedParticipants: must be at least 1/);
  refuse({ expectedParticipants: 2.5 }, /jupyterhub-edge:expectedParticipants: must be a whole number, not a fraction/);
  refuse({ openFilesLimit: 512 }, /jupyterhub-edge:openFilesLimit: must be at least 1024/);
  refuse({ openFilesLimit: 2_000_000 }, /jupyterhub-edge:openFilesLimit: must be at most 1048576/);
  refuse({ hubIdleCullTimeout: 600, websocketIdleTimeout: 3600 }, /jupyterhub-edge:websocketIdleTimeout: 3600 s is longer than hubIdleCullTimeout 600 s \+ 120 s/);
});

test("capacity: websocket idle timeouts follow the hub's culler", () => {
  const timeouts = (extra: Record<string, unknown>) => {
    const nginx = renderNginx(parseConfig({ ...baseConfig, ...extra }).site).https.content;
    const apache = renderApache(parseConfig({ ...baseConfig, proxy: "apache", ...extra }).site).https.content;
    return { nginx: /proxy_read_timeout (\d+)s;/.exec(nginx)?.[1], apache: /ProxyTimeout (\d+)/.exec(apache)?.[1], tunnel: /timeout=(\d+)/.exec(apache)?.[1] };
  };
  assert.deepEqual(timeouts({}), { nginx: "3600", apache: "3600", tunnel: "3600" }, "no culler: an hour");
  assert.deepEqual(timeouts({ hubIdleCullTimeout: 600 }), { nginx: "720", apache: "720", tunnel: "720" }, "culler + 120 s");
  assert.deepEqual(timeouts({ hubIdleCullTimeout: 600, websocketIdleTimeout: 300 }), { nginx: "300", apache: "300", tunnel: "300" }, "explicit wins");
});
