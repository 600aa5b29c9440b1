/**
 * CLI wrapper around hub-probe.ts.
 *
 *   npx tsx test/support/hub-probe-cli.ts probe --base-url https://hub.example.test:8443/jhub/ \
 *       --user alice [--password-env HUB_PROBE_PASSWORD] [--connect-to 127.0.0.1[:port]] \
 *       [--ca test-ca.pem ...] [--code 'print(6*7)'] [--expect 42] [--timeout-ms 120000] \
 *       [--keep-server] [--require-streamed-progress] [--json] [--quiet]
 *
 *   npx tsx test/support/hub-probe-cli.ts get URL [--connect-to H[:P]] [--ca F ...] [--follow] [--json]
 *
 * The password is read from the environment (default HUB_PROBE_PASSWORD) so it
 * does not show in `ps`; --password works too, for throwaway test hubs.
 * Exit status: 0 ok, 1 probe/request failed, 2 usage error.
 */
import { readFileSync } from "node:fs";
import { ConnectTo, HubProbeError, httpsGet, probeHubKernel } from "./hub-probe";

const USAGE = `usage:
  hub-probe-cli.ts probe --base-url URL --user NAME [--password-env VAR | --password PW]
                   [--connect-to HOST[:PORT]] [--ca FILE]... [--code CODE] [--expect TEXT]
                   [--kernel NAME] [--timeout-ms N] [--keep-server] [--require-streamed-progress]
                   [--json] [--quiet]
  hub-probe-cli.ts get URL [--connect-to HOST[:PORT]] [--ca FILE]... [--follow] [--json]`;

function usage(msg?: string): never {
  if (msg) process.stderr.write(`${msg}\n`);
  process.stderr.write(`${USAGE}\n`);
  process.exit(2);
}

function parseConnectTo(s: string): ConnectTo {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
  if (!m) usage(`bad --connect-to ${s}`);
  return { host: m[1] ?? s, port: m[2] ? Number(m[2]) : undefined };
}

interface Args {
  positional: string[];
  flags: Map<string, string[]>;
}

const BOOLEAN_FLAGS = new Set(["keep-server", "json", "quiet", "follow", "help", "require-streamed-progress"]);

function parseArgs(argv: string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (!a.startsWith("--")) {
      positional.push(a);
      continue;
    }
    let name = a.slice(2);
    let value: string | undefined;
    const eq = name.indexOf("=");
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    } else if (BOOLEAN_FLAGS.has(name)) value = "true";
    else {
      value = argv[++i];
      if (value === undefined) usage(`--${name} needs a value`);
    }
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return { positional, flags };
}

async function main(): Promise<number> {
  const { positional, flags } = parseArgs(process.argv.slice(2));
  const one = (n: string) => flags.get(n)?.at(-1);
  const has = (n: string) => flags.has(n);
  if (has("help")) usage();
  const cmd = positional[0] ?? "probe";
  const connectTo = one("connect-to") ? parseConnectTo(one("connect-to") as string) : undefined;
  const caFiles = flags.get("ca") ?? [];
  const ca = caFiles.length ? caFiles.map((f) => readFileSync(f, "utf8")) : undefined;
  const json = has("json");

  if (cmd === "get") {
    const url = positional[1] ?? usage("get needs a URL");
    const r = await httpsGet(url, { connectTo, ca, followRedirects: has("follow") });
    if (json) process.stdout.write(`${JSON.stringify({ ...r, body: r.body.slice(0, 4000) }, null, 2)}\n`);
    else {
      process.stdout.write(`HTTP ${r.status} ${r.url} (${r.ms} ms)\n`);
      for (const [k, v] of Object.entries(r.headers)) process.stdout.write(`${k}: ${Array.isArray(v) ? v.join(" | ") : v}\n`);
      if (r.tls) process.stdout.write(`tls: ${r.tls.protocol} subject=${r.tls.subject} san=${r.tls.subjectAltName}\n`);
    }
    return 0;
  }
  if (cmd !== "probe") usage(`unknown command ${cmd}`);

  const baseUrl = one("base-url") ?? usage("--base-url is required");
  const username = one("user") ?? usage("--user is required");
  const password = one("password") ?? process.env[one("password-env") ?? "HUB_PROBE_PASSWORD"];
  if (password === undefined) usage("no password: set HUB_PROBE_PASSWORD (or --password-env VAR / --password)");
  const quiet = has("quiet");
  try {
    const result = await probeHubKernel({
      baseUrl,
      username,
      password,
      connectTo,
      ca,
      code: one("code"),
      expect: one("expect"),
      kernelName: one("kernel"),
      timeoutMs: one("timeout-ms") ? Number(one("timeout-ms")) : undefined,
      stopServer: !has("keep-server"),
      requireStreamedProgress: has("require-streamed-progress"),
      log: quiet ? undefined : (l) => process.stderr.write(`${l}\n`),
    });
    if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      process.stdout.write(`OK: output ${JSON.stringify(result.output)} in ${result.totalMs} ms (kernel ${result.kernelId})\n`);
      for (const s of result.steps) {
        process.stdout.write(`  ${s.name.padEnd(17)} ${String(s.ms).padStart(6)} ms  ${s.status ?? ""}  ${s.detail ?? ""}\n`);
      }
    }
    return 0;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (json) {
      const out = e instanceof HubProbeError ? { ok: false, error: msg, step: e.step, status: e.status, steps: e.steps } : { ok: false, error: msg };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    }
    process.stderr.write(`FAIL: ${msg}\n`);
    if (e instanceof HubProbeError && !quiet) {
      for (const s of e.steps) process.stderr.write(`  ${s.name.padEnd(17)} ${String(s.ms).padStart(6)} ms  ${s.status ?? ""}  ${s.detail ?? ""}\n`);
    }
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`FAIL: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
