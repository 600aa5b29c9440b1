/**
 * The user's way through the hub, one phase per function, in the order probeHubKernel runs them:
 * login page, login, hub home, start the server, follow its spawn, open JupyterLab, create a
 * kernel, run code over its websocket, check the output, delete the kernel, stop the server.
 * Each phase is one timed step of the run (ProbeRun.step) and throws HubProbeError naming it.
 */
import { randomUUID } from "node:crypto";
import { htmlUnescape, headerValue, httpRequest } from "./http-client";
import { runOnKernel } from "./kernel-websocket";
import { Deadline, HubProbeError, ProbeRun, ProbeStep, apiHeaders, navHeaders, sleep } from "./probe-run";
import { followProgress } from "./spawn-progress";

export interface LoginForm {
  xsrf: string;
  action: URL;
}

/** 1. The login page: the _xsrf token (form field or cookie) and where the form posts to. */
export function openLoginPage(run: ProbeRun): Promise<LoginForm> {
  const loginUrl = run.loginUrl;
  return run.step("login-page", async (rec) => {
    const r = await run.send("login-page", "GET", loginUrl, { headers: navHeaders() });
    rec.status = r.status;
    if (r.status !== 200) run.fail("login-page", "expected 200 for the login page", r);
    const hidden = /<input[^>]*name=["']_xsrf["'][^>]*>/i.exec(r.body)?.[0];
    const formXsrf = hidden ? /value=["']([^"']*)["']/i.exec(hidden)?.[1] : undefined;
    const xsrf = formXsrf !== undefined ? htmlUnescape(formXsrf) : run.jar.get("_xsrf", loginUrl);
    if (!xsrf) run.fail("login-page", "no _xsrf in the login form nor in a cookie for hub/", r);
    const formTag = /<form[^>]*action=["']([^"']*)["'][^>]*>/i.exec(r.body);
    const action = formTag?.[1] !== undefined ? new URL(htmlUnescape(formTag[1]), loginUrl) : loginUrl;
    if (action.origin !== run.origin) {
      run.fail("login-page", `login form posts to another origin (${action.origin}, expected ${run.origin}) - proxy Host/port problem?`, r);
    }
    rec.detail = `form -> ${action.pathname}${action.search}`;
    return { xsrf, action };
  });
}

/** 2. POST the login form (not followed: the default next URL may spawn). */
export function logIn(run: ProbeRun, form: LoginForm): Promise<void> {
  const loginUrl = run.loginUrl;
  return run.step("login", async (rec) => {
    const body = new URLSearchParams({ _xsrf: form.xsrf, username: run.user, password: run.opts.password }).toString();
    const r = await run.send("login", "POST", form.action, {
      headers: {
        ...navHeaders(loginUrl),
        "Content-Type": "application/x-www-form-urlencoded",
        Origin: run.origin,
      },
      body,
    });
    rec.status = r.status;
    if (r.status !== 302 && r.status !== 303) {
      const loginError = /class=["'][^"']*login_error[^"']*["'][^>]*>([\s\S]*?)</i.exec(r.body)?.[1]?.trim();
      if (loginError) {
        throw new HubProbeError("login", `login rejected: ${htmlUnescape(loginError)}`, { status: r.status, url: form.action.href, method: "POST" });
      }
      run.fail("login", r.status === 403 ? "login rejected (wrong user/password, user not allowed, or _xsrf mismatch)" : "expected a redirect after login", r, "POST");
    }
    const loc = headerValue(r.headers, "location") ?? "";
    if (new URL(loc, form.action).pathname === loginUrl.pathname) {
      run.fail("login", `login redirected back to the login page (${loc})`, r, "POST");
    }
    rec.detail = `-> ${loc}`;
  });
}

/** 3. The hub's home: the hub's _xsrf is tied to the session; navigation mints a fresh one. */
export function openHubHome(run: ProbeRun): Promise<void> {
  return run.step("hub-home", async (rec) => {
    const r = await run.send("hub-home", "GET", run.homeUrl, { headers: navHeaders(run.loginUrl) });
    rec.status = r.status;
    if (r.status !== 200) run.fail("hub-home", "expected 200 for hub/home after login (session cookie not accepted?)", r);
    const fromPage = /xsrf_token\s*:\s*"([^"]+)"/.exec(r.body)?.[1];
    run.hubXsrf = run.jar.get("_xsrf", run.hubUrl("api/")) ?? (fromPage ? htmlUnescape(fromPage) : undefined);
    if (!run.hubXsrf) run.fail("hub-home", "no _xsrf cookie or token after hub/home", r);
  });
}

