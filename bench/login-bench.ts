/**
 * `npm run bench:login [-- --proxy nginx|apache] [--seconds N] [--repeats N]` — issue 21's login benchmark on one
 * sandbox host per proxy: hub-page requests per second with split auth ÷ without, at 10 and 100
 * concurrent clients, and the websocket echo p99 through the same proxy during that storm ÷ the
 * same without split auth. Goal: ≥ 0.9× and ≤ 1.2×.
 *
 * The hub page is the real hub's `/hub/login` (a rendered template). The websockets go to an echo
 * backend through the same proxy and the same vhost: a small shim at the hub's upstream address
 * forwards plain requests to the hub and hands websocket upgrades to test/support/ws-echo-backend.js
 * (the hub's own websockets need a spawned server and a kernel, whose run time would swamp the
 * proxy's share). Rounds: split auth off; on with a generated password (`{SHA}`, what the program
 * writes for generated passwords); on with the same password as SHA-256-crypt, 1000 rounds (what it
 * wrote before); on with a given password (bcrypt cost 10, what the program writes for passwords
 * people choose, and what every user had before issue 21). Each round also reports what explains
 * its figures: the proxy's CPU time per request (read from /proc on the host: the hash check's cost
 * shows here), the bench process's own event-loop delay during the storm (its share of the echo
 * times: the clients run on the same 2 cores), and the machine's load.
 * Not a test: prints the table and writes bench/RESULTS-login-<proxy>.md.
 */
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import * as crypto from "crypto";
import * as os from "os";
import { monitorEventLoopDelay } from "perf_hooks";
import { Worker } from "worker_threads";
import { parseConfig } from "../config/schema";
import { ProxyKind, SiteSpec } from "../model/site";
import { Step, certificatePayload, planSteps } from "../steps/plan";
import { htpasswdPayload } from "../render/split-auth";
import { bcryptWithSalt, generatedHash } from "../components/split-auth";
import { sha256Crypt } from "../render/sha-crypt";
import { makeTestCa, TestCa } from "../test/support/test-ca";
import { SandboxHost, createHost, removeHost, runStep, ssh } from "../test/support/sandbox";
import { startEchoBackend } from "../test/host/capacity-scenario";

const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const proxies: ProxyKind[] = arg("--proxy") ? [arg("--proxy") as ProxyKind] : ["nginx", "apache"];
const seconds = Number(arg("--seconds") ?? 10);
const repeats = Number(arg("--repeats") ?? 2);
const HUB = "hub.login.test";
const SHIM_PORT = 8100;
const ECHO_PORT = 8102;
const WS_CLIENTS = 20;

/** Plain requests to the hub, upgrades to the echo backend, byte for byte. */
const shimSource = `"use strict";
const http = require("node:http"), net = require("node:net");
const server = http.createServer((req, res) => {
  const up = http.request({ host: "127.0.0.1", port: 8000, path: req.url, method: req.method, headers: req.headers }, (r) => {
    res.writeHead(r.statusCode, r.headers);
    r.pipe(res);
  });
  up.on("error", () => { res.writeHead(502); res.end(); });
  req.pipe(up);
});
server.on("upgrade", (req, socket, head) => {
  const up = net.connect(${ECHO_PORT}, "127.0.0.1", () => {
    let text = req.method + " " + req.url + " HTTP/1.1\\r\\n";
    for (let i = 0; i < req.rawHeaders.length; i += 2) text += req.rawHeaders[i] + ": " + req.rawHeaders[i + 1] + "\\r\\n";
    up.write(text + "\\r\\n");
    if (head.length) up.write(head);
    up.pipe(socket);
    socket.pipe(up);
  });
  up.on("error", () => socket.destroy());
  socket.on("error", () => up.destroy());
});
server.keepAliveTimeout = 65000;
server.listen(${SHIM_PORT}, "127.0.0.1");
`;

