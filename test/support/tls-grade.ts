/**
 * An SSL Labs-style TLS grade from Debian's testssl (3.0.x, which has no rating of its own):
 * runs testssl against one domain at a given address and evaluates, from its JSON findings, each
 * criterion that decides an SSL Labs A+.
 *
 *   const g = await gradeTls({ host: "10.213.1.2", port: 443, servername: "hub.example.test",
 *                              caFile: "/tmp/pebble-root.pem" });
 *   // g.verdict === "A+" only when every criterion holds; otherwise g.explanation names the
 *   // failing ones, e.g. 'A (not A+): HSTS max-age >= 15552000 s: no Strict-Transport-Security header'
 *
 * testssl connects to `host` only (`--ip`), sends `servername` as SNI and Host, and makes no DNS
 * lookups of the domain (`--nodns none`). Its start-up probes of the local openssl (`s_client
 * -connect invalid.`) would still ask the machine's resolver; as root the run is put into a private
 * mount namespace whose /etc/resolv.conf names no server, so every lookup stays on loopback.
 *
 * Not graded: HSTS on error responses (checked elsewhere), revocation information (pebble's and,
 * since 2025, Let's Encrypt's certificates have no OCSP URL), BREACH (SSL Labs does not test it;
 * pass `breachDecides: true` to count it), security headers other than HSTS.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface TlsGradeOptions {
  /** IPv4 address to connect to (no DNS is used). */
  host: string;
  port?: number;
  /** The domain: SNI, Host header, and the name the certificate must match. */
  servername: string;
  /** PEM file of an extra trusted CA (e.g. pebble's issuing root); or give caPem. */
  caFile?: string;
  caPem?: string;
  /** Path whose response is checked for headers (HSTS, BREACH); default "/". */
  path?: string;
  /** Overall bound for the testssl run; default 240 s. */
  timeoutMs?: number;
  /** Count a BREACH finding against the A+ (SSL Labs does not); default false. */
  breachDecides?: boolean;
  /** Keep testssl's JSON and log in this directory (default: a temp dir, removed afterwards). */
  keepDir?: string;
  log?: (msg: string) => void;
}

/** Best grade SSL Labs could give by these criteria; "T" = not trusted, "M" = name mismatch. */
export type TlsVerdict = "A+" | "A" | "A-" | "B or worse" | "M" | "T";

export interface TlsCriterion {
  name: string;
  ok: boolean;
  detail: string;
  /** What SSL Labs does when this criterion fails (its cap). */
  capsAt: Exclude<TlsVerdict, "A+">;
}

export interface TestsslFinding {
  id: string;
  ip?: string;
  port?: string;
  severity: string;
  finding: string;
  cve?: string;
  cwe?: string;
}

export interface CipherLine {
  protocol: string;
  hexcode: string;
  name: string;
  kx: string;
  kxBits?: number;
  encryption: string;
  bits: number;
}

export interface TlsGrade {
  domain: string;
  host: string;
  port: number;
  verdict: TlsVerdict;
  /** One line: why the verdict is what it is. */
  explanation: string;
  criteria: TlsCriterion[];
  /** Observations that do not decide the grade (warnings, revocation info, BREACH if not graded). */
  notes: string[];
  ciphers: CipherLine[];
  findings: TestsslFinding[];
  /** testssl's wall time. */
  scanMs: number;
  command: string[];
}

export class TlsGradeError extends Error {}

const HSTS_MIN = 15_552_000; // 180 days: SSL Labs' A+ threshold
// Findings of `-U` (testssl 3.0.x) and the renegotiation/fallback ones it reports there too.
const VULN_IDS = new Set([
  "heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego", "CRIME_TLS",
  "BREACH", "POODLE_SSL", "POODLE_TLS", "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "DROWN_hint",
  "LOGJAM", "LOGJAM-common_primes", "BEAST", "LUCKY13", "RC4", "winshock", "GREASE",
]);
const VERDICT_ORDER: TlsVerdict[] = ["A+", "A", "A-", "B or worse", "M", "T"];

