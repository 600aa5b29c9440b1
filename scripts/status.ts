/**
 * The workshop-day status board: every server of a stack asked at once, over SSH, for what the
 * organiser needs to know at 8:45 — proxy up and its config test passing, hub healthy, days left on
 * each certificate, open websockets, split auth, and whether anything the program manages was
 * changed by hand (drift). A table in the terminal, `--json` for machines, and a self-contained
 * HTML page for the browser.
 *
 *   npm run status -- --stack workshop [--json] [--html status.html] [--timeout 8]
 *
 * Read-only, one SSH session per server: the facts come from scripts/status/host-status.sh, and
 * drift from the drift watch's own probe (scripts/status/drift-probe.sh, run in the same session)
 * over the items steps/drift.ts computes from the plan's payloads, exactly what `pulumi preview
 * --refresh` checks: every managed file (secret ones: only that they changed), the hub's managed
 * block, packages, units, SELinux. It takes no lock on the server and every probe is bounded, so an
 * unreachable or sick server is reported as such, never waited on.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LoadedHost, LoadedStack, loadStackFromStrings } from "../config/fleet";
import { CONFIG_NAMESPACE } from "../config/keys";
import { SiteSpec, allSites, hubUrl } from "../model/site";
import { proxyConfigTest } from "../model/platforms";
import { Step, hubHealthUrl, planSteps } from "../steps/plan";
import { SERVER_STATE_TYPE, WatchedStep, driftOf, parseProbeOutput, probeRequest, watchPlan } from "../steps/drift";
import { sshSession } from "./ssh-session";

/** Fewer days than this on a certificate is a warning (Let's Encrypt renews at 30 days left). */
export const CERTIFICATE_WARNING_DAYS = 14;

export interface CertificateStatus {
  domain: string;
  /** Whole days until it expires (negative: expired); null when missing or unreadable. */
  daysLeft: number | null;
  problem?: string;
}

export interface ServerStatus {
  name: string;
  host: string;
  url: string;
  reachable: boolean;
  /** Why the server could not be asked (unreachable, SSH refused, no answer in time). */
  error?: string;
  proxy?: { unit: string; active: string; configTest: string };
  hub?: { unit: string; active: string; healthy: boolean };
  certificates: CertificateStatus[];
  /** Open connections to the hub's port: the users' websockets (and requests in flight). */
  websockets?: number;
  splitAuth: "off" | "on" | "missing";
  /** Managed items that differ from what the program put there (as `pulumi preview --refresh` names them). */
  drift: DriftEntry[];
  /** Why drift is not known (the probe did not finish in time); absent when it is. */
  driftError?: string;
  /** How long the server took to answer, in ms. */
  ms: number;
  verdict: "ok" | "warning" | "down";
}

/** One drifted item: the drift watch's key (`<step>: <item>`) and a one-line summary of what differs. */
export interface DriftEntry {
  item: string;
  what: string;
}

/**
 * Payloads of secret steps by step name (the TLS keys, the split-auth password file, the DNS-01
 * credentials): the model cannot render them (keys and password hashes are made by `pulumi up`),
 * so they come from what the stack last applied (deployedSecretPayloads). A secret step without
 * one is not watched by the board.
 */
export type SecretPayloads = Record<string, string>;

/** Stands for a secret payload the board does not have. */
const UNKNOWN = Symbol("unknown secret payload");

/** What the board's drift probe looks at for one server: the plan's watch, as the drift resource computes it. */
export function boardWatch(site: SiteSpec, user: string, secrets: SecretPayloads = {}): WatchedStep[] {
  const steps = planSteps<typeof UNKNOWN>(site, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN).map((s): Step<string | typeof UNKNOWN> =>
    s.secret && secrets[s.name] !== undefined ? { ...s, payload: secrets[s.name] } : s,
  );
  return watchPlan(steps.filter((s): s is Step<string> => typeof s.payload === "string"), user);
}

/**
 * The secret steps' payloads each server's drift resource recorded at the last `up`, from
 * `pulumi stack export --show-secrets`: {server name → {step → payload}}. Its `steps` input is the
 * watch steps/drift.ts computed from the very payloads applied. Servers are named as in the stack
 * (single-host stacks: "edge"); the resource is `edge-drift` or `edge-<name>-drift`.
 */
