/**
 * Engine benchmark (issue 12, measures 3 and 4): `npm run bench:engine [-- --runs N] [-- --proxy nginx|apache]`.
 * Not a test; prints ratios and writes bench/RESULTS-engine-<proxy>.md.
 *
 * 3. A no-op `pulumi up` / `preview` of the edge stack ÷ the same command on an empty program (and,
 *    beside it, on an empty program with the same stack config, secrets included), through
 *    the real engine (Automation API, real CLI and plugins, same file backend and environment), median
 *    of N runs each; and how many SSH sessions the host accepted during the no-op runs (sshd's journal):
 *    the goal is zero remote commands.
 * 4. A cold `up` on a fresh sandbox host ÷ the very same remote steps (same plan, same payloads, same
 *    installed scripts) run raw over ONE SSH session on a second fresh host. Both hosts are created
 *    from the same base before either is timed.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import { LocalWorkspace, PulumiCommand } from "@pulumi/pulumi/automation";
import { edgeStack, repoRoot } from "../scripts/automation";
import { parseConfig } from "../config/schema";
import { ProxyKind } from "../model/site";
import { certificatePayload, planSteps, remoteCommand } from "../steps/plan";
import { SandboxHost, createHost, removeHost, ssh } from "../test/support/sandbox";
import { makeTestCa } from "../test/support/test-ca";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : dflt);
const runs = Number(opt("runs", "5"));
const proxy = opt("proxy", "nginx") as ProxyKind;
const HUB = "hub.bench.test";
const WWW = "www.bench.test";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const secs = (ms: number) => (ms / 1000).toFixed(2);
async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await f();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}
/** Sessions sshd accepted so far (each remote command of the provider is at least one). */
const acceptedSessions = (h: SandboxHost) =>
  Number(ssh(h, "journalctl -q --no-pager -o cat _COMM=sshd-session _COMM=sshd | grep -c '^Accepted ' || true").stdout.trim());

