/**
 * A real S3-compatible server for tests of the workflow's state backend: versitygw
 * (scripts/toolchain/versitygw.sh builds it from the Go module proxy) with its `posix` backend —
 * every bucket a directory, every object a file under `dataDir` — on 127.0.0.1 and a free port,
 * plain HTTP, one root key pair (given to the process by environment, never on its command line).
 * Buckets and objects are handled with a minimal S3 client here (SigV4 with Node's crypto; this
 * machine has no AWS CLI), so a test can see exactly what Pulumi put in the bucket.
 *
 *   const bin = versitygwBinDir();                       // { dir } or { error } (then skip)
 *   const s3 = await startS3Server({ binDir: bin.dir, accessKey, secretKey, versioning: true });
 *   await s3.createBucket("state");                      // versioning on, as docs/ci.md asks
 *   const keys = (await s3.listObjects("state", ".pulumi/")).map((o) => o.key);
 *   await s3.stop();
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import { createHash, createHmac } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";

const repo = path.join(__dirname, "..", "..");

export interface S3Object {
  key: string;
  size: number;
}

export interface S3Version {
  key: string;
  versionId: string;
  isLatest: boolean;
  deleteMarker: boolean;
}

export interface S3Server {
  /** `127.0.0.1:PORT`. */
  hostPort: string;
  port: number;
  /** `http://127.0.0.1:PORT`. */
  endpoint: string;
  region: string;
  /** The posix backend's root: `<dataDir>/<bucket>/<key>` is each object's file. */
  dataDir: string;
  /** Where old versions live when versioning is on (else undefined). */
  versionsDir?: string;
  /** `versitygw --version`'s Version line (e.g. `v1.8.0`). */
  version: string;
  createBucket(bucket: string): Promise<void>;
  listObjects(bucket: string, prefix?: string): Promise<S3Object[]>;
  /** Every version and delete marker (versioning on). */
  listVersions(bucket: string, prefix?: string): Promise<S3Version[]>;
  getObject(bucket: string, key: string): Promise<string>;
  putObject(bucket: string, key: string, body: string): Promise<void>;
  deleteObject(bucket: string, key: string): Promise<void>;
  /** Every file under dataDir and versionsDir, relative path → content (what the disk holds). */
  rawFiles(): Record<string, Buffer>;
  stop(): Promise<void>;
}

export class S3Error extends Error {
  constructor(message: string, readonly status = 0) { super(message); }
}

