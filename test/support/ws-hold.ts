/**
 * The websocket-hold client: opens `total` websockets through a proxy (or straight to the echo
 * backend), spread over several processes (test/support/ws-hold-worker.ts; one process here may
 * hold 20,000 open files at most), holds them, and counts what a workshop would feel: sockets that
 * never opened, sockets dropped while held, echo answers. Samples the held count once a second
 * (the benchmark plots it).
 */
import { ChildProcess, fork } from "child_process";
import * as path from "path";
import { EchoResult, OpenCommand, Progress, WorkerCommand } from "./ws-hold-worker";

export interface HoldOptions {
  url: string;
  total: number;
  /** Worker processes (default: enough for ≤ 6,000 sockets each, at least 2). */
  processes?: number;
  ca?: string;
  servername?: string;
  hostHeader?: string;
  /** Handshakes in flight per process (default 64). */
  concurrency?: number;
  handshakeTimeoutMs?: number;
  /** Start no new handshake after this long (default: no limit); see OpenCommand.rampBudgetMs. */
  rampBudgetMs?: number;
}

export interface HoldTotals {
  asked: number;
  attempted: number;
  open: number;
  failed: number;
  dropped: number;
  errors: string[];
}

export interface EchoTotals {
  sent: number;
  answered: number;
  p50Ms: number;
  p99Ms: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export class WsHold {
  private readonly workers: ChildProcess[] = [];
  private readonly latest = new Map<ChildProcess, Progress>();
  /** [seconds since start, sockets held] once a second. */
  public readonly timeline: [number, number][] = [];
  private readonly t0 = Date.now();
  private sampler?: NodeJS.Timeout;

  constructor(private readonly options: HoldOptions) {
    const n = options.processes ?? Math.max(2, Math.ceil(options.total / 6000));
    for (let i = 0; i < n; i++) {
      const w = fork(path.join(__dirname, "ws-hold-worker.ts"), [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
      w.on("message", (m: Progress) => { if (m.ev === "progress") this.latest.set(w, m); });
      this.workers.push(w);
    }
    this.sampler = setInterval(() => this.timeline.push([(Date.now() - this.t0) / 1000, this.totals().open]), 1000);
  }

  private request<T>(w: ChildProcess, cmd: WorkerCommand, until: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: { ev: string }) => { if (m.ev === until) { w.off("message", onMessage); w.off("exit", onExit); resolve(m as T); } };
      const onExit = (code: number) => reject(new Error(`ws-hold worker exited (${code}) before '${until}'`));
      w.on("message", onMessage);
      w.once("exit", onExit);
      w.send(cmd);
    });
  }

  /** Opens every socket (each process its share); resolves when every handshake has ended. */
  async open(): Promise<HoldTotals> {
    const share = (i: number) => Math.floor(this.options.total / this.workers.length) + (i < this.options.total % this.workers.length ? 1 : 0);
    await Promise.all(this.workers.map((w, i) => {
      const cmd: OpenCommand = {
        cmd: "open",
        url: this.options.url,
        count: share(i),
        ca: this.options.ca,
        servername: this.options.servername,
        hostHeader: this.options.hostHeader,
        concurrency: this.options.concurrency ?? 64,
        handshakeTimeoutMs: this.options.handshakeTimeoutMs ?? 20_000,
        rampBudgetMs: this.options.rampBudgetMs,
      };
      return this.request(w, cmd, "opened");
    }));
    await new Promise((r) => setTimeout(r, 300));
    return this.totals();
  }

  totals(): HoldTotals {
    const all = [...this.latest.values()];
    const sum = (k: "open" | "failed" | "dropped" | "attempted") => all.reduce((a, p) => a + p[k], 0);
    return {
      asked: this.options.total,
      attempted: sum("attempted"),
      open: sum("open"),
      failed: sum("failed"),
      dropped: sum("dropped"),
      errors: [...new Set(all.flatMap((p) => p.firstErrors))].slice(0, 8),
    };
  }

  /** One echo message over every held socket; `spacingMs` spreads them out (latency, not load). */
  async echo(timeoutMs = 20_000, spacingMs = 0): Promise<EchoTotals> {
    const results = await Promise.all(this.workers.map((w) => this.request<EchoResult>(w, { cmd: "echo", timeoutMs, spacingMs }, "echo")));
    const rtts = results.flatMap((r) => r.rttsMs).sort((a, b) => a - b);
    return {
      sent: results.reduce((a, r) => a + r.sent, 0),
      answered: results.reduce((a, r) => a + r.answered, 0),
      p50Ms: percentile(rtts, 50),
      p99Ms: percentile(rtts, 99),
    };
  }

  /** Waits ~1.5 s so that every worker's counters are fresh. */
  async settle(): Promise<HoldTotals> {
    await new Promise((r) => setTimeout(r, 1500));
    return this.totals();
  }

  async close(): Promise<HoldTotals> {
    if (this.sampler) clearInterval(this.sampler);
    await Promise.all(this.workers.map((w) => (w.exitCode === null ? this.request(w, { cmd: "close" }, "closed").catch(() => undefined) : undefined)));
    const totals = this.totals();
    for (const w of this.workers) if (w.exitCode === null) w.kill();
    return totals;
  }
}
