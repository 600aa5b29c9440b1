/**
 * Runs one of the sandbox daemons' control scripts (scripts/sandbox/acme-server.sh,
 * dns-server.sh) and reads the shell-sourceable env file they print on `start`.
 */
import { execFile } from "child_process";
import * as path from "path";

export interface ScriptResult {
  stdout: string;
  stderr: string;
}

/** `bash scripts/sandbox/<script> args…` with `env`; a failure rejects with `fail(message)`, stderr's tail included. */
export function runSandboxScript(script: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv, fail: (message: string) => Error): Promise<ScriptResult> {
  const file = path.join(__dirname, "..", "..", "scripts", "sandbox", script);
  return new Promise((resolve, reject) => {
    execFile("bash", [file, ...args], { encoding: "utf8", timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024, env }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException & { code?: unknown }).code;
        reject(fail(`${script} ${args.join(" ")} failed (${code ?? err.message}):\n${String(stderr).slice(-3000)}`));
      } else {
        resolve({ stdout: String(stdout), stderr: String(stderr) });
      }
    });
  });
}

/** `NAME='value'` lines (what the scripts print as their env file) → {NAME: value}. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_]+)='(.*)'$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}