function which(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** Installs testssl.sh and dnsutils (testssl refuses to start without dig/host/nslookup) if missing. */
export function ensureTestssl(log: (m: string) => void = () => {}): void {
  if (which("testssl") && (which("dig") || which("host") || which("nslookup"))) return;
  if (process.getuid?.() !== 0) throw new TlsGradeError("testssl or dig missing: apt-get install testssl.sh dnsutils (as root)");
  log("installing testssl.sh dnsutils");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "testssl.sh", "dnsutils"],
    { env, encoding: "utf8", timeout: 600_000 });
  let r = install();
  if (r.status !== 0) {
    spawnSync("apt-get", ["update"], { env, stdio: "ignore", timeout: 600_000 });
    r = install();
  }
  if (r.status !== 0) throw new TlsGradeError(`apt-get install testssl.sh dnsutils failed:\n${(r.stderr ?? "").slice(-2000)}`);
}

function findingsOf(list: TestsslFinding[], base: string): TestsslFinding[] {
  // Servers with several certificates get ids like "cert_keySize <cert#1>".
  return list.filter((f) => f.id === base || f.id.startsWith(`${base} <`));
}

export function parseCipherLine(finding: string): CipherLine | undefined {
  const t = finding.trim().split(/\s+/);
  let i = 0;
  let protocol: string;
  if (t[0] === "TLS" && t.length > 1) {
    protocol = `TLS ${t[1]}`;
    i = 2;
  } else {
    protocol = t[0];
    i = 1;
  }
  const hexcode = t[i];
  const name = t[i + 1];
  const kx = t[i + 2];
  if (!hexcode || !name || !kx) return undefined;
  let j = i + 3;
  let kxBits: number | undefined;
  if (/^\d+$/.test(t[j] ?? "")) {
    kxBits = Number(t[j]);
    j++;
  }
  const encryption = t[j];
  const bits = parseInt(t[j + 1] ?? "", 10);
  if (!encryption || Number.isNaN(bits)) return undefined;
  return { protocol, hexcode, name, kx, kxBits, encryption, bits };
}