/** 4. Ask the hub to start the user's server. */
export function startServer(run: ProbeRun): Promise<void> {
  const serverApi = run.hubUrl(`api/users/${run.userEnc}/server`);
  return run.step("start-server", async (rec) => {
    const r = await run.send("start-server", "POST", serverApi, { headers: apiHeaders(run.hubXsrf, run.homeUrl, true), body: "{}" });
    rec.status = r.status;
    run.serverRequested = true;
    if (r.status === 201 || r.status === 202) {
      rec.detail = r.status === 201 ? "started" : "pending";
      return;
    }
    if (r.status === 400 && /already running/i.test(r.body)) {
      rec.detail = "already running";
      return;
    }
    if (r.status === 400 && /pending/i.test(r.body)) {
      rec.detail = "a spawn is already pending";
      return;
    }
    run.fail("start-server", "could not start the server", r, "POST");
  });
}

/** 5. The spawn's progress event stream until ready; without a verdict from it, poll the user model. */
export function awaitSpawn(run: ProbeRun): Promise<void> {
  return run.step("spawn-progress", async (rec) => {
    const progressUrl = run.hubUrl(`api/users/${run.userEnc}/server/progress`);
    const res = await followProgress(run, progressUrl, rec);
    if (res === "ready") return;
    await pollUntilReady(run, rec, res);
  });
}

/** The fallback of awaitSpawn: the user model, polled (bounded) until the server is ready. */
async function pollUntilReady(run: ProbeRun, rec: ProbeStep, streamVerdict: string): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const r = await run.send("spawn-progress", "GET", run.hubUrl(`api/users/${run.userEnc}`), { headers: apiHeaders(run.hubXsrf, run.homeUrl) });
    if (r.status !== 200) run.fail("spawn-progress", "could not read the user model", r);
    const model = JSON.parse(r.body) as { servers?: Record<string, { ready?: boolean; pending?: string | null }> };
    const srv = model.servers?.[""];
    if (srv?.ready) {
      rec.detail = `${rec.detail ?? ""} ready after ${i + 1} poll(s)`.trim();
      return;
    }
    if (!srv) throw new HubProbeError("spawn-progress", `server is not running nor pending (${streamVerdict})`);
    await sleep(Math.min(1000, Math.max(1, run.deadline.remaining() - 1)));
    run.deadline.budget(1, "polling the spawn");
  }
  throw new HubProbeError("spawn-progress", "server did not become ready after 120 polls");
}

/** 6. Open the user's JupyterLab: the OAuth redirects set the user server's cookies (path user/<name>/). */
export function openLab(run: ProbeRun): Promise<void> {
  return run.step("open-lab", async (rec) => {
    const r = await run.send("open-lab", "GET", run.labUrl, { headers: navHeaders(run.homeUrl), follow: true });
    rec.status = r.status;
    const finalPath = new URL(r.url).pathname;
    rec.detail = `${r.redirects.length} redirect(s), landed on ${finalPath}`;
    if (r.status !== 200) run.fail("open-lab", `expected 200 after following ${r.redirects.length} redirect(s)`, r);
    if (!finalPath.startsWith(run.userUrl("").pathname)) {
      run.fail("open-lab", `ended outside the user's server at ${finalPath} (server not running, or OAuth went wrong)`, r);
    }
    run.userXsrf = run.jar.get("_xsrf", run.userUrl("api/kernels"));
    if (!run.userXsrf) run.fail("open-lab", `no _xsrf cookie for ${run.userUrl("").pathname} (cookies: ${run.jar.describe()})`, r);
  });
}

/** 7. Create a kernel on the user's server; its id is kept for the websocket and the cleanup. */
export async function createKernel(run: ProbeRun): Promise<void> {
  const kernelsApi = run.userUrl("api/kernels");
  run.kernelId = await run.step("create-kernel", async (rec) => {
    const body = JSON.stringify(run.opts.kernelName ? { name: run.opts.kernelName } : {});
    const r = await run.send("create-kernel", "POST", kernelsApi, { headers: apiHeaders(run.userXsrf, run.labUrl, true), body });
    rec.status = r.status;
    if (r.status === 404) {
      // Jupyter Server answers 404 to API calls whose Origin does not match the Host it sees.
      // Tell that apart from a real 404 by asking again without an Origin header.
      const noOrigin = apiHeaders(run.userXsrf, run.labUrl);
      delete noOrigin.Origin;
      const again = await run.send("create-kernel", "GET", kernelsApi, { headers: noOrigin }).catch(() => undefined);
      if (again?.status === 200) {
        run.fail(
          "create-kernel",
          `Jupyter Server refused the API call because Origin ${run.origin} does not match the Host header it received` +
            " -- the proxy must pass the public Host including a non-default port (nginx: proxy_set_header Host $http_host)",
          r,
          "POST",
        );
      }
    }
    if (r.status !== 201 && r.status !== 200) run.fail("create-kernel", "could not create a kernel", r, "POST");
    const k = JSON.parse(r.body) as { id?: string; name?: string };
    if (!k.id) run.fail("create-kernel", "no kernel id in the answer", r, "POST");
    rec.detail = `${k.name ?? "?"} ${k.id}`;
    return k.id;
  });
}

