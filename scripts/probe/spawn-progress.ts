/**
 * The spawn's progress event stream (text/event-stream from the hub's API), followed until the
 * server is ready. It also tells whether the proxy streamed the events or buffered them into one
 * burst at the end (nginx without `proxy_buffering off`).
 */
import * as http from "node:http";
import { bodyExcerpt, headerValue, rawRequest, readBody } from "./http-client";
import { HubProbeError, ProbeRun, ProbeStep, apiHeaders } from "./probe-run";

interface ProgressEvent {
  progress?: number | undefined;
  message?: string | undefined;
  ready?: boolean | undefined;
  failed?: boolean | undefined;
  url?: string | undefined;
}

/** The data lines of one event-stream block, joined; "" for a block without data. */
function eventData(block: string): string {
  return block
    .split("\n")
    .filter((l) => l.startsWith("data:"))
    .map((l) => l.slice(5).replace(/^ /, ""))
    .join("\n");
}

/** Counts and timings of the events seen so far on one stream. */
class ProgressTally {
  events = 0;
  firstEventMs: number | undefined;
  lastEventMs = 0;
  lastMessage = "";
  private readonly t0 = Date.now();

  seen(): void {
    this.events++;
    if (this.firstEventMs === undefined) this.firstEventMs = Date.now() - this.t0;
    this.lastEventMs = Date.now() - this.t0;
  }
}

/** Follow the spawn progress event stream. Returns "ready", or a reason to fall back to polling. */
export async function followProgress(run: ProbeRun, url: URL, rec: ProbeStep): Promise<"ready" | string> {
  const tally = new ProgressTally();
  const headers: Record<string, string> = { ...apiHeaders(run.hubXsrf, run.homeUrl), Accept: "text/event-stream", "Cache-Control": "no-cache" };
  const cookie = run.jar.header(url);
  if (cookie) headers.Cookie = cookie;
  const budget = run.deadline.budget(Math.max(run.reqCap, 90_000), "the spawn progress stream");
  try {
    return await rawRequest(url, { method: "GET", headers, conn: run.conn, timeoutMs: budget }, (res) => readStream(run, url, rec, res, tally));
  } catch (e) {
    if (e instanceof HubProbeError) throw e;
    throw new HubProbeError("spawn-progress", `${e instanceof Error ? e.message : String(e)} (${tally.events} event(s), last: ${tally.lastMessage || "none"})`, {
      url: url.href,
    });
  }
}

/** Reads the stream's blocks until an event says ready or failed, or the stream ends. */
function readStream(run: ProbeRun, url: URL, rec: ProbeStep, res: http.IncomingMessage, tally: ProgressTally): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    rec.status = res.statusCode;
    if (res.statusCode !== 200) {
      readBody(res, 64 * 1024).then(
        (b) => resolve(`progress stream answered HTTP ${res.statusCode}: ${bodyExcerpt(b.toString("utf8"), headerValue(res.headers, "content-type"))}`),
        () => resolve(`progress stream answered HTTP ${res.statusCode}`),
      );
      return;
    }
    let buf = "";
    let bytes = 0;
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      bytes += chunk.length;
      if (bytes > 4 * 1024 * 1024) {
        reject(new Error("progress stream exceeded 4 MiB"));
        return;
      }
      buf += chunk.replace(/\r\n?/g, "\n");
      let sep: number;
      while ((sep = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, sep);
        buf = buf.slice(sep + 2);
        const data = eventData(block);
        if (!data) continue;
        tally.seen();
        if (tally.events > 1000) {
          reject(new Error("more than 1000 progress events without ready"));
          return;
        }
        let ev: ProgressEvent;
        try {
          ev = JSON.parse(data) as ProgressEvent;
        } catch {
          continue;
        }
        const verdict = onEvent(run, url, rec, ev, tally);
        if (verdict instanceof Error) {
          reject(verdict);
          return;
        }
        if (verdict) {
          resolve(verdict);
          return;
        }
      }
    });
    res.on("end", () => resolve(`progress stream ended without ready after ${tally.events} event(s) (last: ${tally.lastMessage || "none"})`));
  });
}

/** One parsed event: "ready", an error that fails the probe, or undefined to read on. */
function onEvent(run: ProbeRun, url: URL, rec: ProbeStep, ev: ProgressEvent, tally: ProgressTally): "ready" | Error | undefined {
  if (ev.message) {
    tally.lastMessage = ev.message;
    run.log(`[hub-probe]   progress ${ev.progress ?? "?"}%: ${ev.message}`);
  }
  if (ev.failed) {
    return new HubProbeError("spawn-progress", `spawn failed: ${ev.message ?? "(no message)"}`, { url: url.href, status: 200 });
  }
  if (!ev.ready) return undefined;
  const { events, lastEventMs } = tally;
  const first = tally.firstEventMs ?? lastEventMs;
  const streamed = events >= 2 && lastEventMs >= 1000 ? lastEventMs - first >= 300 : undefined;
  run.spawnProgress = { events, firstEventMs: first, readyMs: lastEventMs, streamed };
  rec.detail = `${events} event(s), first after ${first} ms, ready after ${lastEventMs} ms${streamed === false ? ", ALL AT ONCE (buffered by the proxy?)" : ""}`;
  if (streamed === false && run.opts.requireStreamedProgress) {
    return new HubProbeError(
      "spawn-progress",
      `all ${events} progress events arrived at once after ${lastEventMs} ms: the proxy buffers text/event-stream (nginx: proxy_buffering off)`,
      { url: url.href, status: 200 },
    );
  }
  return "ready";
}
