/**
 * Test access to sandbox hosts (scripts/sandbox/host.sh): create/remove, SSH exactly as the
 * remote.Command provider runs steps (the command line over SSH, the payload on stdin), and the
 * host-as-found fingerprint.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Step, remoteCommand } from "../../steps/plan";

const repo = path.join(__dirname, "..", "..");
const hostScript = path.join(repo, "scripts", "sandbox", "host.sh");

export interface SandboxHost {
  name: string;
  addr: string;
  machineAddr: string;
  sshKey: string;
  hostKey: string;
  hostKeyFile: string;
  knownHosts: string;
  hubUser: string;
  hubPassword: string;
  suite: string;
}

function parseEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const m = /^([A-Z_]+)='(.*)'$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/**
 * JHE_HOST_PREFIX (optional, e.g. "a-") is put before every sandbox host name, so that two checkouts
 * running tests on one machine at the same time never take each other's hosts.
 */
const prefixed = (name: string): string => `${process.env.JHE_HOST_PREFIX ?? ""}${name}`;

export function createHost(name: string, suite = "trixie", index?: number): SandboxHost {
  name = prefixed(name);
  const args = ["create", name, "--suite", suite, ...(index ? ["--index", String(index)] : [])];
  const r = spawnSync("bash", [hostScript, ...args], { encoding: "utf8", timeout: 15 * 60_000 });
  if (r.status !== 0) throw new Error(`host.sh ${args.join(" ")} failed (${r.status}):\n${r.stderr.slice(-3000)}`);
  const env = parseEnvFile(r.stdout.trim().split("\n").pop()!);
  return {
    name,
    addr: env.HOST_ADDR,
    machineAddr: env.MACHINE_ADDR,
    sshKey: env.SSH_KEY,
    hostKey: env.HOST_KEY,
    hostKeyFile: env.HOST_KEY_FILE,
    knownHosts: env.KNOWN_HOSTS,
    hubUser: env.HUB_USER,
    hubPassword: env.HUB_PASSWORD,
    suite: env.SUITE,
  };
}

export function removeHost(name: string): void {
  name = prefixed(name);
  const r = spawnSync("bash", [hostScript, "remove", name], { encoding: "utf8", timeout: 5 * 60_000 });
  if (r.status !== 0) throw new Error(`host.sh remove ${name} failed:\n${r.stderr.slice(-2000)}`);
}

/**
 * A server whose SSH is down: sshd stopped over SSH, started again from this machine inside the
 * host's namespaces (no SSH then).
 */
export function setSshd(host: SandboxHost, action: "stop" | "start"): void {
  if (action === "stop") {
    const r = ssh(host, "systemctl stop ssh.socket ssh.service; echo stopped");
    if (r.stdout.trim() !== "stopped") throw new Error(`stopping sshd on ${host.name}: ${r.stderr}`);
    return;
  }
  const dir = path.join(process.env.JHE_SANDBOX_DIR ?? "/var/lib/jupyterhub-edge-sandbox", "hosts", host.name);
  const init = spawnSync("pgrep", ["-P", fs.readFileSync(path.join(dir, "nspawn.pid"), "utf8").trim()], { encoding: "utf8" }).stdout.trim().split("\n")[0];
  const r = spawnSync("nsenter", ["-t", init, "-m", "-u", "-i", "-n", "-p", "systemctl", "start", "ssh.service"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`starting sshd on ${host.name}: ${r.stderr}`);
}

export interface SshResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a command line on the host over SSH (strict host-key checking against the pinned key). */
export function ssh(host: SandboxHost, commandLine: string, stdin = "", timeoutMs = 10 * 60_000): SshResult {
  const r = spawnSync(
    "ssh",
    ["-i", host.sshKey, "-o", `UserKnownHostsFile=${host.knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
      "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", `root@${host.addr}`, commandLine],
    { input: stdin, encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
  );
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/**
 * Applies or undoes a plan step the way the provider would: same command line, same stdin (the
 * provider sends the stored stdin to `delete` too — the install step's undo reads it).
 */
export function runStep(host: SandboxHost, step: Step, mode: "apply" | "undo"): SshResult {
  return ssh(host, remoteCommand(step, mode, "root"), step.payload);
}

export function fingerprint(host: SandboxHost, mode: "" | "hashes" | "owned" = ""): string {
  const script = fs.readFileSync(path.join(__dirname, "host-fingerprint.sh"), "utf8");
  const r = ssh(host, `bash -s ${mode}`, script);
  if (r.status !== 0) throw new Error(`fingerprint failed: ${r.stderr}`);
  return r.stdout;
}

/** One line per tree the program may touch: `TREE sha256 entries` — a hash of /etc etc. for reports. */
export const treeHashes = (host: SandboxHost): string => fingerprint(host, "hashes");

/**
 * Files of the packages the program's package steps installed (run while they are installed):
 * what the package manager's purge takes away again on destroy.
 */
export const packageOwnedFiles = (host: SandboxHost): string[] => fingerprint(host, "owned").split("\n").filter(Boolean);

/** Lines that differ between two fingerprints (for readable assertion messages). */
export function fingerprintDiff(a: string, b: string): string {
  const as = new Set(a.split("\n"));
  const bs = new Set(b.split("\n"));
  const gone = [...as].filter((l) => !bs.has(l)).map((l) => `- ${l}`);
  const added = [...bs].filter((l) => !as.has(l)).map((l) => `+ ${l}`);
  return [...gone, ...added].slice(0, 80).join("\n");
}
