/**
 * The commands the program prints for a user to copy. Each must work exactly as printed: a test
 * runs the `curl` line against a real host (test/host/scenario.ts), on a non-default port too.
 */
import * as path from "path";

/** A word for a POSIX shell: bare when it is made of safe characters, else single-quoted. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * `curl` of the hub's login page without DNS: `--resolve` maps the domain *and the URL's port* to
 * the server's address (an IPv6 address in brackets), so the TLS name check and SNI see the domain.
 */
export function tryItCurl(hubUrl: string, caFile: string, serverAddr: string): string {
  const url = new URL(hubUrl);
  const port = url.port || "443";
  const addr = serverAddr.includes(":") && !serverAddr.startsWith("[") ? `[${serverAddr}]` : serverAddr;
  const login = new URL("hub/login", url.href.endsWith("/") ? url.href : `${url.href}/`).href;
  return ["curl", "--cacert", caFile, "--resolve", `${url.hostname}:${port}:${addr}`, login].map(shellWord).join(" ");
}

/**
 * A repository script as the user can type it from where they started the program: relative to
 * that directory when inside it, else absolute.
 */
export function scriptCommand(repoRoot: string, callerCwd: string, script: string, ...args: string[]): string {
  const full = path.join(repoRoot, script);
  const rel = path.relative(callerCwd, full);
  const shown = rel.startsWith("..") || path.isAbsolute(rel) ? full : rel.includes("/") ? rel : `./${rel}`;
  return [shown, ...args].map(shellWord).join(" ");
}