/** Evaluates the criteria from testssl's flat JSON findings (exported for unit tests). */
export function evaluate(findings: TestsslFinding[], opts: { breachDecides?: boolean } = {}):
  { criteria: TlsCriterion[]; notes: string[]; ciphers: CipherLine[] } {
  const criteria: TlsCriterion[] = [];
  const notes: string[] = [];
  const one = (id: string) => findingsOf(findings, id)[0];
  const add = (name: string, ok: boolean, detail: string, capsAt: TlsCriterion["capsAt"]) =>
    criteria.push({ name, ok, detail, capsAt });

  // Protocols.
  const old = ["SSLv2", "SSLv3", "TLS1", "TLS1_1"].map((id) => ({ id, f: one(id) }));
  const oldOffered = old.filter((o) => !o.f || !/^not offered/i.test(o.f.finding));
  add("only TLS 1.2 and 1.3 offered", oldOffered.length === 0,
    oldOffered.length === 0 ? "SSLv2, SSLv3, TLS 1.0, TLS 1.1 not offered"
      : oldOffered.map((o) => `${o.id}: ${o.f ? o.f.finding : "not tested"}`).join("; "),
    "B or worse");
  const t13 = one("TLS1_3");
  add("TLS 1.3 offered", !!t13 && /^offered/i.test(t13.finding), t13 ? `TLS1_3: ${t13.finding}` : "TLS1_3 not tested",
    "A-");

  // Ciphers (from -E).
  const ciphers: CipherLine[] = [];
  const unparsed: string[] = [];
  for (const f of findings.filter((x) => x.id.startsWith("cipher-"))) {
    const c = parseCipherLine(f.finding);
    if (c) ciphers.push(c);
    else unparsed.push(f.finding);
  }
  if (unparsed.length) notes.push(`unparsed cipher lines: ${unparsed.join(" | ")}`);
  const fsKx = (kx: string) => kx === "ECDH" || kx === "DH"; // ephemeral; "ECDH/RSA", "RSA", "PSK"... are not
  const noFs = ciphers.filter((c) => !fsKx(c.kx));
  const pfs = one("PFS");
  add("forward secrecy for all ciphers",
    ciphers.length > 0 && noFs.length === 0 && !!pfs && pfs.severity === "OK",
    ciphers.length === 0 ? "no cipher list from testssl -E"
      : noFs.length ? `without FS: ${noFs.map((c) => `${c.name} (${c.protocol}, kx ${c.kx})`).join(", ")}`
        : `all ${ciphers.length} ciphers use ECDHE/DHE; PFS: ${pfs ? pfs.finding : "not tested"}`,
    "A");
  const weak = ciphers.filter((c) => c.bits < 128);
  add("no cipher under 128 bits", ciphers.length > 0 && weak.length === 0,
    ciphers.length === 0 ? "no cipher list from testssl -E"
      : weak.length ? `weak: ${weak.map((c) => `${c.name} ${c.bits} bits`).join(", ")}`
        : `weakest: ${Math.min(...ciphers.map((c) => c.bits))} bits`,
    "B or worse");
  const weakKx = ciphers.filter((c) => c.kxBits !== undefined &&
    ((c.kx === "DH" && c.kxBits < 2048) || (c.kx === "ECDH" && c.kxBits < 224)));
  add("key exchange >= 2048-bit DH / >= 224-bit ECDH", weakKx.length === 0,
    weakKx.length ? weakKx.map((c) => `${c.name} ${c.kx} ${c.kxBits}`).join(", ")
      : `kx: ${[...new Set(ciphers.map((c) => `${c.kx}${c.kxBits ? " " + c.kxBits : ""}`))].join(", ") || "none listed"}`,
    "B or worse");

  // Certificate(s).
  const keySizes = findingsOf(findings, "cert_keySize");
  const badKeys = keySizes.filter((f) => {
    const m = /^(RSA|EC|ECDSA|DSA|DH|EdDSA|Ed25519|Ed448)\S*\s+(\d+)\s*bits/i.exec(f.finding);
    if (!m) return true;
    const bits = Number(m[2]);
    const alg = m[1].toUpperCase();
    if (alg === "RSA") return bits < 2048;
    if (alg.startsWith("EC")) return bits < 256;
    if (alg.startsWith("ED")) return false;
    return true; // DSA/DH certificates: not acceptable
  });
  add("certificate key >= 2048-bit RSA / >= 256-bit EC", keySizes.length > 0 && badKeys.length === 0,
    keySizes.length ? keySizes.map((f) => f.finding).join("; ") : "cert_keySize not reported", "B or worse");
  const chains = findingsOf(findings, "cert_chain_of_trust");
  add("chain of trust OK", chains.length > 0 && chains.every((f) => f.severity === "OK"),
    chains.length ? chains.map((f) => `${f.finding} (${f.severity})`).join("; ") : "cert_chain_of_trust not reported", "T");
  const trust = findingsOf(findings, "cert_trust");
  add("certificate matches the domain", trust.length > 0 && trust.every((f) => f.severity === "OK" || f.severity === "INFO") &&
    trust.every((f) => /^ok/i.test(f.finding)),
  trust.length ? trust.map((f) => f.finding).join("; ") : "cert_trust not reported", "M");
  const exp = findingsOf(findings, "cert_expirationStatus");
  add("certificate within its validity period", exp.length > 0 && exp.every((f) => f.severity === "OK" || f.severity === "INFO"),
    exp.length ? exp.map((f) => `${f.finding} (${f.severity})`).join("; ") : "cert_expirationStatus not reported", "T");
  const sig = findingsOf(findings, "cert_signatureAlgorithm");
  add("certificate signature SHA-256 or better", sig.length > 0 && sig.every((f) => !/(MD5|MD2|SHA1\b|SHA-1)/i.test(f.finding)),
    sig.length ? sig.map((f) => f.finding).join("; ") : "cert_signatureAlgorithm not reported", "T");

  // HSTS.
  const hstsTime = one("HSTS_time");
  const hsts = one("HSTS");
  const secs = hstsTime ? /=\s*(\d+)\s*seconds/.exec(hstsTime.finding) : null;
  add(`HSTS max-age >= ${HSTS_MIN} s`, !!secs && Number(secs[1]) >= HSTS_MIN,
    hstsTime ? `max-age ${secs ? secs[1] : "?"} s (${hstsTime.finding})`
      : hsts ? `no usable Strict-Transport-Security header: ${hsts.finding}` : "HSTS not reported (no HTTP response?)",
    "A");

  // Vulnerabilities.
  const vulns = findings.filter((f) => VULN_IDS.has(f.id) || VULN_IDS.has(f.id.replace(/_CBC_.*$/, "")) || (!!f.cve && !f.id.startsWith("cert")));
  const flagged = vulns.filter((f) => f.severity !== "OK" && f.severity !== "INFO");
  const graded = flagged.filter((f) => opts.breachDecides || f.id !== "BREACH");
  for (const f of flagged.filter((x) => !graded.includes(x))) notes.push(`not graded: ${f.id} ${f.severity}: ${f.finding}`);
  add("no vulnerability flagged", vulns.length > 0 && graded.length === 0,
    vulns.length === 0 ? "no vulnerability findings (was -U run?)"
      : graded.length ? graded.map((f) => `${f.id} ${f.severity}: ${f.finding}`).join("; ")
        : `${vulns.length} checks OK/INFO`,
    "B or worse");

  // Not graded, but worth seeing.
  for (const f of findings) {
    // engine_problem: the local openssl has no GOST engine; says nothing about the server.
    if ((f.severity === "WARN" || f.severity === "FATAL") && f.id !== "engine_problem") notes.push(`testssl ${f.severity}: ${f.id}: ${f.finding}`);
  }
  const rev = one("cert_revocation");
  if (rev && rev.severity !== "OK" && rev.severity !== "INFO") notes.push(`not graded: cert_revocation ${rev.severity}: ${rev.finding}`);
  return { criteria, notes, ciphers };
}

