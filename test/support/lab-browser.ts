/**
 * A real browser through the proxy: Debian's chromium driven by playwright-core (no browser
 * download). Basic credentials at the first challenge → the hub's login form → JupyterLab → a new
 * notebook → `print(6*7)` shows 42 → reload → the same kernel answers again. Every auth challenge the
 * browser meets is seen through CDP (`Fetch.authRequired`, what would be a password prompt): only
 * the first, on the hub's login page, is expected; any other challenge or 401 fails the run.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export interface LabBrowserOptions {
  /** The hub's public base URL, e.g. https://hub.jhe.test/ or https://hub.jhe.test:8443/jhub/. */
  baseUrl: string;
  /** Address the hub's name resolves to (the sandbox host). */
  hostAddr: string;
  /** The hub's leaf certificate (PEM): the browser accepts exactly this key, nothing else. */
  leafCertPem: string;
  basicAuth: { username: string; password: string };
  hubUser: string;
  hubPassword: string;
  /** PNG of the notebook with the executed cell. */
  screenshotPath: string;
  timeoutMs?: number;
  log?: (line: string) => void;
}

export interface LabBrowserResult {
  /** Each auth challenge seen: URL and realm (the first is the expected one). */
  challenges: { url: string; realm: string }[];
  /** Text of the executed cell's output, before and after the reload. */
  output: string;
  outputAfterReload: string;
  steps: { name: string; ms: number }[];
  chromiumVersion: string;
}

/** The flags the project runs chromium with (no network chatter, no sandbox as root, no GPU). */
export function chromiumArgs(userDataDir: string, opts: Pick<LabBrowserOptions, "baseUrl" | "hostAddr" | "leafCertPem">): string[] {
  const spki = crypto.createHash("sha256")
    .update(new crypto.X509Certificate(opts.leafCertPem).publicKey.export({ type: "spki", format: "der" }))
    .digest("base64");
  return [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    `--user-data-dir=${userDataDir}`,
    // Only the sandbox host, directly: no system proxy, no DNS.
    "--no-proxy-server",
    `--host-resolver-rules=MAP ${new URL(opts.baseUrl).hostname} ${opts.hostAddr}`,
    `--ignore-certificate-errors-spki-list=${spki}`,
  ];
}

/**
 * Chromium aborts loads in flight with ERR_NETWORK_CHANGED when the machine's interfaces change:
 * other sandbox hosts coming and going on a shared machine. Then the navigation is made once more.
 */
async function afterNetworkChange(run: () => Promise<unknown>, again: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (e) {
    if (!String(e).includes("ERR_NETWORK_CHANGED")) throw e;
    await again();
  }
}