async function main(): Promise<void> {
  const started = new Date();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-engine-bench-"));
  const passphrase = randomBytes(16).toString("hex");
  console.log(`engine bench: proxy ${proxy}, ${runs} runs per no-op measure; creating two fresh sandbox hosts`);
  const engineHost = createHost("bench-engine", "trixie");
  const rawHost = createHost("bench-raw", "trixie");
  try {
    // ---- 4. cold up ÷ raw steps over one SSH session -------------------------------------------
    // Both sides get the same certificates (provided, from one test CA), so neither pays for key
    // generation the other does not: the comparison is of the steps and their transport alone.
    const ca = makeTestCa([HUB, WWW]);
    const config = {
      host: engineHost.addr, sshPrivateKeyFile: engineHost.sshKey, hostKey: engineHost.hostKey,
      platform: "debian-13", proxy, hubDomain: HUB, extraSites: JSON.stringify([{ domain: WWW }]), certificateMode: "provided",
    };
    const providedCertificates = JSON.stringify(Object.fromEntries(ca.material.map((m) => [m.domain, { certificate: m.fullchainPem, privateKey: m.privateKeyPem }])));
    const stack = await edgeStack({
      stackName: "bench", workDir: path.join(work, "edge"), backendDir: path.join(work, "backend"), passphrase, config,
      secretConfig: { providedCertificates },
    });
    const cold = await timed(() => stack.up());
    const coldChanges = cold.value.summary.resourceChanges ?? {};

    const { site } = parseConfig({ ...config, host: rawHost.addr, sshPrivateKeyFile: rawHost.sshKey, hostKey: rawHost.hostKey, extraSites: [{ domain: WWW }], providedDomains: [HUB, WWW] });
    const steps = planSteps(site, certificatePayload(site, ca.material));
    // One script, one session: each step's own command line with its own payload on its stdin.
    const script = ["set -e", ...steps.map((s) => `printf %s '${Buffer.from(s.payload).toString("base64")}' | base64 -d | ${remoteCommand(s, "apply", "root")} >/dev/null`)].join("\n");
    const raw = await timed(async () => ssh(rawHost, "bash -s", script));
    if (raw.value.status !== 0) throw new Error(`raw steps failed: ${raw.value.stderr.slice(-2000)}`);

    // ---- 3. no-op up / preview ÷ empty program -----------------------------------------------
    const pulumiCommand = await PulumiCommand.get({ skipVersionCheck: true });
    const emptyDir = path.join(work, "empty");
    fs.mkdirSync(emptyDir, { recursive: true });
    fs.copyFileSync(path.join(repoRoot, "Pulumi.yaml"), path.join(emptyDir, "Pulumi.yaml"));
    const empty = await LocalWorkspace.createOrSelectStack(
      { stackName: "empty", projectName: "jupyterhub-edge", program: async () => ({}) },
      {
        workDir: emptyDir, pulumiCommand,
        envVars: {
          PULUMI_BACKEND_URL: `file://${path.join(work, "backend")}`, PULUMI_CONFIG_PASSPHRASE: passphrase,
          PULUMI_SKIP_UPDATE_CHECK: "true", PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true", PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
        },
      },
    );
    await empty.up(); // warm: the first run of any program creates its stack and loads the engine
    // A second baseline: the empty program in a stack with the edge stack's own config (secrets
    // included). Whatever loading and decrypting that config costs belongs to the stack, not to
    // the program, so the ratio against it is the program's own share (measured: within noise of
    // the bare baseline). The goal's ratio stays the one against the bare empty program.
    const configuredDir = path.join(work, "empty-configured");
    await edgeStack({ stackName: "empty-configured", workDir: configuredDir, backendDir: path.join(work, "backend"), passphrase, config, secretConfig: { providedCertificates } });
    const emptyConfigured = await LocalWorkspace.selectStack(
      { stackName: "empty-configured", projectName: "jupyterhub-edge", program: async () => ({}) },
      { workDir: configuredDir, pulumiCommand, envVars: empty.workspace.envVars },
    );
    await emptyConfigured.up();
    const series = { emptyUp: [] as number[], emptyPreview: [] as number[], configuredUp: [] as number[], configuredPreview: [] as number[], noopUp: [] as number[], noopPreview: [] as number[] };
    const sessionsBefore = acceptedSessions(engineHost);
    const notSame: string[] = [];
    for (let i = 0; i < runs; i++) {
      series.emptyUp.push((await timed(() => empty.up())).ms);
      series.emptyPreview.push((await timed(() => empty.preview())).ms);
      series.configuredUp.push((await timed(() => emptyConfigured.up())).ms);
      series.configuredPreview.push((await timed(() => emptyConfigured.preview())).ms);
      const up = await timed(() => stack.up());
      series.noopUp.push(up.ms);
      const changes = up.value.summary.resourceChanges ?? {};
      if (Object.keys(changes).some((k) => k !== "same")) notSame.push(JSON.stringify(changes));
      series.noopPreview.push((await timed(() => stack.preview())).ms);
    }
    // The count itself is one session; anything above that was the engine's.
    const remoteSessions = acceptedSessions(engineHost) - sessionsBefore - 1;
    const resources = Object.values(coldChanges).reduce((a, b) => a + (b ?? 0), 0);

    const m = Object.fromEntries(Object.entries(series).map(([k, v]) => [k, median(v)])) as Record<keyof typeof series, number>;
    const ratioUp = m.noopUp / m.emptyUp;
    const ratioPreview = m.noopPreview / m.emptyPreview;
    const ratioCold = cold.ms / raw.ms;
    const own = (a: number, b: number) => `${secs(b)} s, ÷ **${(a / b).toFixed(2)}×**`;
    const verdict = (r: number, goal: number) => (r <= goal ? `meets ≤ ${goal}×` : `misses ≤ ${goal}× by ${((r / goal - 1) * 100).toFixed(0)} %`);
    const cli = `v${pulumiCommand.version?.toString() ?? "unknown"}`;
    const table = [
      `| measure | ${proxy} stack | baseline | ratio | goal | empty program with this stack's config (secrets included) |`,
      "|---|---|---|---|---|---|",
      `| 3a. no-op \`up\` (median of ${runs}) ÷ \`up\` of an empty program | ${secs(m.noopUp)} s (${resources} resources, all \`same\`${notSame.length ? `; NOT same: ${notSame.join(" ")}` : ""}) | ${secs(m.emptyUp)} s | **${ratioUp.toFixed(2)}×** | ${verdict(ratioUp, 1.3)} | ${own(m.noopUp, m.configuredUp)} |`,
      `| 3b. no-op \`preview\` (median of ${runs}) ÷ \`preview\` of an empty program | ${secs(m.noopPreview)} s | ${secs(m.emptyPreview)} s | **${ratioPreview.toFixed(2)}×** | ${verdict(ratioPreview, 1.3)} | ${own(m.noopPreview, m.configuredPreview)} |`,
      `| 3c. SSH sessions the host accepted during the ${2 * runs} no-op runs | ${remoteSessions} | — | — | ${remoteSessions === 0 ? "meets: zero remote commands" : "MISSES: remote commands ran"} | — |`,
      `| 4. cold \`up\` on a fresh host ÷ the same ${steps.length} steps raw over one SSH session | ${secs(cold.ms)} s (${JSON.stringify(coldChanges)}) | ${secs(raw.ms)} s | **${ratioCold.toFixed(2)}×** | ${verdict(ratioCold, 1.25)} | — |`,
    ].join("\n");
    const runsLine = Object.entries(series).map(([k, v]) => `${k}: ${v.map(secs).join(", ")} s`).join("; ");
    const md = [
      "# Engine benchmark (measures 3 and 4)",
      "",
      `Command: \`npm run bench:engine -- --proxy ${proxy} --runs ${runs}\` · ${started.toISOString()} → ${new Date().toISOString()}`,
      `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} at the end; Node ${process.version}; ${cli}; sandbox hosts Debian 13 (systemd-nspawn).`,
      "",
      table,
      "",
      `Every run (s): ${runsLine}.`,
      "",
    ].join("\n");
    fs.writeFileSync(path.join(repoRoot, "bench", `RESULTS-engine-${proxy}.md`), md);
    console.log(`\n${table}\n\n${runsLine}\nwritten: bench/RESULTS-engine-${proxy}.md`);
    await stack.destroy();
  } finally {
    for (const h of ["bench-engine", "bench-raw"]) try { removeHost(h); } catch (e) { console.error(String(e)); }
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