export function verdictOf(criteria: TlsCriterion[]): { verdict: TlsVerdict; explanation: string } {
  const failed = criteria.filter((c) => !c.ok);
  if (!failed.length) return { verdict: "A+", explanation: `A+: all ${criteria.length} criteria hold` };
  const verdict = failed.map((c) => c.capsAt).reduce<TlsVerdict>(
    (worst, cap) => (VERDICT_ORDER.indexOf(cap) > VERDICT_ORDER.indexOf(worst) ? cap : worst), "A");
  const why = failed.map((c) => `${c.name}: ${c.detail}`).join("; ");
  return { verdict, explanation: `${verdict} (not A+): ${why}` };
}

function runTestssl(args: string[], timeoutMs: number, isolateDns: boolean, resolvConf: string):
  Promise<{ code: number | null; out: string; timedOut: boolean }> {
  // As root: a private mount namespace whose /etc/resolv.conf names no server (glibc then asks
  // 127.0.0.1), so testssl's local openssl probes never reach the machine's resolver.
  const [cmd, cmdArgs] = isolateDns
    ? ["unshare", ["--mount", "--propagation", "private", "--", "sh", "-c",
      // Without /etc/resolv.conf (mount fails) glibc asks 127.0.0.1 anyway.
      'mount --bind "$0" /etc/resolv.conf 2>/dev/null || echo "tls-grade: resolv.conf not replaced" >&2; exec testssl "$@"',
      resolvConf, ...args]]
    : ["testssl", args];
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs as string[], {
      stdio: ["ignore", "pipe", "pipe"], detached: true,
      env: { ...process.env, TERM: "dumb", COLUMNS: "200" },
    });
    let out = "";
    const take = (b: Buffer) => { out = (out + b.toString("utf8")).slice(-200_000); };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid!, "SIGKILL"); } catch { /* gone */ }
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, timedOut });
    });
  });
}

