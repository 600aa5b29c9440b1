/**
 * Faults injected into real steps on sandbox hosts: a step run in the background (two applies at
 * once), and a step cut off at a chosen point — its process group killed on the host (SIGKILL: no
 * trap, no cleanup, like a dropped connection whose sshd takes the session down, or worse).
 */
import { spawn } from "child_process";
import { Step, remoteCommand } from "../../steps/plan";
import { SandboxHost, SshResult, runStep } from "./sandbox";

const sshArgs = (host: SandboxHost, commandLine: string): string[] => [
  "-i", host.sshKey, "-o", `UserKnownHostsFile=${host.knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
  "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", `root@${host.addr}`, commandLine,
];

/** Like sandbox.ts's ssh(), without blocking the event loop. */
export function sshAsync(host: SandboxHost, commandLine: string, stdin = "", timeoutMs = 10 * 60_000): Promise<SshResult> {
  return new Promise((resolve) => {
    const child = spawn("ssh", sshArgs(host, commandLine), { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => { stdout += c; });
    child.stderr.setEncoding("utf8").on("data", (c: string) => { stderr += c; });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => { clearTimeout(timer); resolve({ status: code ?? -1, stdout, stderr }); });
    child.stdin.end(stdin);
  });
}

/** A step applied or undone in the background, the way the provider runs it. */
export function runStepAsync(host: SandboxHost, step: Step, mode: "apply" | "undo"): Promise<SshResult> {
  return sshAsync(host, remoteCommand(step, mode, "root"), mode === "apply" ? step.payload : "");
}

export interface CutResult {
  /** The step's own result (killed: non-zero, output up to the cut). */
  step: SshResult;
  /** What the watcher on the host saw: "killed PID (group PGID) after N polls" or why not. */
  watcher: string;
  killed: boolean;
}

/**
 * Applies `step`, and kills its process group on the host as soon as `condition` (a bash test run
 * on the host, polled every few ms) holds while the step runs. The watcher gives up after 120 s.
 */
export async function cutStepAt(host: SandboxHost, step: Step, condition: string): Promise<CutResult> {
  // `[x]` in the pattern keeps pgrep from matching the watcher's own command line.
  const pattern = `${step.script}\\.sh ${step.name.slice(0, -1)}[${step.name.slice(-1)}] apply`;
  const watcherScript = [
    "set -u",
    "deadline=$((SECONDS + 120)) n=0",
    "while ((SECONDS < deadline)); do",
    `  pid=$(pgrep -o -f -- '${pattern}' || true)`,
    `  if [[ -n $pid ]] && { ${condition}; }; then`,
    "    pgid=$(ps -o pgid= -p \"$pid\" | tr -d ' ')",
    "    kill -KILL -- \"-$pgid\" && echo \"killed $pid (group $pgid) after $n polls\" && exit 0",
    "  fi",
    "  n=$((n + 1)); sleep 0.002",
    "done",
    "echo 'the step never reached the point'; exit 3",
  ].join("\n");
  // The watcher says "watching" once it polls; only then does the step start.
  let seen = "";
  let ready: () => void = () => undefined;
  const watching = new Promise<void>((r) => { ready = r; });
  const child = spawn("ssh", sshArgs(host, "bash -s"), { stdio: ["pipe", "pipe", "pipe"] });
  child.stdout.setEncoding("utf8").on("data", (c: string) => { seen += c; if (seen.includes("watching\n")) ready(); });
  child.stderr.setEncoding("utf8").on("data", (c: string) => { seen += c; });
  const watcher = new Promise<number>((resolve) => child.on("close", (code) => { ready(); resolve(code ?? -1); }));
  child.stdin.end(watcherScript.replace("set -u\n", "set -u\necho watching\n"));
  const timer = setTimeout(() => child.kill("SIGKILL"), 150_000);
  await watching;
  const result = runStep(host, step, "apply");
  const status = await watcher;
  clearTimeout(timer);
  return { step: result, watcher: seen.replace("watching\n", "").trim(), killed: status === 0 };
}