export function deployedSecretPayloads(exported: unknown, stack: LoadedStack): Record<string, SecretPayloads> {
  const plain = (v: unknown): unknown => {
    if (v && typeof v === "object" && "plaintext" in v) return plain(JSON.parse((v as { plaintext: string }).plaintext));
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
    return v;
  };
  const resources = ((exported as { deployment?: { resources?: unknown[] } })?.deployment?.resources ?? []) as { urn: string; type: string; inputs?: Record<string, unknown> }[];
  const out: Record<string, SecretPayloads> = {};
  for (const h of stack.hosts) {
    const resourceName = stack.implicit ? "edge-drift" : `edge-${h.name}-drift`;
    const r = resources.find((x) => x.type === SERVER_STATE_TYPE && x.urn.endsWith(`::${resourceName}`));
    const steps = (plain(r?.inputs?.steps) ?? []) as WatchedStep[];
    out[h.name] = Object.fromEntries(steps.map((s) => [s.name, s.payload]));
  }
  return out;
}

/** What host-status.sh reads: the facts to check, from the model; the drift probe follows it. */
export function statusPayload(site: SiteSpec): string {
  const facts = site.proxy === "nginx" ? site.platform.nginx : site.platform.apache;
  // The same argv the steps' config test runs (model/platforms.ts), as words.
  const configTest = proxyConfigTest(site.platform, site.proxy).join(" ");
  const health = hubHealthUrl(site);
  const lines = [`proxy ${facts.service}`, `config_test ${configTest}`];
  if (site.hubConfig.manage) lines.push(`hub ${site.hubConfig.service}`);
  lines.push(`health ${health.url}${health.socket ? ` ${health.socket}` : ""}`);
  for (const s of allSites(site)) lines.push(`cert ${s.domain} ${s.tls.certificateFile}`);
  if (site.hub.upstream.kind === "tcp") {
    const url = new URL(site.hub.upstream.origin);
    lines.push(`upstream ${url.port || "80"}`);
  }
  if (site.splitAuth) lines.push(`split_auth ${site.splitAuth.userFile}`);
  lines.push("drift_probe");
  return lines.join("\n") + "\n";
}

/**
 * One line for the board: the drift watch's own words, and for a plain file's diff only how many
 * lines changed (`pulumi preview --refresh` shows the diff; a secret file never has one).
 */
export function driftSummary(value: string | string[]): string {
  if (!Array.isArray(value)) return value;
  const [what, ...diff] = value;
  const body = diff.filter((l) => !l.startsWith("--- ") && !l.startsWith("+++ "));
  const added = body.filter((l) => l.startsWith("+")).length;
  const removed = body.filter((l) => l.startsWith("-")).length;
  return diff.length ? `${what} (+${added}/-${removed} lines)` : what;
}

/** The drift probe's answer (between host-status.sh's markers) → the drifted items, or why not known. */
function driftFrom(watch: WatchedStep[], output: string): { drift: DriftEntry[]; error?: string } {
  const lines = output.split("\n");
  const begin = lines.indexOf("drift_probe begin");
  const end = lines.findIndex((l) => l.startsWith("drift_probe end "));
  if (begin < 0 || end < begin) return { drift: [], error: "the drift probe did not finish" };
  const found = parseProbeOutput(lines.slice(begin + 1, end).join("\n"));
  return { drift: Object.entries(driftOf(watch, found)).map(([item, v]) => ({ item, what: driftSummary(v) })) };
}