export async function gradeTls(opts: TlsGradeOptions): Promise<TlsGrade> {
  const log = opts.log ?? (() => {});
  const port = opts.port ?? 443;
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(opts.host)) throw new TlsGradeError(`host must be an IPv4 address: ${opts.host}`);
  if (!/^[A-Za-z0-9.-]+$/.test(opts.servername)) throw new TlsGradeError(`bad servername: ${opts.servername}`);
  ensureTestssl(log);
  const dir = opts.keepDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "jhe-tls-grade-"));
  fs.mkdirSync(dir, { recursive: true });
  try {
    let caFile = opts.caFile;
    if (!caFile && opts.caPem) {
      caFile = path.join(dir, "extra-ca.pem");
      fs.writeFileSync(caFile, opts.caPem);
    }
    const resolvConf = path.join(dir, "resolv.conf");
    fs.writeFileSync(resolvConf, "# tls-grade: no nameserver (lookups go to 127.0.0.1 and fail fast)\n");
    const jsonFile = path.join(dir, `${opts.servername}-${port}.json`);
    fs.rmSync(jsonFile, { force: true });
    const urlPath = opts.path ?? "/";
    const args = [
      "--quiet", "--color", "0", "--warnings", "batch", "--nodns", "none", "--ip", opts.host,
      "--connect-timeout", "5", "--openssl-timeout", "5",
      ...(caFile ? ["--add-ca", path.resolve(caFile)] : []),
      "--jsonfile", jsonFile,
      "-p", "-f", "-E", "-S", "-h", "-U",
      `https://${opts.servername}:${port}${urlPath.startsWith("/") ? urlPath : "/" + urlPath}`,
    ];
    const isolateDns = process.getuid?.() === 0 && which("unshare");
    log(`testssl ${args.join(" ")}${isolateDns ? " (resolver isolated)" : ""}`);
    const t0 = Date.now();
    const r = await runTestssl(args, opts.timeoutMs ?? 240_000, isolateDns, resolvConf);
    const scanMs = Date.now() - t0;
    fs.writeFileSync(path.join(dir, `${opts.servername}-${port}.log`), r.out);
    if (r.timedOut) throw new TlsGradeError(`testssl did not finish within ${opts.timeoutMs ?? 240_000} ms:\n${r.out.slice(-2000)}`);
    if (!fs.existsSync(jsonFile)) throw new TlsGradeError(`testssl wrote no JSON (exit ${r.code}):\n${r.out.slice(-3000)}`);
    const findings = JSON.parse(fs.readFileSync(jsonFile, "utf8")) as TestsslFinding[];
    const fatal = findings.filter((f) => f.severity === "FATAL" || f.id === "scanProblem");
    if (fatal.length) {
      throw new TlsGradeError(`testssl could not scan ${opts.servername} at ${opts.host}:${port}: ` +
        `${fatal.map((f) => `${f.id}: ${f.finding}`).join("; ")}\n${r.out.slice(-2000)}`);
    }
    const { criteria, notes, ciphers } = evaluate(findings, { breachDecides: opts.breachDecides });
    const { verdict, explanation } = verdictOf(criteria);
    log(`${opts.servername}: ${explanation} (${(scanMs / 1000).toFixed(1)} s)`);
    return { domain: opts.servername, host: opts.host, port, verdict, explanation, criteria, notes, ciphers, findings, scanMs,
      command: ["testssl", ...args] };
  } finally {
    if (!opts.keepDir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A readable table of a grade, for test failure messages and logs. */
export function formatGrade(g: TlsGrade): string {
  const lines = [`${g.domain} at ${g.host}:${g.port}: ${g.verdict} (scan ${(g.scanMs / 1000).toFixed(1)} s)`];
  for (const c of g.criteria) lines.push(`  [${c.ok ? "ok" : "FAIL"}] ${c.name}: ${c.detail}${c.ok ? "" : ` (caps at ${c.capsAt})`}`);
  for (const n of g.notes) lines.push(`  note: ${n}`);
  if (g.verdict !== "A+") lines.push(`  => ${g.explanation}`);
  return lines.join("\n");
}
