/**
 * Host tier, a hub on the public internet (issue 21): one sandbox host per proxy, every check on it.
 * - True client addresses: a forged X-Forwarded-For / X-Real-IP / Forwarded, from this machine and
 *   from a second network namespace (scripts/sandbox/source-ns.sh), shows the true source address
 *   in the hub's own log (journalctl -u jupyterhub).
 * - `<base>hub/metrics`: the hub is set up as many are for Prometheus (authenticate_prometheus off),
 *   so the edge is all that stands in front of it. From this machine, refused in every generated
 *   spelling (HTTP/1.1 origin- and absolute-form, HTTP/2), judged by content (no `# HELP jupyterhub_`);
 *   from the scraper namespace (metricsAllowFrom), the hub's metrics. The same spellings sent to the
 *   hub's own proxy inside the host say which of them mean the metrics to JupyterHub.
 * - Embedding: a real Chromium opens an extra site standing for the learning platform, whose page
 *   frames the hub: login, JupyterLab and print(6*7) → 42 inside the frame; a second extra site
 *   (not allowed) gets the browser's own refusal. Screenshots of both.
 * - Undo leaves the host as found.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parseConfig } from "../../config/schema";
import { ProxyKind, SiteSpec } from "../../model/site";
import { PlatformId } from "../../model/platforms";
import { Step, certificatePayload, planSteps } from "../../steps/plan";
import { TestCa, makeTestCa } from "../support/test-ca";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, runStep, ssh } from "../support/sandbox";
import { Channel, Endpoint, H2Client, authority, channels, h1Raw, pathSpellings, pool } from "../support/path-spellings";
import { platformPage, runEmbeddedLab } from "../support/embed-browser";

const HUB = "hub.jhe-public.test";
/** Another registrable domain than the hub's: the frame is cross-site, where SameSite=Lax cookies are not sent. */
const LMS = "lms.embed-lms.test";
const OTHER = "courses.other-lms.test";
const FORGED = "203.0.113.9";
const repo = path.join(__dirname, "..", "..");
const artifactsDir = path.join(repo, "test-artifacts", "public-hub");

interface Source { netns: string; addr4: string; addr6: string; target4: string }

