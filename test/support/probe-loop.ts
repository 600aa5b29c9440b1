/**
 * A probe loop: requests to a few URLs (the hub, another site) through the proxy, over and over,
 * while a fault happens, counting the requests that were not served as expected. It runs in a
 * child process, so it keeps probing while the test blocks in a synchronous SSH step (spawnSync).
 * Bounded both in requests and in time: it stops by itself at `maxRequests` or `maxMs`.
 *
 *   const loop = await startProbeLoop({ targets: [{ name: "hub", url: "https://hub…/hub/login", ok: [200] }], connectTo, ca });
 *   runStep(host, brokenStep, "apply");          // the fault
 *   const report = await loop.stop();            // { targets: [{ name, sent, ok, failed, failures }] }
 *
 * Every request is a new connection (no keep-alive), so a reload that drops connections shows.
 */
import { spawn } from "child_process";
import * as path from "path";
import { ConnectTo, httpsGet } from "./hub-probe";

export interface ProbeTarget {
  name: string;
  url: string;
  /** Statuses that count as served (anything else, or no answer, is a failure). */
  ok: number[];
  /** If set, the body must match too. */
  bodyMatch?: string;
  /** Extra request headers (e.g. Basic credentials for split auth's hub pages). */
  headers?: Record<string, string>;
}

export interface ProbeLoopOptions {
  targets: ProbeTarget[];
  connectTo?: ConnectTo;
  ca?: string;
  /** Pause between rounds (one request per target each round). Default 50 ms. */
  intervalMs?: number;
  /** Per request. Default 5000 ms. */
  timeoutMs?: number;
  /** Hard bounds: the loop stops by itself after this many requests in all, or this long. */
  maxRequests?: number;
  maxMs?: number;
}

export interface TargetReport {
  name: string;
  sent: number;
  ok: number;
  failed: number;
  /** Counts per outcome: "200", "503", "error: ECONNREFUSED", … */
  outcomes: Record<string, number>;
  /** The first few failures, with the time since the loop started. */
  firstFailures: { atMs: number; what: string }[];
}

export interface ProbeReport {
  ms: number;
  stoppedBy: "stop" | "maxRequests" | "maxMs";
  targets: TargetReport[];
}

export interface ProbeLoop {
  /** Ends the loop (after the round in flight) and returns what it counted. */
  stop(): Promise<ProbeReport>;
}

const childScript = path.join(__dirname, "probe-loop-child.ts");

/** Starts the loop in a child process; resolves once its first round has been answered. */
export function startProbeLoop(opts: ProbeLoopOptions): Promise<ProbeLoop> {
  const child = spawn(process.execPath, ["--import", "tsx", childScript], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  const done = new Promise<ProbeReport>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("report "));
      if (line) resolve(JSON.parse(line.slice(7)) as ProbeReport);
      else reject(new Error(`probe loop exited (${code}) without a report:\n${out.slice(-2000)}`));
    });
  });
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const wasReady = out.includes("ready\n");
      out += chunk;
      if (!wasReady && out.includes("ready\n")) {
        resolve({
          stop: () => {
            if (child.exitCode === null) child.stdin.end("stop\n");
            return done;
          },
        });
      }
    });
    done.catch(reject);
    child.stdin.write(JSON.stringify(opts) + "\n");
  });
}

/** One request; "200" or the failure in a few words. */
export async function probeOnce(t: ProbeTarget, opts: Pick<ProbeLoopOptions, "connectTo" | "ca" | "timeoutMs">): Promise<{ outcome: string; ok: boolean }> {
  try {
    const r = await httpsGet(t.url, { connectTo: opts.connectTo, ca: opts.ca, headers: t.headers, timeoutMs: opts.timeoutMs ?? 5000 });
    const bodyOk = t.bodyMatch === undefined || new RegExp(t.bodyMatch).test(r.body);
    return { outcome: bodyOk ? String(r.status) : `${r.status} (unexpected body)`, ok: t.ok.includes(r.status) && bodyOk };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { outcome: `error: ${err.code ?? err.message.slice(0, 60)}`, ok: false };
  }
}

/** The loop itself (runs in the child). */
export async function runProbeLoop(opts: ProbeLoopOptions, stopped: () => boolean, onReady: () => void): Promise<ProbeReport> {
  const t0 = Date.now();
  const maxRequests = opts.maxRequests ?? 20_000;
  const maxMs = opts.maxMs ?? 10 * 60_000;
  const reports: TargetReport[] = opts.targets.map((t) => ({ name: t.name, sent: 0, ok: 0, failed: 0, outcomes: {}, firstFailures: [] }));
  let total = 0;
  let stoppedBy: ProbeReport["stoppedBy"] = "stop";
  for (let round = 0; ; round++) {
    if (stopped()) break;
    if (total >= maxRequests) { stoppedBy = "maxRequests"; break; }
    if (Date.now() - t0 >= maxMs) { stoppedBy = "maxMs"; break; }
    await Promise.all(opts.targets.map(async (t, i) => {
      const { outcome, ok } = await probeOnce(t, opts);
      const r = reports[i];
      r.sent++;
      total++;
      r.outcomes[outcome] = (r.outcomes[outcome] ?? 0) + 1;
      if (ok) r.ok++;
      else {
        r.failed++;
        if (r.firstFailures.length < 5) r.firstFailures.push({ atMs: Date.now() - t0, what: outcome });
      }
    }));
    if (round === 0) onReady();
    await new Promise((res) => setTimeout(res, opts.intervalMs ?? 50));
  }
  return { ms: Date.now() - t0, stoppedBy, targets: reports };
}

/** One line per target, for the test log (and the issue's fault matrix). */
export function formatProbeReport(label: string, r: ProbeReport): string {
  return r.targets
    .map((t) => `${label}: ${t.name}: ${t.sent} requests, ${t.failed} failed (${Object.entries(t.outcomes).map(([k, v]) => `${k}×${v}`).join(", ")}) in ${(r.ms / 1000).toFixed(1)} s`)
    .join("\n");
}
