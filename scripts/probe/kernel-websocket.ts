/**
 * Code run in a kernel the way JupyterLab runs it: an execute_request on the kernel's channels
 * websocket (dialled through the probe's connect-to address and CA), output collected from iopub
 * until the kernel goes idle. A refused handshake is explained (upgrade not forwarded, Origin/Host).
 */
import * as net from "node:net";
import * as tls from "node:tls";
import * as http from "node:http";
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { USER_AGENT, bodyExcerpt, dialTarget, headerValue } from "./http-client";
import { HubProbeError, ProbeRun, ProbeStep } from "./probe-run";

interface JupyterMessage {
  header: { msg_id: string; msg_type: string; [k: string]: unknown };
  parent_header: { msg_id?: string; [k: string]: unknown };
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  channel?: string | undefined;
  buffers?: unknown[] | undefined;
}

/** The execute_request JupyterLab sends for a cell of `code`. */
function executeRequest(msgId: string, user: string, code: string): JupyterMessage {
  return {
    header: {
      msg_id: msgId,
      msg_type: "execute_request",
      username: user,
      session: randomUUID(),
      date: new Date().toISOString(),
      version: "5.3",
    },
    parent_header: {},
    metadata: {},
    content: { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true },
    buffers: [],
    channel: "shell",
  };
}

/** The handshake's headers: a browser's websocket from the lab page, with the user server's cookies. */
function handshakeHeaders(run: ProbeRun, wsUrl: URL): Record<string, string> {
  const headers: Record<string, string> = {
    Host: wsUrl.host,
    "User-Agent": USER_AGENT,
    "Sec-Fetch-Mode": "websocket",
    "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-Dest": "empty",
  };
  if (run.userXsrf) headers["X-XSRFToken"] = run.userXsrf;
  const cookie = run.jar.header(wsUrl);
  if (cookie) headers.Cookie = cookie;
  return headers;
}

/** Reads the answer to a refused handshake and reports it with a hint at the usual proxy mistake. */
function reportRefusedHandshake(res: http.IncomingMessage, wsFail: (reason: string, extra: { status?: number | undefined; body?: string | undefined }) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const finishBody = () => {
    const b = Buffer.concat(chunks).toString("utf8");
    const hint =
      res.statusCode === 400 && /upgrade/i.test(b)
        ? " -- the proxy did not pass the Upgrade/Connection headers (websocket upgrade not forwarded)"
        : res.statusCode === 403
          ? " -- Origin/Host mismatch (proxy must pass the public Host incl. port) or auth refused"
          : "";
    wsFail(`websocket handshake refused (expected 101)${hint}`, {
      status: res.statusCode,
      body: bodyExcerpt(b, headerValue(res.headers, "content-type")),
    });
  };
  res.on("data", (c: Buffer) => {
    size += c.length;
    if (size <= 64 * 1024) chunks.push(c);
  });
  res.on("end", finishBody);
  res.on("error", finishBody);
  setTimeout(finishBody, 2000).unref();
}

/** What came back for our execute_request so far. */
class ExecutionOutput {
  messages = 0;
  out = "";
  reply: string | undefined;
  kernelError: string | undefined;

  /** Takes one message of ours; true once the kernel went idle after it. */
  take(m: JupyterMessage): boolean {
    const type = m.header?.msg_type;
    if (m.channel === "shell" && type === "execute_reply") {
      this.reply = String(m.content.status);
      return false;
    }
    if (m.channel !== "iopub") return false;
    if (type === "stream") this.out += String(m.content.text ?? "");
    else if (type === "execute_result" || type === "display_data") {
      const d = m.content.data as Record<string, unknown> | undefined;
      if (d && typeof d["text/plain"] === "string") this.out += `${d["text/plain"]}\n`;
    } else if (type === "error") {
      this.kernelError = `${String(m.content.ename)}: ${String(m.content.evalue)}`;
    } else if (type === "status" && m.content.execution_state === "idle") {
      return true;
    }
    return false;
  }
}