/** host-status.sh's `key value…` lines and the drift probe's answer → the status of one server. */
export function parseStatus(host: LoadedHost, output: string, ms: number, watch: WatchedStep[] = []): ServerStatus {
  const site = host.site;
  const facts = site.proxy === "nginx" ? site.platform.nginx : site.platform.apache;
  const status: ServerStatus = {
    name: host.name,
    host: host.connection.host,
    url: hubUrl(site),
    reachable: false,
    certificates: [],
    splitAuth: site.splitAuth ? "missing" : "off",
    drift: [],
    ms,
    verdict: "down",
  };
  let hubActive = "unknown";
  let healthy = false;
  let proxyActive = "unknown";
  let configTest = "unknown";
  for (const line of output.split("\n")) {
    const [key, ...rest] = line.split(" ");
    const value = rest.join(" ");
    switch (key) {
      case "reachable": status.reachable = true; break;
      case "proxy_active": proxyActive = value || "unknown"; break;
      case "config_test": configTest = value; break;
      case "hub_active": hubActive = value || "unknown"; break;
      case "hub_health": healthy = value === "ok"; break;
      case "cert": {
        const [domain, days] = rest;
        const n = /^-?\d+$/.test(days ?? "") ? Number(days) : null;
        status.certificates.push({ domain, daysLeft: n, ...(n === null ? { problem: days } : {}) });
        break;
      }
      case "websockets": status.websockets = Number(value); break;
      case "split_auth": status.splitAuth = value === "on" ? "on" : "missing"; break;
    }
  }
  if (!status.reachable) {
    status.error = "no answer";
    return status;
  }
  const drift = driftFrom(watch, output);
  status.drift = drift.drift;
  if (drift.error) status.driftError = drift.error;
  status.proxy = { unit: facts.service, active: proxyActive, configTest };
  status.hub = { unit: site.hubConfig.service, active: hubActive, healthy };
  status.verdict = verdictOf(status);
  return status;
}

function verdictOf(s: ServerStatus): ServerStatus["verdict"] {
  if (!s.reachable || s.proxy?.active !== "active" || !s.hub?.healthy) return "down";
  const certBad = s.certificates.some((c) => c.daysLeft === null || c.daysLeft < CERTIFICATE_WARNING_DAYS);
  if (s.proxy.configTest !== "ok" || certBad || s.drift.length > 0 || s.driftError || s.splitAuth === "missing") return "warning";
  return "ok";
}

const script = (name: string) => fs.readFileSync(path.join(__dirname, "status", name), "utf8");

/**
 * Asks one server in one SSH session: host-status.sh with its payload, then the drift probe with
 * its request. Never takes longer than `timeoutMs`. `keyFile`: its SSH private key.
 */
export async function probeServer(host: LoadedHost, keyFile: string, timeoutMs: number, secrets: SecretPayloads = {}): Promise<ServerStatus> {
  const started = Date.now();
  const c = host.connection;
  const watch = boardWatch(host.site, c.user, secrets);
  const stdin = `${script("host-status.sh")}\n${statusPayload(host.site)}${script("drift-probe.sh")}\n${probeRequest(watch)}`;
  const r = await sshSession(c, keyFile, c.user === "root" ? "bash -s" : "sudo -n bash -s", stdin, timeoutMs);
  const status = parseStatus(host, r.stdout, Date.now() - started, watch);
  if (status.driftError && r.timedOut) status.driftError = `not known: no answer within ${Math.round(timeoutMs / 1000)} s`;
  if (!status.reachable) {
    const said = r.stderr.trim().split("\n").filter(Boolean).pop();
    status.error = r.timedOut ? `no answer within ${Math.round(timeoutMs / 1000)} s` : `unreachable${said ? `: ${said.slice(0, 200)}` : ""}`;
  }
  return status;
}

/**
 * Every server of the stack at once. `keyFor` gives each server's SSH private key (PEM text);
 * `secretsFor` the payloads of its secret steps, when known (deployedSecretPayloads).
 */
