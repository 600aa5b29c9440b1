/**
 * Host tier, inside the scenario's "move to /jhub/ on port 8443" step: on trixie hosts the move
 * also puts the hub on the IPv6 loopback ([::1]) — the bind_url block, hub-managed-block's health
 * check over IPv6 and the proxy's upstream are then proven by that step's kernel probe. Here: the
 * hub answers on [::1] only, and the "try it" curl line scripts/deploy-dev.sh prints for a
 * non-443 port works when run exactly as printed. No extra restart, no extra kernel.
 */
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as path from "path";
import { tryItCurl } from "../../scripts/hints";
import { SandboxHost, ssh } from "../support/sandbox";
import { TestCa } from "../support/test-ca";

/** The keys the move step changes: trixie hosts also move the hub to [::1]. */
export function movedConfig(suite: string): Record<string, unknown> {
  return { hubPath: "/jhub/", httpsPort: 8443, ...(suite === "trixie" ? { hubUpstream: "http://[::1]:8000" } : {}) };
}

export function assertHubOnIpv6AndPrintedLine(host: SandboxHost, ca: TestCa, hubDomain: string, hubUrl: string): void {
  const health = (url: string) => ssh(host, `curl -g -sS -o /dev/null -w '%{http_code}' --max-time 5 ${url}`).stdout;
  assert.equal(health("http://[::1]:8000/jhub/hub/health"), "200", "the hub answers on [::1]");
  assert.notEqual(health("http://127.0.0.1:8000/jhub/hub/health"), "200", "and not on 127.0.0.1");
  const line = tryItCurl(hubUrl, path.join(ca.dir, "ca.pem"), host.addr);
  assert.match(line, new RegExp(`--resolve ${hubDomain.replace(/\./g, "\\.")}:8443:`));
  const run = spawnSync("bash", ["-c", line], { encoding: "utf8", timeout: 30_000 });
  console.log(`# printed line: ${line} → exit ${run.status}`);
  assert.equal(run.status, 0, `the printed line failed:\n${line}\n${run.stderr}`);
  assert.match(run.stdout, /<form[^>]*action="[^"]*login/i, "it shows the login page");
}