/** The kernel's channels websocket, dialled like the probe's requests (connect-to address, CA, SNI). */
function openChannels(run: ProbeRun, wsUrl: URL, budget: number): WebSocket {
  const target = dialTarget(wsUrl, run.conn);
  const createConnection = (): net.Socket =>
    wsUrl.protocol === "wss:"
      ? tls.connect({ host: target.host, port: target.port, servername: target.servername, ca: run.conn.ca, rejectUnauthorized: true })
      : net.connect({ host: target.host, port: target.port });
  return new WebSocket(wsUrl.href, {
    headers: handshakeHeaders(run, wsUrl),
    origin: run.userOrigin,
    handshakeTimeout: Math.min(budget, 30_000),
    followRedirects: false,
    maxPayload: 16 * 1024 * 1024,
    createConnection: createConnection as unknown as typeof net.createConnection,
  });
}

/** A frame as a message answering our request `msgId`, or undefined for anything else. */
function replyTo(msgId: string, data: WebSocket.RawData, isBinary: boolean): JupyterMessage | undefined {
  if (isBinary) return undefined; // binary frames carry buffers; not used for our text output
  let m: JupyterMessage;
  try {
    m = JSON.parse(data.toString()) as JupyterMessage;
  } catch {
    return undefined;
  }
  return m.parent_header?.msg_id === msgId ? m : undefined;
}

/** Open the kernel channels websocket, execute the run's code, collect output until idle. */
export function runOnKernel(run: ProbeRun, wsUrl: URL, rec: ProbeStep): Promise<string> {
  const t0 = Date.now();
  const budget = run.deadline.budget(Math.max(run.reqCap, 60_000), "the kernel websocket");
  const target = dialTarget(wsUrl, run.conn);
  const msgId = randomUUID();
  const execMsg = executeRequest(msgId, run.user, run.code);

  return new Promise<string>((resolve, reject) => {
    let settled = false;
    let opened = false;
    const result = new ExecutionOutput();
    let ws: WebSocket | undefined;
    const done = (err: Error | undefined, value?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        if (ws && ws.readyState === WebSocket.OPEN) ws.close(1000);
        else ws?.terminate();
      } catch {
        /* ignore */
      }
      if (err) reject(err);
      else resolve(value as string);
    };
    const wsFail = (reason: string, extra: { status?: number | undefined; body?: string | undefined } = {}) =>
      done(new HubProbeError("kernel-websocket", reason, { ...extra, url: wsUrl.href.replace(/session_id=[^&]*/, "session_id=..."), method: "GET(websocket)" }));
    const timer = setTimeout(
      () =>
        wsFail(
          opened
            ? `no idle status for our execute_request within ${budget} ms (${result.messages} message(s) seen, output so far ${JSON.stringify(result.out)})`
            : `websocket did not open within ${budget} ms`,
        ),
      budget,
    );
    try {
      ws = openChannels(run, wsUrl, budget);
    } catch (e) {
      wsFail(e instanceof Error ? e.message : String(e));
      return;
    }
    ws.on("unexpected-response", (_req, res) => {
      rec.status = res.statusCode;
      reportRefusedHandshake(res, wsFail);
    });
    ws.on("error", (e) => wsFail(`websocket error: ${e.message} (dialled ${target.host}:${target.port})`));
    ws.on("close", (codeNum, reason) => {
      if (!settled) wsFail(`websocket closed before the kernel went idle: code ${codeNum} ${reason.toString() || ""}`.trim());
    });
    ws.on("open", () => {
      opened = true;
      rec.status = 101;
      rec.detail = `open after ${Date.now() - t0} ms`;
      ws?.send(JSON.stringify(execMsg));
    });
    ws.on("message", (data, isBinary) => {
      if (settled) return;
      result.messages++;
      if (result.messages > 10_000) {
        wsFail("more than 10000 messages without idle");
        return;
      }
      const m = replyTo(msgId, data, isBinary);
      if (!m || !result.take(m)) return;
      rec.detail = `${rec.detail ?? ""}, idle after ${Date.now() - t0} ms, ${result.messages} message(s)${result.reply ? `, reply ${result.reply}` : ""}`;
      if (result.kernelError) wsFail(`the code raised ${result.kernelError}`);
      else done(undefined, result.out);
    });
  });
}
