/**
 * One process of the websocket-hold client (test/support/ws-hold.ts forks several: a process here
 * may hold 20,000 open files at most). Opens its share of websockets, keeps them, and reports over
 * IPC: how many are open, how many failed to open, how many closed without being asked to (drops);
 * on request, one echo round over every open socket with round-trip times.
 */
import WebSocket from "ws";

export interface OpenCommand {
  cmd: "open";
  url: string;
  count: number;
  /** PEM of the CA to trust (wss), the TLS server name and the Host header to send. */
  ca?: string;
  servername?: string;
  hostHeader?: string;
  /** Handshakes in flight at once. */
  concurrency: number;
  /** Give up on one handshake after this long. */
  handshakeTimeoutMs: number;
  /** Start no new handshake after this long (a saturated proxy that never answers would otherwise
   * take count × handshakeTimeoutMs ÷ concurrency to fail through); the rest stay not attempted. */
  rampBudgetMs?: number;
}
export type WorkerCommand = OpenCommand | { cmd: "echo"; timeoutMs: number; spacingMs?: number } | { cmd: "close" };

export interface Progress {
  ev: "progress";
  open: number;
  failed: number;
  dropped: number;
  attempted: number;
  firstErrors: string[];
}
export interface EchoResult {
  ev: "echo";
  sent: number;
  answered: number;
  rttsMs: number[];
}

const sockets = new Set<WebSocket>();
let failed = 0;
let dropped = 0;
let attempted = 0;
let closing = false;
const firstErrors: string[] = [];
const note = (e: string) => { if (firstErrors.length < 5 && !firstErrors.includes(e)) firstErrors.push(e); };

const send = (m: Progress | EchoResult | { ev: "opened" } | { ev: "closed" }) => process.send?.(m);
const progress = () => send({ ev: "progress", open: sockets.size, failed, dropped, attempted, firstErrors });

function openOne(c: OpenCommand): Promise<void> {
  attempted++;
  return new Promise((resolve) => {
    // ws hands `ca` and `servername` on to tls.connect (its types do not list servername).
    const options = {
      ca: c.ca,
      servername: c.servername,
      headers: c.hostHeader ? { Host: c.hostHeader } : undefined,
      perMessageDeflate: false,
      handshakeTimeout: c.handshakeTimeoutMs,
    } as WebSocket.ClientOptions;
    const ws = new WebSocket(c.url, options);
    let opened = false;
    ws.on("open", () => { opened = true; sockets.add(ws); resolve(); });
    ws.on("error", (e) => { note(String((e as Error).message)); });
    ws.on("unexpected-response", (_req, res) => { note(`HTTP ${res.statusCode}`); ws.terminate(); });
    ws.on("close", (code) => {
      if (!opened) { failed++; resolve(); return; }
      sockets.delete(ws);
      if (!closing) { dropped++; note(`closed ${code}`); }
    });
  });
}

async function openAll(c: OpenCommand): Promise<void> {
  let next = 0;
  const stopAt = c.rampBudgetMs === undefined ? Infinity : Date.now() + c.rampBudgetMs;
  const lane = async () => { while (next < c.count && Date.now() < stopAt) { next++; await openOne(c); } };
  const timer = setInterval(progress, 250);
  await Promise.all(Array.from({ length: Math.min(c.concurrency, c.count) }, lane));
  clearInterval(timer);
  progress();
  send({ ev: "opened" });
}

/** One message per open socket (spaced out when asked), each answered by the echo backend. */
async function echoRound(timeoutMs: number, spacingMs = 0): Promise<void> {
  const rtts: number[] = [];
  const list = [...sockets];
  let answered = 0;
  await new Promise<void>((resolve) => {
    const deadline = setTimeout(resolve, timeoutMs);
    let pending = list.length;
    if (pending === 0) { clearTimeout(deadline); resolve(); return; }
    list.forEach((ws, i) => {
      const go = () => {
        const token = `${process.pid}-${i}-${Date.now()}`;
        const t0 = process.hrtime.bigint();
        const onMessage = (data: WebSocket.RawData) => {
          if (String(data) !== token) return;
          ws.off("message", onMessage);
          rtts.push(Number(process.hrtime.bigint() - t0) / 1e6);
          answered++;
          if (--pending === 0) { clearTimeout(deadline); resolve(); }
        };
        ws.on("message", onMessage);
        ws.send(token);
      };
      if (spacingMs > 0) setTimeout(go, i * spacingMs); else go();
    });
  });
  send({ ev: "echo", sent: list.length, answered, rttsMs: rtts });
}

process.on("message", async (m: WorkerCommand) => {
  if (m.cmd === "open") await openAll(m);
  else if (m.cmd === "echo") await echoRound(m.timeoutMs, m.spacingMs);
  else if (m.cmd === "close") {
    closing = true;
    for (const ws of sockets) ws.terminate();
    progress();
    send({ ev: "closed" });
    setTimeout(() => process.exit(0), 50);
  }
});
setInterval(progress, 1000).unref();