function addSource(host: SandboxHost): Source {
  const r = spawnSync("bash", [path.join(repo, "scripts/sandbox/source-ns.sh"), "add", host.name], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const env = Object.fromEntries([...r.stdout.matchAll(/^([A-Z0-9_]+)='(.*)'$/gm)].map((m) => [m[1], m[2]]));
  return { netns: env.SOURCE_NETNS, addr4: env.SOURCE_ADDR4, addr6: env.SOURCE_ADDR6, target4: env.TARGET_ADDR4 };
}

/** A scraper's text: Prometheus exposition of the hub's own metrics. */
const isHubMetrics = (body: string) => /^# HELP jupyterhub_/m.test(body);

export interface PublicHubScenarioOptions {
  suite: "trixie" | "bookworm";
  platform: PlatformId;
  proxy: ProxyKind;
}

export function publicHubScenario({ suite, platform, proxy }: PublicHubScenarioOptions): void {
  const hostName = `pub-${proxy}`;
  const tag = `${proxy}/${suite}`;
  let host: SandboxHost;
  let ca: TestCa;
  let source: Source;
  let asFound: string;
  let site: SiteSpec;
  let steps: Step[];

  /** curl from the scraper namespace (HTTP/1.1); the source address is the namespace's own. */
  const fromSource = (urlPath: string, headers: string[] = []): { status: number; body: string } => {
    const r = spawnSync("ip", ["netns", "exec", source.netns, "curl", "-sS", "--path-as-is", "--max-time", "15", "--cacert", path.join(ca.dir, "ca.pem"),
      "--resolve", `${HUB}:443:${source.target4}`, ...headers.flatMap((h) => ["-H", h]), "-w", "\n%{http_code}", `https://${HUB}${urlPath}`], { encoding: "utf8" });
    assert.equal(r.status, 0, `curl from ${source.netns} failed: ${r.stderr}`);
    const i = r.stdout.lastIndexOf("\n");
    return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
  };
  const endpoint = (): Endpoint => ({ addr: host.addr, port: site.httpsPort, hostName: HUB, ca: ca.caPem });
  /** The hub's own log lines for a request marked with `marker` in its query. */
  const hubLogLines = (marker: string): string[] => {
    for (let i = 0; i < 20; i++) {
      const lines = ssh(host, `journalctl -u jupyterhub --no-pager -o cat | grep -F -- '${marker}' || true`).stdout.trim().split("\n").filter(Boolean);
      if (lines.length) return lines;
      spawnSync("sleep", ["0.25"]);
    }
    return [];
  };

  before(() => {
    const t0 = Date.now();
    host = createHost(hostName, suite);
    ca = makeTestCa([HUB, LMS, OTHER]);
    source = addSource(host);
    // As an admin does who lets Prometheus scrape without a token: nothing but the edge guards it.
    const r = ssh(host, `printf '\\n# Prometheus scrapes without a token.\\nc.JupyterHub.authenticate_prometheus = False\\n' >> /etc/jupyterhub/jupyterhub_config.py`);
    assert.equal(r.status, 0, r.stderr);
    asFound = fingerprint(host);
    ({ site } = parseConfig({
      proxy, platform, host: host.addr, sshPrivateKeyFile: host.sshKey, hostKey: host.hostKey, hubDomain: HUB,
      extraSites: [{ domain: LMS }, { domain: OTHER }],
      metricsAllowFrom: [source.addr4, `${source.addr6}`],
      embedAllowFrom: [`https://${LMS}`],
    }));
    steps = planSteps<string>(site, certificatePayload(site, ca.material), undefined);
    for (const step of steps) {
      const a = runStep(host, step, "apply");
      assert.equal(a.status, 0, `step ${step.name} failed:\n${a.stdout}\n${a.stderr}`);
    }
    // The platforms' pages: each frames the hub's login page.
    for (const [domain, title] of [[LMS, "Learning platform (allowed)"], [OTHER, "Another platform (not allowed)"]]) {
      const w = ssh(host, `cat > /var/www/${domain}/index.html`, platformPage(title, `https://${HUB}/hub/login`));
      assert.equal(w.status, 0, w.stderr);
    }
    console.log(`# host ${host.name} (${suite}, ${proxy}) at ${host.addr}; scraper namespace ${source.addr4} / ${source.addr6}; ${steps.length} steps applied in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
  after(() => {
    spawnSync("bash", [path.join(repo, "scripts/sandbox/source-ns.sh"), "remove", host?.name ?? `${process.env.JHE_HOST_PREFIX ?? ""}${hostName}`]);
    if (host && process.env.JHE_KEEP_HOSTS !== "1") removeHost(hostName);
  });

  test(`public hub ${tag}: a forged X-Forwarded-For / X-Real-IP / Forwarded shows the true source in the hub's own log`, async () => {
    const forged = [`X-Forwarded-For: ${FORGED}`, "X-Real-IP: 203.0.113.8", "Forwarded: for=203.0.113.7"];
    const marker = `forged-${proxy}-${Date.now()}`;
    const mine = await h1Raw(endpoint(), { target: `/hub/login?m=${marker}-machine`, headers: Object.fromEntries(forged.map((h) => h.split(": ") as [string, string])) });
    assert.equal(mine.status, 200);
    assert.equal(fromSource(`/hub/login?m=${marker}-source`, forged).status, 200);
    const machineLine = hubLogLines(`${marker}-machine`);
    const sourceLine = hubLogLines(`${marker}-source`);
    console.log(`# hub log (forged ${FORGED}) from this machine: ${machineLine.join(" | ")}`);
    console.log(`# hub log (forged ${FORGED}) from ${source.addr4}: ${sourceLine.join(" | ")}`);
    assert.equal(machineLine.length, 1);
    assert.match(machineLine[0], new RegExp(`\\(@${host.machineAddr.replace(/\./g, "\\.")}\\)`), "the hub logs this machine's address");
    assert.equal(sourceLine.length, 1);
    assert.match(sourceLine[0], new RegExp(`\\(@${source.addr4.replace(/\./g, "\\.")}\\)`), "the hub logs the namespace's address");
    assert.doesNotMatch([...machineLine, ...sourceLine].join("\n"), /203\.0\.113\./, "nothing forged reaches the hub's log");
  });

  test(`public hub ${tag}: <base>hub/metrics is refused from outside in every spelling, and served to the scraper`, async () => {
    const plain = await h1Raw(endpoint(), { target: "/hub/metrics" });
    assert.equal(plain.status, 403, plain.body.slice(0, 200));
    assert.ok(!isHubMetrics(plain.body), "the refusal is not the metrics");
    const scraped = fromSource("/hub/metrics");
    assert.equal(scraped.status, 200, scraped.body.slice(0, 200));
    assert.ok(isHubMetrics(scraped.body), "the scraper gets the hub's metrics");
    const helps = scraped.body.split("\n").filter((l) => l.startsWith("# HELP jupyterhub_"));
    console.log(`# metrics: from this machine 403 (${plain.body.length} bytes, no metrics); from the scraper ${source.addr4}: 200, ${helps.length} '# HELP jupyterhub_' lines, e.g. ${helps[0]}`);

    const spellings = [
      ...pathSpellings({ base: site.hub.path, user: host.hubUser, page: "metrics" }),
      ...["/hub/metrics/", "/hub/metrics/.", "/hub/METRICS", "/hub/Metrics", "/hub/%6detrics", "/hub/metrics;x", "/hub/metrics%3F", "/hub/metrics?format=text"].map((p) => ({ path: p, family: "extra" })),
    ];
    // What JupyterHub itself routes to its metrics handler: the spellings sent to the hub's own
    // proxy inside the host (the tab and newline ones cannot be sent by curl; the proxies refuse them).
    const direct = ssh(host, `while IFS= read -r p; do code=$(curl -s --path-as-is -o /tmp/m -w '%{http_code}' "http://127.0.0.1:8000$p"); grep -q '^# HELP jupyterhub_' /tmp/m && echo "$code $p"; done; rm -f /tmp/m`,
      spellings.map((s) => s.path).filter((p) => !/[\t\n]/.test(p)).join("\n") + "\n");
    const meanMetrics = direct.stdout.trim().split("\n").filter(Boolean);
    console.log(`# spellings: ${spellings.length}; to the hub's own proxy ${meanMetrics.length} of them are the metrics: ${meanMetrics.map((l) => l.split(" ").slice(1).join(" ")).join("  ")}`);
    assert.ok(meanMetrics.length >= 3, "some spellings do mean the metrics downstream (the sweep is not vacuous)");

    const e = endpoint();
    const h2 = new H2Client(e);
    const leaks: string[] = [];
    const statuses = new Map<string, number>();
    try {
      await pool(spellings.flatMap((s) => channels.map((channel) => ({ s, channel }))), 16, async ({ s, channel }: { s: { path: string }; channel: Channel }) => {
        try {
          const r = channel === "HTTP/2" ? await h2.request({ target: s.path })
            : channel === "HTTP/1.1 absolute-form" ? await h1Raw(e, { target: `https://${authority(e)}${s.path}` })
              : await h1Raw(e, { target: s.path });
          statuses.set(String(r.status), (statuses.get(String(r.status)) ?? 0) + 1);
          if (isHubMetrics(r.body)) leaks.push(`${channel} ${JSON.stringify(s.path)} ${r.status}`);
        } catch {
          statuses.set("no answer", (statuses.get("no answer") ?? 0) + 1);
        }
      });
    } finally {
      h2.close();
    }
    console.log(`# metrics sweep through ${proxy} from outside: ${spellings.length * channels.length} requests, answers ${[...statuses].map(([k, v]) => `${k}×${v}`).join(" ")}, metrics leaked: ${leaks.length}`);
    assert.deepEqual(leaks, [], "no spelling gets the metrics from outside");
    for (const p of meanMetrics.map((l) => l.split(" ").slice(1).join(" "))) {
      if (!/\\|%5c/i.test(p)) assert.ok(isHubMetrics(fromSource(p).body), `the scraper gets the metrics by ${p} too (the refusal is by source)`);
    }
  });

  test(`public hub ${tag}: a real browser: the allowed platform frames the hub (login → JupyterLab → 42); the browser refuses the other`, async () => {
    const shots = { allowed: path.join(artifactsDir, `${proxy}-${suite}-embedded-allowed.png`), refused: path.join(artifactsDir, `${proxy}-${suite}-embedded-refused.png`) };
    const r = await runEmbeddedLab({
      hubUrl: `https://${HUB}/`, allowedPageUrl: `https://${LMS}/`, refusedPageUrl: `https://${OTHER}/`, hostAddr: host.addr,
      leafCertPems: ca.material.map((m) => m.fullchainPem), hubUser: host.hubUser, hubPassword: host.hubPassword,
      screenshotAllowed: shots.allowed, screenshotRefused: shots.refused, log: (l) => console.log(`# ${l}`),
    });
    assert.equal(r.output, "42");
    assert.ok(r.labFrameUrl.startsWith(`https://${HUB}/user/${host.hubUser}/lab`), r.labFrameUrl);
    assert.match(r.refusedFrameUrl, /^chrome-error:\/\//, "the refused frame shows the browser's error document, not the hub");
    assert.match(r.refusal, /frame-ancestors/i, "the browser reports the frame-ancestors violation");
    assert.ok(r.hubCookies.length > 0, "the hub's cookies were kept for the frame");
    for (const c of r.hubCookies) {
      assert.ok(c.sameSite === "None" && c.secure, `cookie ${c.name}: SameSite=${c.sameSite}, secure ${c.secure}, partition ${c.partitionKey}`);
    }
    for (const shot of Object.values(shots)) assert.ok(fs.statSync(shot).size > 5_000, `${shot} written`);
    console.log(`# browser (${r.chromiumVersion}): in the frame of https://${LMS}/: ${r.labFrameUrl} → print(6*7) → ${r.output}; cookies ${r.hubCookies.map((c) => `${c.name} SameSite=${c.sameSite} partition ${c.partitionKey}`).join(", ")}`);
    console.log(`# browser: https://${OTHER}/ frame document ${r.refusedFrameUrl}; console: ${r.refusal}`);
    console.log(`# screenshot: ${path.relative(repo, shots.allowed)}`);
    console.log(`# screenshot: ${path.relative(repo, shots.refused)}`);
  });

  test(`public hub ${tag}: undo (destroy) leaves the host as it was found`, () => {
    for (const domain of [LMS, OTHER]) ssh(host, `rm -f /var/www/${domain}/index.html`);
    for (const step of [...steps].reverse()) {
      const r = runStep(host, step, "undo");
      assert.equal(r.status, 0, `undo of ${step.name} failed:\n${r.stdout}\n${r.stderr}`);
    }
    const diff = fingerprintDiff(asFound, fingerprint(host));
    assert.equal(diff, "", `host differs from how it was found:\n${diff}`);
  });
}