export async function runLabInBrowser(opts: LabBrowserOptions): Promise<LabBrowserResult> {
  const log = opts.log ?? (() => undefined);
  // Generous: JupyterLab loads megabytes of JavaScript, slow on a loaded 2-core machine.
  const timeout = opts.timeoutMs ?? 180_000;
  const base = new URL(opts.baseUrl);
  const hubPages = `${base.pathname}hub/`;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-chromium-"));
  const args = chromiumArgs(userDataDir, opts);
  // launchPersistentContext owns --user-data-dir; the rest goes as given.
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: args.filter((a) => !a.startsWith("--user-data-dir=")),
    viewport: { width: 1280, height: 800 },
  });
  const steps: LabBrowserResult["steps"] = [];
  const challenges: LabBrowserResult["challenges"] = [];
  const problems: string[] = [];
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      steps.push({ name, ms: Date.now() - t0 });
      log(`[browser] ${name}: ${Date.now() - t0} ms`);
    }
  };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(timeout);
    const cdp = await context.newCDPSession(page);
    // Requests to the hub's pages pause here so that their auth challenges surface as events (the
    // browser's prompt). Only those: intercepting JupyterLab's own traffic breaks some of its fetches.
    // A challenge anywhere else goes unanswered and shows up as a 401 response, which fails the run.
    await cdp.send("Fetch.enable", { handleAuthRequests: true, patterns: [{ urlPattern: `${base.origin}${hubPages}*` }] });
    cdp.on("Fetch.requestPaused", (e) => void cdp.send("Fetch.continueRequest", { requestId: e.requestId }).catch(() => undefined));
    cdp.on("Fetch.authRequired", (e) => {
      const url = new URL(e.request.url);
      challenges.push({ url: e.request.url, realm: e.authChallenge.realm });
      const expected = challenges.length === 1 && url.origin === base.origin && url.pathname.startsWith(hubPages);
      if (!expected) problems.push(`unexpected auth prompt for ${e.request.url} (realm ${e.authChallenge.realm})`);
      void cdp.send("Fetch.continueWithAuth", {
        requestId: e.requestId,
        authChallengeResponse: expected
          ? { response: "ProvideCredentials", username: opts.basicAuth.username, password: opts.basicAuth.password }
          : { response: "CancelAuth" },
      }).catch(() => undefined);
    });
    context.on("response", (r) => {
      if (r.status() === 401) problems.push(`HTTP 401 for ${r.url()}`);
    });
    const cells = page.locator(".jp-NotebookPanel:visible .jp-Cell");
    const idle = page.locator(".jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator[data-status='idle']");
    /**
     * Types code into the last (empty) cell and runs it in place. A notebook can show "idle" a
     * moment before its kernel is attached, and a run then does nothing (no `[*]`): run again, a
     * few times at most, until the prompt shows an execution count. Then a new cell below.
     */
    const runInLastCell = async (code: string, expect42: boolean): Promise<string> => {
      const cell = cells.last();
      await cell.locator(".cm-content").click();
      await page.keyboard.type(code);
      for (let attempt = 1; ; attempt++) {
        await cell.locator(".cm-content").click();
        await page.keyboard.press("Control+Enter");
        try {
          await cell.locator(".jp-InputPrompt").filter({ hasText: /\[\d+\]/ }).waitFor({ timeout: 20_000 });
          break;
        } catch (e) {
          if (attempt >= 4) throw e;
          log(`[browser] ${code}: not run on attempt ${attempt} (kernel not attached yet?); again`);
        }
      }
      let out = "";
      if (expect42) {
        const answer = cell.locator(".jp-OutputArea-output").filter({ hasText: /^\s*42\s*$/ });
        await answer.waitFor();
        out = (await answer.innerText()).trim();
      }
      await page.keyboard.press("Escape");
      await page.keyboard.press("b");
      await cells.last().locator(".cm-content").waitFor();
      return out;
    };

    await step("hub login page (Basic credentials)", async () => {
      const r = await page.goto(new URL("hub/login", base).href);
      if (r?.status() !== 200) throw new Error(`hub/login answered ${r?.status()}`);
      await page.locator("input[name=username]").waitFor();
    });
    await step("hub login form → JupyterLab", async () => {
      await page.fill("input[name=username]", opts.hubUser);
      await page.fill("input[name=password]", opts.hubPassword);
      await page.locator("form input[type=submit], form button[type=submit]").first().click();
      const labUrl = new URL(`user/${opts.hubUser}/lab`, base).href;
      await afterNetworkChange(() => page.waitForURL((u) => u.pathname.startsWith(new URL(labUrl).pathname), { timeout }), () => page.goto(labUrl));
      await page.locator(".jp-LabShell, #jp-main-dock-panel").first().waitFor();
    });
    await step("new notebook, kernel idle", async () => {
      await page.locator(".jp-Launcher-section:has(.jp-Launcher-sectionTitle:text-is('Notebook')) .jp-LauncherCard").first().click();
      await page.locator(".jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator[data-status='idle']").waitFor();
    });
    const output = await step("print(6*7) shows 42", async () => {
      const out = await runInLastCell("print(6*7)", true);
      // A marker in the kernel's memory: after the reload only the same kernel can print it.
      await runInLastCell("reconnect_marker = 6*7", false);
      fs.mkdirSync(path.dirname(opts.screenshotPath), { recursive: true });
      await page.locator(".jp-NotebookPanel:visible").screenshot({ path: opts.screenshotPath });
      return out;
    });
    const outputAfterReload = await step("reload: the same kernel reconnects, no prompt", async () => {
      await afterNetworkChange(() => page.reload(), () => page.reload());
      await idle.waitFor();
      if (await page.locator(".jp-Dialog").count()) throw new Error(`a dialog opened after the reload: ${await page.locator(".jp-Dialog").innerText()}`);
      return runInLastCell("print(reconnect_marker)", true);
    });
    if (problems.length) throw new Error(`browser run saw: ${problems.join("; ")}`);
    const chromiumVersion = spawnSync(CHROMIUM, ["--version"], { encoding: "utf8" }).stdout.trim().split(" built")[0];
    return { challenges, output, outputAfterReload, steps, chromiumVersion };
  } catch (e) {
    const page = context.pages()[0];
    if (page) await page.screenshot({ path: opts.screenshotPath.replace(/\.png$/, "-failure.png") }).catch(() => undefined);
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`${why}${problems.length ? ` (also: ${problems.join("; ")})` : ""}; steps: ${steps.map((s) => s.name).join(" → ")}`);
  } finally {
    await context.close().catch(() => undefined);
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}