interface Round {
  label: string; rps10: number; rps100: number; wsP50: number; wsP99: number; wsQuietP99: number;
  /** The proxy's CPU time (all its processes, user + system) per answered request, both storms. */
  proxyCpuMs: number;
  /** The bench's own event-loop delay p99 during the 100-client storm: the storm's loop (its clients' share). */
  loopP99: number;
  /** The same for the echo clients' own loop (worker thread): what of the echo times is the bench's. */
  echoLoopP99: number;
  /** The machine's 1-minute load average when the round started. */
  load: number;
  /**
   * CPU ms per answered request of every party during the 100-client storm (where the ratio falls
   * short): the proxy, the hub, the node backends (the hub shim and the echo server), fail2ban
   * reading the access log, and this bench's own clients. On 2 shared cores the storm is bound by
   * their sum, so a ratio below 1 shows here as the party whose share grew.
   */
  storm100Cpu: Record<Party, number>;
}

const parties = ["proxy", "hub", "backends", "fail2ban", "bench"] as const;
type Party = (typeof parties)[number];

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

/** `concurrency` keep-alive clients fetching the hub page for `seconds`; answers 200 per second. */
async function storm(host: SandboxHost, ca: TestCa, concurrency: number, auth: string | undefined): Promise<{ rps: number; answered: number }> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, ca: ca.caPem, servername: HUB });
  const end = performance.now() + seconds * 1000;
  let ok = 0, other = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = https.request({ host: host.addr, port: 443, path: "/hub/login", agent, servername: HUB, headers: { Host: HUB, ...(auth ? { Authorization: auth } : {}) }, timeout: 30_000 }, (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode === 200) ok++;
          else other++;
          resolve();
        });
      });
      req.on("error", () => (other++, resolve()));
      req.on("timeout", () => req.destroy());
      req.end();
    });
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) await one();
  }));
  agent.destroy();
  if (other > ok / 100) console.log(`#   (c=${concurrency}: ${other} answers were not 200)`);
  return { rps: ok / seconds, answered: ok + other };
}

/**
 * CPU seconds (user + system) used so far by the host's processes named `comm` (/proc/<pid>/stat,
 * 100 ticks/s), children that exited included (cutime + cstime: the master reaped them). Without
 * those, Apache's children that leave after a graceful reload took their time with them and a
 * round came out negative.
 */
/** CPU seconds so far of each party (host processes by name; the bench from its own process). */
function partyCpuSeconds(host: SandboxHost, proxyComm: string): Record<Party, number> {
  const [proxy, hub, backends, fail2ban] = ([proxyComm, "jupyterhub", "node", "fail2ban-server"] as const).map((c) => cpuSeconds(host, c));
  const own = process.cpuUsage();
  return { proxy, hub, backends, fail2ban, bench: (own.user + own.system) / 1e6 };
}

function cpuSeconds(host: SandboxHost, comm: string): number {
  const r = ssh(host, `cat /proc/[0-9]*/stat 2>/dev/null | awk '$2 == "(${comm})" { t += $14 + $15 + $16 + $17 } END { print t + 0 }'`);
  if (r.status !== 0) throw new Error(`cpu: ${r.stderr}`);
  return Number(r.stdout.trim()) / 100;
}

/**
 * WS_CLIENTS websockets through the proxy, each echoing a message every 20 ms; round trips in ms.
 * In a worker thread, on an event loop of their own: on the main thread the round trips measured
 * the bench's own loop (busy with the storm's 100 TLS clients) as much as the proxy — a first run
 * showed echo p99 ≈ the main loop's delay p99 in every round. The worker's own loop delay p99 is
 * returned too (what is left of the bench's share).
 */
