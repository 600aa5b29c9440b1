// A websocket echo backend for capacity tests and the benchmark: stands in for the hub (and the
// kernels behind it) at the hub's upstream address. Plain Node, no packages (it runs on sandbox
// hosts, which have only Debian's nodejs). Several worker processes share the port (node:cluster),
// because one process here may hold 20,000 open files at most.
//
//   node ws-echo-backend.js PORT [WORKERS] [ADDRESS] [CERT KEY]
//
// With CERT and KEY (PEM files) it speaks TLS (wss://): the benchmark's direct path with the same
// encryption as the client leg through the proxy, so a ratio measures the proxy hop alone.
//
// Every text/binary frame is echoed back unfragmented; pings get pongs; a close is answered.
// GET without Upgrade answers 200 "echo backend" (the proxies' health checks and handshakes).
"use strict";
const cluster = require("node:cluster");
const http = require("node:http");
const https = require("node:https");
const fs = require("node:fs");
const crypto = require("node:crypto");

const port = Number(process.argv[2] || 8100);
const workers = Number(process.argv[3] || 4);
const address = process.argv[4] || "127.0.0.1";
const tls = process.argv[5] && process.argv[6] ? { cert: fs.readFileSync(process.argv[5]), key: fs.readFileSync(process.argv[6]) } : undefined;
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

function frame(opcode, payload) {
  const len = payload.length;
  let head;
  if (len < 126) head = Buffer.from([0x80 | opcode, len]);
  else if (len < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode; head[1] = 126; head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode; head[1] = 127; head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

/** Consumes whole frames from buf, answers them, returns what is left (a partial frame). */
function consume(buf, socket) {
  while (buf.length >= 2) {
    const opcode = buf[0] & 0x0f;
    const masked = (buf[1] & 0x80) !== 0;
    let len = buf[1] & 0x7f;
    let offset = 2;
    if (len === 126) { if (buf.length < 4) break; len = buf.readUInt16BE(2); offset = 4; }
    else if (len === 127) { if (buf.length < 10) break; len = Number(buf.readBigUInt64BE(2)); offset = 10; }
    const maskAt = offset;
    if (masked) offset += 4;
    if (buf.length < offset + len) break;
    let payload = Buffer.from(buf.subarray(offset, offset + len));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= buf[maskAt + (i & 3)];
    buf = buf.subarray(offset + len);
    if (opcode === 0x8) { socket.end(frame(0x8, payload.subarray(0, 2))); return Buffer.alloc(0); }
    if (opcode === 0x9) { socket.write(frame(0xa, payload)); continue; }
    if (opcode === 0xa) continue;
    socket.write(frame(opcode === 0 ? 1 : opcode, payload));
  }
  return buf;
}

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  let ready = 0;
  cluster.on("listening", () => { if (++ready === workers) console.log(`echo backend on ${address}:${port}, ${workers} workers`); });
  cluster.on("exit", (w, code) => { console.error(`worker ${w.process.pid} exited (${code})`); process.exitCode = 1; });
} else {
  const answer = (req, res) => { res.writeHead(200, { "content-type": "text/plain" }); res.end("echo backend\n"); };
  const server = tls ? https.createServer(tls, answer) : http.createServer(answer);
  server.on("upgrade", (req, socket, head) => {
    const key = req.headers["sec-websocket-key"];
    if (!key || String(req.headers.upgrade).toLowerCase() !== "websocket") { socket.destroy(); return; }
    const accept = crypto.createHash("sha1").update(key + GUID).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.setNoDelay(true);
    let buf = head && head.length ? Buffer.from(head) : Buffer.alloc(0);
    socket.on("data", (d) => { buf = consume(buf.length ? Buffer.concat([buf, d]) : d, socket); });
    // node:http leaves upgraded sockets half-open on the peer's FIN; the hub's proxy and a kernel
    // (tornado) close on it. Without this, Apache (which half-closes its backend leg when the client
    // leaves, then waits) keeps every finished websocket's connection and threads.
    socket.on("end", () => socket.end());
    socket.on("error", () => {});
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, address);
}