export async function collectStatus(
  stack: LoadedStack,
  keyFor: (host: LoadedHost) => string,
  timeoutMs = 8000,
  secretsFor: (host: LoadedHost) => SecretPayloads = () => ({}),
): Promise<ServerStatus[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-status-keys-"));
  try {
    return await Promise.all(
      stack.hosts.map((h, i) => {
        const keyFile = path.join(dir, `key-${i}`);
        fs.writeFileSync(keyFile, keyFor(h).replace(/\n?$/, "\n"), { mode: 0o600 });
        return probeServer(h, keyFile, timeoutMs, secretsFor(h));
      }),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function certificateSummary(s: ServerStatus): string {
  if (!s.certificates.length) return "-";
  const worst = [...s.certificates].sort((a, b) => (a.daysLeft ?? -1e9) - (b.daysLeft ?? -1e9))[0];
  const shown = worst.daysLeft === null ? `${worst.domain} ${worst.problem ?? "missing"}` : `${worst.daysLeft} d`;
  return worst.daysLeft !== null && worst.daysLeft < CERTIFICATE_WARNING_DAYS ? `${shown} (!)` : shown;
}

/** One row per server, for the terminal. */
export function formatTable(statuses: ServerStatus[]): string {
  const header = ["SERVER", "STATUS", "PROXY", "CONFIG TEST", "HUB", "CERT (least)", "WEBSOCKETS", "SPLIT AUTH", "DRIFT", "ASKED IN"];
  const rows = statuses.map((s) =>
    s.reachable
      ? [
          s.name, s.verdict.toUpperCase(), s.proxy!.active, s.proxy!.configTest === "ok" ? "ok" : "FAILED",
          s.hub!.healthy ? "healthy" : `DOWN (${s.hub!.active})`, certificateSummary(s), String(s.websockets ?? "-"), s.splitAuth,
          s.drift.length ? `yes (${s.drift.length})` : s.driftError ? "unknown" : "no", `${(s.ms / 1000).toFixed(1)} s`,
        ]
      : [s.name, "UNREACHABLE", "-", "-", "-", "-", "-", "-", "-", `${(s.ms / 1000).toFixed(1)} s`],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  const details = statuses.flatMap((s) => [
    ...(s.error ? [`${s.name}: ${s.error}`] : []),
    ...(s.proxy && s.proxy.configTest !== "ok" ? [`${s.name}: config test: ${s.proxy.configTest}`] : []),
    ...(s.driftError ? [`${s.name}: drift ${s.driftError}`] : []),
    ...s.drift.map((d) => `${s.name}: drift: ${d.item}: ${d.what}`),
    ...s.certificates.filter((c) => c.daysLeft === null || c.daysLeft < CERTIFICATE_WARNING_DAYS).map((c) => `${s.name}: certificate ${c.domain}: ${c.daysLeft === null ? c.problem ?? "missing" : `${c.daysLeft} days left`}`),
  ]);
  const hint = statuses.some((s) => s.drift.length) ? ["", "Drift in full (diffs): pulumi preview --refresh; put back: pulumi up --refresh"] : [];
  return [line(header), ...rows.map(line), ...(details.length ? ["", ...details] : []), ...hint].join("\n") + "\n";
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The same facts as a self-contained page (no scripts, no external resources). */
export function renderHtml(statuses: ServerStatus[], title: string, at = new Date()): string {
  const cell = (text: string, cls = "") => `<td${cls ? ` class="${cls}"` : ""}>${escapeHtml(text)}</td>`;
  const rows = statuses
    .map((s) => {
      if (!s.reachable) {
        return `<tr class="down">${cell(s.name)}${cell("unreachable", "bad")}<td colspan="7">${escapeHtml(s.error ?? "")}</td>${cell(`${(s.ms / 1000).toFixed(1)} s`)}</tr>`;
      }
      const certs = s.certificates.map((c) => `${c.domain}: ${c.daysLeft === null ? c.problem ?? "missing" : `${c.daysLeft} d`}`).join("\n");
      const certBad = s.certificates.some((c) => c.daysLeft === null || c.daysLeft < CERTIFICATE_WARNING_DAYS);
      return (
        `<tr class="${s.verdict}">` +
        cell(s.name) + cell(s.verdict, s.verdict === "ok" ? "good" : s.verdict === "warning" ? "warn" : "bad") +
        cell(s.proxy!.active, s.proxy!.active === "active" ? "good" : "bad") +
        cell(s.proxy!.configTest, s.proxy!.configTest === "ok" ? "good" : "bad") +
        cell(s.hub!.healthy ? "healthy" : `down (${s.hub!.active})`, s.hub!.healthy ? "good" : "bad") +
        `<td class="${certBad ? "warn" : "good"}"><pre>${escapeHtml(certs || "-")}</pre></td>` +
        cell(String(s.websockets ?? "-")) +
        cell(s.splitAuth, s.splitAuth === "missing" ? "bad" : "") +
        (s.drift.length || s.driftError
          ? `<td class="warn"><pre>${escapeHtml([...s.drift.map((d) => `${d.item}: ${d.what}`), ...(s.driftError ? [`drift ${s.driftError}`] : [])].join("\n"))}</pre></td>`
          : `<td class="good">no</td>`) +
        cell(`${(s.ms / 1000).toFixed(1)} s`) +
        "</tr>"
      );
    })
    .join("\n");
  const counts = (["ok", "warning", "down"] as const).map((v) => `${statuses.filter((s) => s.verdict === v).length} ${v}`).join(" · ");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font:15px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.4em .7em;text-align:left;vertical-align:top}
th{background:#eee}pre{margin:0;font:13px ui-monospace,monospace}
.good{background:#e3f6e3}.warn{background:#fff3cd}.bad{background:#f8d7da;font-weight:bold}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(counts)} — asked at ${escapeHtml(at.toISOString().replace("T", " ").slice(0, 19))} UTC</p>
<table>
<tr><th>server</th><th>status</th><th>proxy</th><th>config test</th><th>hub</th><th>certificates (days left)</th><th>websockets</th><th>split auth</th><th>drift</th><th>asked in</th></tr>
${rows}
</table>
</body></html>
`;
}

/** `pulumi <command…> --stack NAME --show-secrets --cwd DIR` → its JSON. */
function pulumiJson(command: string[], stackName: string, cwd: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile("pulumi", [...command, "--stack", stackName, "--show-secrets", "--cwd", cwd], { maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`pulumi ${command.join(" ")} --stack ${stackName} failed: ${String(stderr).trim() || err.message}`));
      resolve(JSON.parse(stdout));
    });
  });
}

/** The stack's config strings (namespace stripped), decrypted, through the Pulumi CLI. */
async function stackConfig(stackName: string, cwd: string): Promise<Record<string, string>> {
  const doc = (await pulumiJson(["config", "--json"], stackName, cwd)) as Record<string, { value?: unknown }>;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (!k.startsWith(`${CONFIG_NAMESPACE}:`) || v.value === undefined) continue;
    out[k.slice(CONFIG_NAMESPACE.length + 1)] = typeof v.value === "string" ? v.value : JSON.stringify(v.value);
  }
  return out;
}

/** Each server's SSH key: its key file, or the stack's secret sshPrivateKey. */
export function keyReader(strings: Record<string, string>, baseDir: string): (h: LoadedHost) => string {
  return (h) => (h.connection.privateKeyFile ? fs.readFileSync(path.resolve(baseDir, h.connection.privateKeyFile), "utf8") : strings.sshPrivateKey ?? "");
}

async function main(argv: string[]): Promise<number> {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const stackName = arg("--stack");
  if (!stackName) {
    process.stderr.write("usage: npm run status -- --stack NAME [--json] [--html FILE] [--timeout SECONDS] [--cwd PROJECT_DIR]\n");
    return 2;
  }
  const cwd = path.resolve(arg("--cwd") ?? process.cwd());
  const [strings, exported] = await Promise.all([
    stackConfig(stackName, cwd),
    // The secret steps' payloads as last applied; without them the board watches everything else.
    pulumiJson(["stack", "export"], stackName, cwd).catch((e: Error) => {
      process.stderr.write(`status: secret files not watched (${e.message.split("\n")[0]})\n`);
      return {};
    }),
  ]);
  const stack = loadStackFromStrings(strings, undefined, cwd);
  const secrets = deployedSecretPayloads(exported, stack);
  const statuses = await collectStatus(stack, keyReader(strings, cwd), Number(arg("--timeout") ?? 8) * 1000, (h) => secrets[h.name] ?? {});
  if (argv.includes("--json")) process.stdout.write(JSON.stringify(statuses, null, 2) + "\n");
  else process.stdout.write(formatTable(statuses));
  const html = arg("--html") ?? path.join(cwd, `status-${stackName}.html`);
  fs.writeFileSync(html, renderHtml(statuses, `jupyterhub-edge status: ${stackName}`));
  if (!argv.includes("--json")) process.stdout.write(`\nHTML: ${html}\n`);
  return statuses.every((s) => s.verdict === "ok") ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`status: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(2);
    },
  );
}