/** The versitygw build (cached after the first, cold one); `error` when it cannot be had here. */
export function versitygwBinDir(timeoutMs = 20 * 60_000): { dir?: string; error?: string; seconds: number } {
  const t0 = Date.now();
  const r = spawnSync("bash", [path.join(repo, "scripts", "toolchain", "versitygw.sh")], { encoding: "utf8", timeout: timeoutMs });
  const seconds = (Date.now() - t0) / 1000;
  if (r.status !== 0) return { error: `scripts/toolchain/versitygw.sh failed (${r.status ?? r.signal}): ${(r.stderr ?? "").trim().split("\n").slice(-3).join(" | ")}`, seconds };
  return { dir: r.stdout.trim().split("\n").pop(), seconds };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

// ---- SigV4 (path-style requests, unsigned-payload not used: the body's hash is signed) ----

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();
/** RFC 3986 encoding as SigV4 wants it (`/` kept in paths, encoded in query values). */
const uriEncode = (s: string, keepSlash: boolean) => {
  const e = encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return keepSlash ? e.replace(/%2F/g, "/") : e;
};

interface Creds { accessKey: string; secretKey: string; region: string; hostPort: string }

function s3Request(c: Creds, method: string, pathname: string, query: Record<string, string>, body = "", extraHeaders: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const payload = Buffer.from(body);
  const now = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const date = now.slice(0, 8);
  const canonicalUri = uriEncode(pathname, true);
  const canonicalQuery = Object.keys(query).sort().map((k) => `${uriEncode(k, false)}=${uriEncode(query[k], false)}`).join("&");
  const headers: Record<string, string> = {
    host: c.hostPort,
    "x-amz-content-sha256": sha256(payload),
    "x-amz-date": now,
    ...Object.fromEntries(Object.entries(extraHeaders).map(([k, v]) => [k.toLowerCase(), v])),
  };
  const names = Object.keys(headers).sort();
  const canonicalRequest = [method, canonicalUri, canonicalQuery, names.map((n) => `${n}:${headers[n].trim()}\n`).join(""), names.join(";"), headers["x-amz-content-sha256"]].join("\n");
  const scope = `${date}/${c.region}/s3/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", now, scope, sha256(canonicalRequest)].join("\n");
  const key = hmac(hmac(hmac(hmac(`AWS4${c.secretKey}`, date), c.region), "s3"), "aws4_request");
  const signature = createHmac("sha256", key).update(stringToSign).digest("hex");
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${c.accessKey}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
  const [hostname, port] = c.hostPort.split(":");
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port: Number(port), method, path: `${canonicalUri}${canonicalQuery ? `?${canonicalQuery}` : ""}`, headers: { ...headers, "content-length": String(payload.length) }, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("timeout", () => req.destroy(new S3Error(`${method} ${pathname}: timed out`)));
    req.on("error", reject);
    req.end(payload);
  });
}

const xmlValues = (xml: string, tag: string): string[] => [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))].map((m) => m[1]);
const xmlUnescape = (s: string) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, "&");

function check(r: { status: number; body: string }, what: string): void {
  if (r.status < 200 || r.status >= 300) {
    const code = xmlValues(r.body, "Code")[0] ?? "";
    const message = xmlValues(r.body, "Message")[0] ?? r.body.slice(0, 200);
    throw new S3Error(`${what}: HTTP ${r.status} ${code} ${message}`.trim(), r.status);
  }
}

export interface S3ServerOptions {
  /** scripts/toolchain/versitygw.sh's directory (versitygwBinDir().dir). */
  binDir: string;
  accessKey: string;
  secretKey: string;
  region?: string;
  /** Bucket versioning available (versitygw's --versioning-dir); createBucket then turns it on. */
  versioning?: boolean;
  /** Parent for the data and versions directories and the log; a fresh temp dir by default. */
  workDir?: string;
}

export async function startS3Server(opts: S3ServerOptions): Promise<S3Server> {
  const region = opts.region ?? "us-east-1";
  const work = opts.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "jhe-s3-"));
  const dataDir = path.join(work, "data");
  const versionsDir = opts.versioning ? path.join(work, "versions") : undefined;
  fs.mkdirSync(dataDir, { recursive: true });
  if (versionsDir) fs.mkdirSync(versionsDir, { recursive: true });
  const bin = path.join(opts.binDir, "versitygw");
  const version = /Version\s*:\s*(\S+)/.exec(spawnSync(bin, ["--version"], { encoding: "utf8" }).stdout ?? "")?.[1] ?? "unknown";
  const logFile = path.join(work, "versitygw.log");

  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 1; attempt <= 3 && !child; attempt++) {
    port = await freePort();
    const log = fs.openSync(logFile, "a");
    const args = ["--port", `127.0.0.1:${port}`, "--region", region, "--quiet", "--health", "/health", "posix", ...(versionsDir ? ["--versioning-dir", versionsDir] : []), dataDir];
    const proc = spawn(bin, args, {
      stdio: ["ignore", log, log],
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ROOT_ACCESS_KEY_ID: opts.accessKey, ROOT_SECRET_ACCESS_KEY: opts.secretKey },
    });
    fs.closeSync(log);
    let exited = false;
    proc.once("exit", () => (exited = true));
    const deadline = Date.now() + 20_000;
    while (!exited && Date.now() < deadline) {
      const up = await new Promise<boolean>((resolve) => {
        const req = http.get({ hostname: "127.0.0.1", port, path: "/health", timeout: 1000 }, (res) => { res.resume(); resolve(res.statusCode === 200); });
        req.on("error", () => resolve(false));
        req.on("timeout", () => { req.destroy(); resolve(false); });
      });
      if (up) { child = proc; break; }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!child && !exited) proc.kill("SIGKILL");
  }
  if (!child) throw new S3Error(`versitygw did not start; its log:\n${fs.readFileSync(logFile, "utf8").slice(-2000)}`);
  const proc = child;
  const hostPort = `127.0.0.1:${port}`;
  const creds: Creds = { accessKey: opts.accessKey, secretKey: opts.secretKey, region, hostPort };

  const server: S3Server = {
    hostPort, port, endpoint: `http://${hostPort}`, region, dataDir, versionsDir, version,
    async createBucket(bucket) {
      check(await s3Request(creds, "PUT", `/${bucket}`, {}), `CreateBucket ${bucket}`);
      if (versionsDir) {
        const body = '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>';
        const md5 = createHash("md5").update(body).digest("base64");
        check(await s3Request(creds, "PUT", `/${bucket}`, { versioning: "" }, body, { "content-md5": md5, "content-type": "application/xml" }), `PutBucketVersioning ${bucket}`);
        const got = await s3Request(creds, "GET", `/${bucket}`, { versioning: "" });
        check(got, `GetBucketVersioning ${bucket}`);
        if (xmlValues(got.body, "Status")[0] !== "Enabled") throw new S3Error(`versioning of ${bucket} is not on: ${got.body}`);
      }
    },
    async listObjects(bucket, prefix = "") {
      const out: S3Object[] = [];
      let token: string | undefined;
      do {
        const q: Record<string, string> = { "list-type": "2", prefix, ...(token ? { "continuation-token": token } : {}) };
        const r = await s3Request(creds, "GET", `/${bucket}`, q);
        check(r, `ListObjectsV2 ${bucket}/${prefix}`);
        for (const c of xmlValues(r.body, "Contents")) out.push({ key: xmlUnescape(xmlValues(c, "Key")[0]), size: Number(xmlValues(c, "Size")[0]) });
        token = xmlValues(r.body, "IsTruncated")[0] === "true" ? xmlUnescape(xmlValues(r.body, "NextContinuationToken")[0]) : undefined;
      } while (token);
      return out;
    },
    async listVersions(bucket, prefix = "") {
      const r = await s3Request(creds, "GET", `/${bucket}`, { versions: "", prefix, "max-keys": "1000" });
      check(r, `ListObjectVersions ${bucket}/${prefix}`);
      if (xmlValues(r.body, "IsTruncated")[0] === "true") throw new S3Error(`ListObjectVersions ${bucket}/${prefix}: more than 1000 entries (not paged here)`);
      const entries = (tag: string, deleteMarker: boolean) => xmlValues(r.body, tag).map((v) => ({
        key: xmlUnescape(xmlValues(v, "Key")[0]), versionId: xmlValues(v, "VersionId")[0], isLatest: xmlValues(v, "IsLatest")[0] === "true", deleteMarker,
      }));
      return [...entries("Version", false), ...entries("DeleteMarker", true)];
    },
    async getObject(bucket, key) {
      const r = await s3Request(creds, "GET", `/${bucket}/${key}`, {});
      check(r, `GetObject ${bucket}/${key}`);
      return r.body;
    },
    async putObject(bucket, key, body) {
      check(await s3Request(creds, "PUT", `/${bucket}/${key}`, {}, body), `PutObject ${bucket}/${key}`);
    },
    async deleteObject(bucket, key) {
      check(await s3Request(creds, "DELETE", `/${bucket}/${key}`, {}), `DeleteObject ${bucket}/${key}`);
    },
    rawFiles() {
      const out: Record<string, Buffer> = {};
      const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) walk(p);
          else if (e.isFile()) out[path.relative(work, p)] = fs.readFileSync(p);
        }
      };
      walk(dataDir);
      if (versionsDir) walk(versionsDir);
      return out;
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await gone;
      clearTimeout(timer);
      if (!opts.workDir) fs.rmSync(work, { recursive: true, force: true });
    },
  };
  return server;
}
