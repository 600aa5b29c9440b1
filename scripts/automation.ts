/**
 * The project's program as an Automation API inline program — how the dev deployment and the engine
 * tier drive the real Pulumi engine without the nodejs language host. The CLI comes from PATH
 * (scripts/toolchain/env.sh puts it there), plugins from $PULUMI_HOME.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { RunError } from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { main } from "../program";
import { CONFIG_NAMESPACE } from "../config/keys";

export const repoRoot = path.join(__dirname, "..");

export interface EdgeStackOptions {
  stackName: string;
  /** Directory for the project's Pulumi.yaml copy and Pulumi.<stack>.yaml (encryption salt). */
  workDir: string;
  /** Local state backend directory. */
  backendDir: string;
  /** Passphrase protecting the stack's secrets in state. */
  passphrase: string;
  /** Stack config, without the namespace prefix; `secret` keys are stored encrypted. */
  config: Record<string, string>;
  secretConfig?: Record<string, string>;
}

/** The config a committed stack file holds (e.g. Pulumi.dev.yaml), without the namespace prefix. */
export function readStackFile(file: string): Record<string, string> {
  const doc = yaml.load(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc?.config ?? {})) {
    if (!k.startsWith(`${CONFIG_NAMESPACE}:`)) continue;
    if (v !== null && typeof v === "object" && "secure" in (v as object)) throw new Error(`${k}: encrypted values are not supported in ${file}; use *File keys`);
    out[k.slice(CONFIG_NAMESPACE.length + 1)] = typeof v === "string" ? v : JSON.stringify(v);
  }
  return out;
}

let forwardedListeners: NodeJS.UnhandledRejectionListener[] | undefined;
const alsoExpected: RegExp[] = [];

/**
 * An inline program runs in this process. When it fails on purpose (a refused config is a
 * RunError: the run must fail so that the engine deletes nothing), the engine reports the message,
 * and the Pulumi SDK also leaves promises derived from the failed run rejected and unhandled after
 * the run is over. Node would crash on them (or a test runner count them as a failure). Those
 * rejections — a RunError, or a reason matching `expected` — are dropped; any other goes to the
 * listeners that were there before, or crashes the process as it would have.
 */
export function tolerateFailedRunRejections(expected?: RegExp): void {
  if (expected) alsoExpected.push(expected);
  if (forwardedListeners) return;
  forwardedListeners = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", (reason, promise) => {
    const text = reason instanceof Error ? reason.message : String(reason);
    if (RunError.isInstance(reason as Error) || alsoExpected.some((re) => re.test(text))) return;
    if (!forwardedListeners!.length) throw reason;
    for (const listener of forwardedListeners!) listener(reason, promise);
  });
}

/**
 * The package's provider plugin runs the compiled package (dist/, `npm run build:lib`, which `npm ci`
 * runs as its prepare script). Rebuilt here when a source it is compiled from is newer, so that an
 * edited checkout never runs a stale provider.
 */
export function ensureProviderBuilt(): void {
  const built = path.join(repoRoot, "dist", "provider", "index.js");
  const builtAt = fs.existsSync(built) ? fs.statSync(built).mtimeMs : 0;
  const sources = ["provider", "lib", "components", "steps", "model", "render", "config"].flatMap((d) =>
    fs.readdirSync(path.join(repoRoot, d), { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts")).map((f) => path.join(repoRoot, d, f)),
  );
  if (builtAt > 0 && sources.every((f) => fs.statSync(f).mtimeMs <= builtAt)) return;
  const r = spawnSync("npm", ["run", "--silent", "build:lib"], { cwd: repoRoot, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`npm run build:lib failed:\n${r.stdout}${r.stderr}`);
}

export async function edgeStack(opts: EdgeStackOptions): Promise<Stack> {
  tolerateFailedRunRejections();
  ensureProviderBuilt();
  fs.mkdirSync(opts.workDir, { recursive: true });
  fs.mkdirSync(opts.backendDir, { recursive: true });
  // The project file (config declarations and defaults) is the repository's own.
  // The package's own provider plugin is named by a path relative to the project: absolute in the copy.
  // An inline program has no entry file: the project's `main:` goes too.
  const project = fs
    .readFileSync(path.join(repoRoot, "Pulumi.yaml"), "utf8")
    .replace(/^(\s+path: )\.\/provider$/m, `$1${path.join(repoRoot, "provider")}`)
    .replace(/^main: .*\n/m, "");
  fs.writeFileSync(path.join(opts.workDir, "Pulumi.yaml"), project);
  const pulumiCommand = await PulumiCommand.get({ skipVersionCheck: true });
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: opts.stackName, projectName: "jupyterhub-edge", program: main },
    {
      workDir: opts.workDir,
      pulumiCommand,
      envVars: {
        PULUMI_BACKEND_URL: `file://${opts.backendDir}`,
        PULUMI_CONFIG_PASSPHRASE: opts.passphrase,
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
      },
    },
  );
  const all: Record<string, { value: string; secret?: boolean }> = {};
  for (const [k, v] of Object.entries(opts.config)) Object.assign(all, pathEntries(`${CONFIG_NAMESPACE}:${k}`, v));
  // A secret key may be a path (`splitAuth.users[0].password`): set with --path like the rest.
  for (const [k, v] of Object.entries(opts.secretConfig ?? {})) all[`${CONFIG_NAMESPACE}:${k}`] = { value: v, secret: true };
  // Replace, not merge: a key removed from the source must not linger in the stack.
  // Top-level keys: `k[0].domain` and `k.users[0]` (structured config) both belong to `k`.
  const keep = new Set(Object.keys(all).map((k) => k.replace(/(?<=:[^.[]+)[.[].*$/, "")));
  const stale = Object.keys(await stack.getAllConfig()).filter((k) => k.startsWith(`${CONFIG_NAMESPACE}:`) && !keep.has(k));
  if (stale.length) await stack.removeAllConfig(stale);
  for (const k of keep) if (k in (await stack.getAllConfig())) await stack.removeConfig(k);
  await stack.setAllConfig(all, true);
  return stack;
}

/**
 * A config value as `--path` entries: JSON lists/objects become structured config (what
 * `pulumi config set --path 'k[0].domain' …` writes), which the project's typed declarations require.
 */
export function pathEntries(key: string, value: string): Record<string, { value: string }> {
  let parsed: unknown;
  try {
    parsed = /^[[{]/.test(value.trim()) ? JSON.parse(value) : value;
  } catch {
    parsed = value;
  }
  const out: Record<string, { value: string }> = {};
  const walk = (prefix: string, v: unknown) => {
    if (Array.isArray(v)) v.forEach((item, i) => walk(`${prefix}[${i}]`, item));
    else if (v !== null && typeof v === "object") for (const [k, item] of Object.entries(v)) walk(`${prefix}.${k}`, item);
    else out[prefix] = { value: String(v) };
  };
  walk(key, parsed);
  return out;
}