const echoWorkerSource = `"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const { monitorEventLoopDelay } = require("node:perf_hooks");
const crypto = require("node:crypto");
const WebSocket = require(workerData.wsModule);
const { addr, hub, caPem, ms, clients } = workerData;
const rtts = [];
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const end = performance.now() + ms;
Promise.all(Array.from({ length: clients }, (_, i) => new Promise((resolve, reject) => {
  const ws = new WebSocket("wss://" + addr + "/user/bench/echo/" + i, { headers: { Host: hub }, ca: caPem, servername: hub });
  let sent = 0;
  const next = () => {
    if (performance.now() > end) return ws.close();
    sent = performance.now();
    ws.send(crypto.randomBytes(32).toString("hex"));
  };
  // An echo that never comes back (bcrypt stalls the worker) must not hang the round.
  const stop = setTimeout(() => ws.terminate(), ms + 15000);
  ws.on("open", next);
  ws.on("message", () => { rtts.push(performance.now() - sent); setTimeout(next, 20); });
  ws.on("close", () => (clearTimeout(stop), resolve()));
  ws.on("error", reject);
}))).then(() => { loop.disable(); parentPort.postMessage({ rtts, loopP99: loop.percentile(99) / 1e6 }); }, (e) => { throw e; });
`;

async function echoLoop(host: SandboxHost, ca: TestCa, ms: number): Promise<{ rtts: number[]; loopP99: number }> {
  const worker = new Worker(echoWorkerSource, {
    eval: true,
    workerData: { wsModule: require.resolve("ws"), addr: host.addr, hub: HUB, caPem: ca.caPem, ms, clients: WS_CLIENTS },
  });
  return new Promise((resolve, reject) => {
    worker.once("message", (m) => (resolve(m), void worker.terminate()));
    worker.once("error", reject);
  });
}

async function round(host: SandboxHost, ca: TestCa, label: string, auth: string | undefined): Promise<Round> {
  const load = os.loadavg()[0];
  const quiet = (await echoLoop(host, ca, 3000)).rtts;
  const comm = proxyNow === "nginx" ? "nginx" : "apache2";
  const cpu0 = cpuSeconds(host, comm);
  const s10 = await storm(host, ca, 10, auth);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const parties0 = partyCpuSeconds(host, comm);
  const [s100, echo] = await Promise.all([storm(host, ca, 100, auth), echoLoop(host, ca, seconds * 1000 - 500)]);
  loop.disable();
  const parties1 = partyCpuSeconds(host, comm);
  const storm100Cpu = Object.fromEntries(parties.map((p) => [p, ((parties1[p] - parties0[p]) * 1000) / Math.max(1, s100.answered)])) as Record<Party, number>;
  const during = echo.rtts;
  const proxyCpuMs = ((cpuSeconds(host, comm) - cpu0) * 1000) / (s10.answered + s100.answered);
  const r: Round = { label, rps10: s10.rps, rps100: s100.rps, wsP50: pct(during, 50), wsP99: pct(during, 99), wsQuietP99: pct(quiet, 99), proxyCpuMs, loopP99: loop.percentile(99) / 1e6, echoLoopP99: echo.loopP99, load, storm100Cpu };
  console.log(`# ${proxyNow} ${label}: ${r.rps10.toFixed(1)} req/s at 10, ${r.rps100.toFixed(1)} at 100; ws echo during the storm p50 ${r.wsP50.toFixed(1)} ms p99 ${r.wsP99.toFixed(1)} ms (quiet p99 ${r.wsQuietP99.toFixed(1)} ms, ${during.length} round trips); ${comm} CPU ${proxyCpuMs.toFixed(3)} ms/request; bench event-loop delay p99 ${r.loopP99.toFixed(1)} ms (storm), ${r.echoLoopP99.toFixed(1)} ms (echo clients); load ${load.toFixed(1)}; CPU ms/request at 100: ${cpuShares(storm100Cpu)}`);
  return r;
}

let proxyNow = "";

const cpuShares = (c: Record<Party, number>) => parties.map((p) => `${p} ${c[p].toFixed(3)}`).join(", ");

