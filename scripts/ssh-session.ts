/**
 * One SSH session with the system's client, for the two places that talk to a server outside the
 * steps: the status board (scripts/status.ts) and the drift watch's provider (provider/server-state.ts).
 * Connects as the steps' provider does: no ~/.ssh/config (`-F /dev/null`), the given key only, the
 * pinned host key when the stack has one (otherwise the first key is accepted, as by the command
 * provider without `hostKey`), no prompts. The command line is fixed text of ours; values travel on
 * stdin.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** authorized_keys form (`ssh-ed25519 AAAA… [comment]`); none: not checked. */
  hostKey?: string;
}

export interface SshOutcome {
  /** The remote command's exit status; 255 when ssh itself failed; -1 when killed. */
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export function sshSession(target: SshTarget, keyFile: string, commandLine: string, stdin: string, timeoutMs: number): Promise<SshOutcome> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-ssh-"));
  const knownHosts = path.join(dir, "known_hosts");
  // The alias names the pinned key whatever the address and port look like.
  const pinned = target.hostKey ? `jhe-server ${target.hostKey.trim().split(/\s+/).slice(0, 2).join(" ")}\n` : "";
  fs.writeFileSync(knownHosts, pinned, { mode: 0o600 });
  const args = [
    "-F", "/dev/null", "-i", keyFile, "-p", String(target.port), "-l", target.user,
    "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", `ConnectTimeout=${Math.max(1, Math.min(10, Math.floor(timeoutMs / 2000)))}`,
    "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3", "-o", "LogLevel=ERROR",
    "-o", "GlobalKnownHostsFile=/dev/null", "-o", `UserKnownHostsFile=${knownHosts}`,
    ...(pinned ? ["-o", "HostKeyAlias=jhe-server", "-o", "StrictHostKeyChecking=yes"] : ["-o", "StrictHostKeyChecking=accept-new"]),
    "--", target.host, commandLine,
  ];
  return new Promise((resolve) => {
    const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.stdin.on("error", () => undefined); // a server that hangs up early
    child.stdin.end(stdin);
    const done = (code: number) => {
      clearTimeout(timer);
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ code, stdout, stderr, timedOut });
    };
    child.on("error", (e) => {
      stderr += String(e);
      done(255);
    });
    child.on("close", (code) => done(code ?? -1));
  });
}