/** 8. Run the code in the kernel over its channels websocket; returns what it printed. */
export function runCode(run: ProbeRun): Promise<string> {
  return run.step("kernel-websocket", async (rec) => {
    const wsUrl = run.userUrl(`api/kernels/${run.kernelId}/channels`);
    wsUrl.protocol = run.base.protocol === "https:" ? "wss:" : "ws:";
    wsUrl.searchParams.set("session_id", randomUUID());
    return runOnKernel(run, wsUrl, rec);
  });
}

/** 9. The kernel's output must contain the expected text. */
export function checkOutput(run: ProbeRun, output: string): Promise<void> {
  return run.step("check-output", async (rec) => {
    rec.detail = JSON.stringify(output.length > 200 ? `${output.slice(0, 200)}...` : output);
    if (!output.includes(run.expect)) {
      throw new HubProbeError("check-output", `kernel output does not contain ${JSON.stringify(run.expect)}: got ${rec.detail}`);
    }
  });
}

/** 10. Delete the kernel; returns its id (no longer the run's to clean up). */
export async function deleteKernel(run: ProbeRun): Promise<string | undefined> {
  await run.step("delete-kernel", async (rec) => {
    const r = await run.send("delete-kernel", "DELETE", run.userUrl(`api/kernels/${run.kernelId}`), { headers: apiHeaders(run.userXsrf, run.labUrl) });
    rec.status = r.status;
    if (r.status !== 204 && r.status !== 200) run.fail("delete-kernel", "could not delete the kernel", r, "DELETE");
  });
  const id = run.kernelId;
  run.kernelId = undefined;
  return id;
}

/** 11. Stop the user's server and wait until the hub says it is gone (so a later probe starts clean). */
export async function stopServer(run: ProbeRun): Promise<void> {
  await run.step("stop-server", (rec) => stopUserServer(run, rec));
  run.serverRequested = false;
}

async function stopUserServer(run: ProbeRun, rec: ProbeStep): Promise<void> {
  const serverApi = run.hubUrl(`api/users/${run.userEnc}/server`);
  const r = await run.send("stop-server", "DELETE", serverApi, { headers: apiHeaders(run.hubXsrf, run.homeUrl) });
  rec.status = r.status;
  if (r.status === 204) {
    rec.detail = "stopped";
    return;
  }
  if (r.status !== 202) run.fail("stop-server", "could not stop the server", r, "DELETE");
  for (let i = 0; i < 60; i++) {
    await sleep(Math.min(500, Math.max(1, run.deadline.remaining())));
    const m = await run.send("stop-server", "GET", run.hubUrl(`api/users/${run.userEnc}`), { headers: apiHeaders(run.hubXsrf, run.homeUrl) });
    if (m.status !== 200) run.fail("stop-server", "could not read the user model", m);
    const model = JSON.parse(m.body) as { servers?: Record<string, unknown> };
    if (!model.servers || !model.servers[""]) {
      rec.detail = `stopped after ${i + 1} poll(s)`;
      return;
    }
  }
  throw new HubProbeError("stop-server", "server still stopping after 60 polls");
}

/** After a failure: delete the kernel and stop the server if the run got that far (best effort, own budget). */
export async function cleanupAfterFailure(run: ProbeRun): Promise<void> {
  const grace = new Deadline(15_000);
  const quick = async (method: string, url: URL, xsrf: string | undefined, referer: URL) => {
    try {
      const r = await httpRequest(url, {
        method,
        headers: apiHeaders(xsrf, referer),
        jar: run.jar,
        timeoutMs: grace.budget(5_000, "cleanup"),
        connectTo: run.conn.connectTo,
        ca: run.conn.ca,
      });
      run.log(`[hub-probe] cleanup ${method} ${url.pathname}: HTTP ${r.status}`);
    } catch (e) {
      run.log(`[hub-probe] cleanup ${method} ${url.pathname} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  if (run.kernelId && run.userXsrf) await quick("DELETE", run.userUrl(`api/kernels/${run.kernelId}`), run.userXsrf, run.labUrl);
  if (run.stopServer && run.serverRequested && run.hubXsrf) await quick("DELETE", run.hubUrl(`api/users/${run.userEnc}/server`), run.hubXsrf, run.homeUrl);
}
