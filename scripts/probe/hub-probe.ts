/**
 * User probe for a JupyterHub behind a reverse proxy.
 *
 * Proves a deployment works the way a user experiences it: log in through the
 * proxy, start the user's server, open a real kernel and run code over the
 * kernel's websocket, all through the public URL (scheme, host, port and
 * sub-path are all taken from `baseUrl`).
 *
 * The main job (scripts/deploy-dev.ts) runs it after `up`; the tests run it through
 * test/support/hub-probe.ts. Layout: http-client.ts and cookie-jar.ts are the browser's side,
 * probe-run.ts the state of one run, phases.ts the user's way through the hub one phase at a
 * time, spawn-progress.ts and kernel-websocket.ts the two streaming phases. Uses only node
 * built-ins and `ws`. See README.md beside this file for the details and the pitfalls this
 * code works around.
 */
import {
  awaitSpawn,
  checkOutput,
  cleanupAfterFailure,
  createKernel,
  deleteKernel,
  logIn,
  openHubHome,
  openLab,
  openLoginPage,
  runCode,
  startServer,
  stopServer,
} from "./phases";
import { HubProbeError, HubProbeOptions, HubProbeResult, ProbeRun } from "./probe-run";

export { CookieJar } from "./cookie-jar";
export { bodyExcerpt, headerValue, httpRequest, httpsGet } from "./http-client";
export type { ConnectTo, HttpRequestOptions, HttpResponse, TlsInfo } from "./http-client";
export { HubProbeError, normaliseBaseUrl } from "./probe-run";
export type { HubProbeOptions, HubProbeResult, ProbeStep, SpawnProgressInfo } from "./probe-run";

/**
 * Log in, start the server, open a kernel, run `code` over the kernel websocket
 * and check the output contains `expect`. Throws HubProbeError naming the step.
 */
export async function probeHubKernel(opts: HubProbeOptions): Promise<HubProbeResult> {
  const run = new ProbeRun(opts);
  try {
    const form = await openLoginPage(run);
    await logIn(run, form);
    await openHubHome(run);
    await startServer(run);
    await awaitSpawn(run);
    await openLab(run);
    await createKernel(run);
    const output = await runCode(run);
    await checkOutput(run, output);
    const kernelId = await deleteKernel(run);
    if (run.stopServer) await stopServer(run);
    return { ok: true, output, steps: run.steps, kernelId: kernelId!, totalMs: Date.now() - run.started, spawnProgress: run.spawnProgress };
  } catch (e) {
    const err = e instanceof HubProbeError ? e : new HubProbeError("probe", e instanceof Error ? e.message : String(e));
    // best-effort cleanup with its own small budget; never masks the original error
    await cleanupAfterFailure(run).catch(() => undefined);
    err.steps = run.steps;
    throw err;
  }
}