async function benchProxy(proxy: ProxyKind): Promise<string> {
  proxyNow = proxy;
  const host = createHost(`bl-${proxy}`, "trixie");
  try {
    const ca = makeTestCa([HUB]);
    const passwords = { workshop: crypto.randomBytes(12).toString("base64url"), tutor: crypto.randomBytes(18).toString("base64url") };
    const config = (splitAuth: boolean): SiteSpec =>
      parseConfig({
        proxy, platform: "debian-13", host: host.addr, sshPrivateKeyFile: host.sshKey, hostKey: host.hostKey, hubDomain: HUB,
        hubUpstream: `http://127.0.0.1:${SHIM_PORT}`, manageHubConfig: false, expectedParticipants: 100,
        ...(splitAuth ? { splitAuth: { users: [{ name: "workshop", passwordGiven: true }, { name: "tutor", passwordGiven: false }] } } : {}),
      }).site;
    const htpasswd = (site: SiteSpec) =>
      htpasswdPayload(site, [
        { user: "workshop", hash: bcryptWithSalt(passwords.workshop, crypto.randomBytes(16).toString("hex")) },
        { user: "tutor", hash: generatedHash(passwords.tutor) },
      ]);
    // The same files with the generated password as SHA-256-crypt, 1000 rounds (what the program wrote before).
    const htpasswdCrypt = (site: SiteSpec) =>
      htpasswdPayload(site, [
        { user: "workshop", hash: bcryptWithSalt(passwords.workshop, crypto.randomBytes(16).toString("hex")) },
        { user: "tutor", hash: sha256Crypt(passwords.tutor, crypto.randomBytes(12).toString("base64").replace(/\+/g, "."), 1000) },
      ]);
    const apply = (steps: Step[], previous: Step[] = []) => {
      for (const step of steps) {
        if (previous.find((p) => p.name === step.name)?.payload === step.payload) continue;
        const r = runStep(host, step, "apply");
        if (r.status !== 0) throw new Error(`step ${step.name}: ${r.stdout}${r.stderr}`);
      }
    };
    const shim = ssh(host, `cat >/root/hub-shim.js && systemd-run --unit jhe-hub-shim /usr/bin/node /root/hub-shim.js && for i in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:${SHIM_PORT}/hub/health && exit 0; sleep 0.2; done; exit 1`, shimSource);
    if (shim.status !== 0) throw new Error(`shim: ${shim.stderr}`);
    startEchoBackend(host, ECHO_PORT, 2);
    const open = config(false);
    const openSteps = planSteps<string>(open, certificatePayload(open, ca.material));
    const withAuth = config(true);
    const authSteps = planSteps<string>(withAuth, certificatePayload(withAuth, ca.material), htpasswd(withAuth));
    const cryptSteps = planSteps<string>(withAuth, certificatePayload(withAuth, ca.material), htpasswdCrypt(withAuth));
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;
    const OFF = "split auth off", SHA = "split auth, generated password ({SHA})", CRYPT = "split auth, generated password as SHA-256-crypt, 1000 rounds (before)", BCRYPT = "split auth, given password (bcrypt cost 10)";
    // Off, {SHA} and SHA-256-crypt alternate (`repeats` times each), in the order A B C, then C B A,
    // …: on a machine shared with other work, load drifts (a first run went from load 2 to 10), and
    // a fixed order would hand the later variants the heavier load. Each figure is the mean of its
    // rounds. bcrypt once, for reference.
    const rounds: Round[] = [];
    let current: Step[] = [];
    const variants = [[openSteps, OFF, undefined], [authSteps, SHA, basic("tutor", passwords.tutor)], [cryptSteps, CRYPT, basic("tutor", passwords.tutor)]] as const;
    for (let i = 0; i < repeats; i++) {
      for (const [steps, label, auth] of i % 2 ? [...variants].reverse() : variants) {
        apply(steps, current);
        current = steps;
        rounds.push(await round(host, ca, label, auth));
      }
    }
    // The htpasswd with the bcrypt user on (the loop above may end with split auth off).
    apply(authSteps, current);
    current = authSteps;
    rounds.push(await round(host, ca, BCRYPT, basic("workshop", passwords.workshop)));
    const mean = (label: string): Round => {
      const rs = rounds.filter((r) => r.label === label);
      const avg = (k: Exclude<keyof Round, "label" | "storm100Cpu">) => rs.reduce((a, r) => a + r[k], 0) / rs.length;
      return {
        label: `${label}${rs.length > 1 ? ` (mean of ${rs.length})` : ""}`, rps10: avg("rps10"), rps100: avg("rps100"), wsP50: avg("wsP50"), wsP99: avg("wsP99"),
        wsQuietP99: avg("wsQuietP99"), proxyCpuMs: avg("proxyCpuMs"), loopP99: avg("loopP99"), echoLoopP99: avg("echoLoopP99"), load: avg("load"),
        storm100Cpu: Object.fromEntries(parties.map((p) => [p, rs.reduce((a, r) => a + r.storm100Cpu[p], 0) / rs.length])) as Record<Party, number>,
      };
    };
    const short: Record<string, string> = { [OFF]: "off", [SHA]: "{SHA}", [CRYPT]: "SHA-256-crypt", [BCRYPT]: "bcrypt" };
    const off = mean(OFF);
    const ms = (v: number) => (Number.isNaN(v) ? "no echo came back" : `${v.toFixed(1)} ms`);
    const ratio = (a: number, b: number) => (Number.isNaN(a) ? "∞ (stalled)" : `**${(a / b).toFixed(2)}×**`);
    const lines = [
      `| ${proxy} | req/s at 10 | ÷ off | req/s at 100 | ÷ off | ws echo p99 during the 100-client storm | ÷ off | (p50; quiet p99) | proxy CPU per request | bench's own loop delay p99 (storm; echo clients) | load |`,
      "|---|---|---|---|---|---|---|---|---|---|---|",
      ...[off, mean(SHA), mean(CRYPT), mean(BCRYPT)].map((r) =>
        `| ${r.label} | ${r.rps10.toFixed(1)} | ${r === off ? "–" : ratio(r.rps10, off.rps10)} | ${r.rps100.toFixed(1)} | ${r === off ? "–" : ratio(r.rps100, off.rps100)} | ${ms(r.wsP99)} | ${r === off ? "–" : ratio(r.wsP99, off.wsP99)} | ${ms(r.wsP50)}; ${ms(r.wsQuietP99)} | ${r.proxyCpuMs.toFixed(3)} ms | ${ms(r.loopP99)}; ${ms(r.echoLoopP99)} | ${r.load.toFixed(1)} |`),
      "",
      "CPU ms per answered request during the 100-client storm, by party (mean of the rounds): " +
        [off, mean(SHA), mean(CRYPT), mean(BCRYPT)].map((r) => `${short[r.label.replace(/ \(mean of \d+\)$/, "")] ?? r.label}: ${cpuShares(r.storm100Cpu)}`).join("; "),
      "",
      "Rounds, in order: " + rounds.map((r) => `${short[r.label]}: ${r.rps10.toFixed(0)}/${r.rps100.toFixed(0)} req/s, p99 ${ms(r.wsP99)}, ${r.proxyCpuMs.toFixed(3)} ms CPU/req`).join("; "),
    ];
    return lines.join("\n");
  } finally {
    if (process.env.JHE_KEEP_HOSTS !== "1") removeHost(`bl-${proxy}`);
  }
}

async function main(): Promise<void> {
  const tables: string[] = [];
  for (const proxy of proxies) tables.push(await benchProxy(proxy));
  const text = [
    `# Login benchmark (issue 21): hub pages behind split auth`,
    "",
    `\`npm run bench:login\` on ${new Date().toISOString().slice(0, 10)}, one Debian 13 sandbox host per proxy on a 2-core machine (shared with other work),`,
    `${seconds} s per storm, keep-alive clients on the machine, ${WS_CLIENTS} websockets echoing every 20 ms through the same proxy during the 100-client storm.`,
    "Goal: split auth ÷ off ≥ 0.9× (req/s) and ≤ 1.2× (ws p99).",
    "",
    ...tables.flatMap((t) => [t, ""]),
  ].join("\n");
  console.log(text);
  const file = path.join(__dirname, `RESULTS-login${proxies.length === 1 ? `-${proxies[0]}` : ""}.md`);
  fs.writeFileSync(file, text);
  console.log(`# wrote ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
