/**
 * The hub embedded in a learning platform's page, in a real browser (Debian's chromium through
 * playwright-core, as test/support/lab-browser.ts): a page of another origin holds an iframe to the
 * hub's login page. Allowed origin: log in inside the frame, open JupyterLab, run `print(6*7)` → 42
 * in the frame. Not allowed: the browser's own refusal is what is asserted — the frame's document
 * is chrome's error page, not the hub, and the console says "Refused to frame" — never a header.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { Frame, Page, chromium } from "playwright-core";
import { CHROMIUM } from "./lab-browser";

export interface EmbedBrowserOptions {
  /** The hub's public base URL, e.g. https://hub.example.test/. */
  hubUrl: string;
  /** The platform pages: each an https origin whose `/` holds an iframe to the hub. */
  allowedPageUrl: string;
  refusedPageUrl: string;
  /** Address every name resolves to (the sandbox host). */
  hostAddr: string;
  /** Leaf certificates (PEM) of the hub and the pages: the browser accepts exactly these keys. */
  leafCertPems: string[];
  hubUser: string;
  hubPassword: string;
  screenshotAllowed: string;
  screenshotRefused: string;
  timeoutMs?: number;
  log?: (line: string) => void;
}

export interface EmbedBrowserResult {
  /** Text of the executed cell's output inside the frame. */
  output: string;
  /** The frame's URL after JupyterLab opened in it. */
  labFrameUrl: string;
  /** The refused frame's document URL (chrome-error://chromewebdata/) and the console's refusal. */
  refusedFrameUrl: string;
  refusal: string;
  /** Cookies the browser holds for the hub, with their SameSite attribute. */
  hubCookies: { name: string; sameSite: string; secure: boolean; partitionKey: string }[];
  chromiumVersion: string;
}

const spkiHash = (pem: string) =>
  crypto.createHash("sha256").update(new crypto.X509Certificate(pem).publicKey.export({ type: "spki", format: "der" })).digest("base64");

/** The iframe page a learning platform would serve: the hub's login page, sized like a course's embed. */
export function platformPage(title: string, hubLoginUrl: string): string {
  return [
    "<!doctype html>",
    `<html><head><meta charset="utf-8"><title>${title}</title></head>`,
    '<body style="margin:0;font-family:sans-serif">',
    `<h1 style="font-size:16px;margin:6px">${title}: course page with the workshop hub embedded</h1>`,
    `<iframe id="hub" src="${hubLoginUrl}" style="width:1260px;height:740px;border:2px solid #888"></iframe>`,
    "</body></html>",
    "",
  ].join("\n");
}

async function hubFrame(page: Page, hubOrigin: string, timeout: number): Promise<Frame> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const f = page.frames().find((fr) => fr !== page.mainFrame() && fr.url().startsWith(hubOrigin));
    if (f) return f;
    if (Date.now() > deadline) throw new Error(`no hub frame; frames: ${page.frames().map((fr) => fr.url()).join(", ")}`);
    await page.waitForTimeout(200);
  }
}

export async function runEmbeddedLab(opts: EmbedBrowserOptions): Promise<EmbedBrowserResult> {
  const log = opts.log ?? (() => undefined);
  const timeout = opts.timeoutMs ?? 180_000;
  const hub = new URL(opts.hubUrl);
  const names = [hub, new URL(opts.allowedPageUrl), new URL(opts.refusedPageUrl)].map((u) => u.hostname);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-chromium-embed-"));
  // Third-party cookies allowed, as Chrome's default profile has them: Debian's Chromium 156 blocks
  // them by default (measured: no hub cookie kept in the frame, the login form then "invalid or
  // expired"), as Safari and Firefox do in their ways; README says what that means for users.
  // What this run proves is the edge's part: the CSP lets the frame render, and SameSite=None;
  // Secure lets a browser that allows third-party cookies send them into it.
  fs.mkdirSync(path.join(userDataDir, "Default"), { recursive: true });
  fs.writeFileSync(path.join(userDataDir, "Default", "Preferences"), JSON.stringify({ profile: { cookie_controls_mode: 0, block_third_party_cookies: false } }));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-proxy-server",
      `--host-resolver-rules=${names.map((n) => `MAP ${n} ${opts.hostAddr}`).join(", ")}`,
      `--ignore-certificate-errors-spki-list=${opts.leafCertPems.map(spkiHash).join(",")}`,
    ],
    viewport: { width: 1280, height: 800 },
  });
  const console: string[] = [];
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(timeout);
    page.on("console", (m) => console.push(m.text()));
    // The browser's own reports: console messages of the frame's refusal may come through the Log
    // domain, and CSP violations as issues (Audits), depending on the Chromium release.
    const cdp = await context.newCDPSession(page);
    cdp.on("Log.entryAdded", (e: { entry: { text: string } }) => console.push(e.entry.text));
    cdp.on("Audits.issueAdded", (e: { issue: { code: string; details: { contentSecurityPolicyIssueDetails?: { violatedDirective: string; contentSecurityPolicyViolationType: string; blockedURL?: string } } } }) => {
      const d = e.issue.details.contentSecurityPolicyIssueDetails;
      if (d) console.push(`issue ${e.issue.code}: ${d.contentSecurityPolicyViolationType} ${d.violatedDirective}${d.blockedURL ? ` ${d.blockedURL}` : ""}`);
    });
    await cdp.send("Log.enable");
    await cdp.send("Audits.enable");
    const t0 = Date.now();
    // 1. The allowed platform: the whole session happens inside its frame.
    await page.goto(opts.allowedPageUrl);
    let frame = await hubFrame(page, hub.origin, 30_000);
    await frame.locator("input[name=username]").waitFor();
    log(`[embed] login form inside the frame of ${opts.allowedPageUrl}: ${Date.now() - t0} ms`);
    await frame.fill("input[name=username]", opts.hubUser);
    await frame.fill("input[name=password]", opts.hubPassword);
    await frame.locator("form input[type=submit], form button[type=submit]").first().click();
    const labPath = new URL(`user/${opts.hubUser}/lab`, hub).pathname;
    await frame.waitForURL((u) => u.pathname.startsWith(labPath), { timeout });
    // Chromium aborts loads in flight with ERR_NETWORK_CHANGED when other sandbox hosts come and go
    // on this machine (see lab-browser.ts): then JupyterLab is loaded into the frame once more.
    for (let attempt = 1; ; attempt++) {
      frame = await hubFrame(page, hub.origin, 30_000);
      const seen = console.length;
      try {
        await frame.locator(".jp-LabShell, #jp-main-dock-panel").first().waitFor({ timeout: 60_000 });
        break;
      } catch (e) {
        const networkChanged = console.slice(seen).some((l) => l.includes("ERR_NETWORK_CHANGED")) || console.some((l) => l.includes("ERR_NETWORK_CHANGED"));
        if (attempt >= 3 || !networkChanged) throw e;
        log(`[embed] JupyterLab did not load in the frame (ERR_NETWORK_CHANGED); loading it again (attempt ${attempt + 1})`);
        console.length = 0;
        await frame.goto(new URL(`user/${opts.hubUser}/lab`, hub).href).catch(() => undefined);
      }
    }
    log(`[embed] JupyterLab inside the frame: ${Date.now() - t0} ms (${frame.url()})`);
    await frame.locator(".jp-Launcher-section:has(.jp-Launcher-sectionTitle:text-is('Notebook')) .jp-LauncherCard").first().click();
    await frame.locator(".jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator[data-status='idle']").waitFor();
    const cell = frame.locator(".jp-NotebookPanel:visible .jp-Cell").last();
    await cell.locator(".cm-content").click();
    await page.keyboard.type("print(6*7)");
    // A notebook can show "idle" a moment before its kernel is attached: run again until it counts.
    for (let attempt = 1; ; attempt++) {
      await cell.locator(".cm-content").click();
      await page.keyboard.press("Control+Enter");
      try {
        await cell.locator(".jp-InputPrompt").filter({ hasText: /\[\d+\]/ }).waitFor({ timeout: 20_000 });
        break;
      } catch (e) {
        if (attempt >= 4) throw e;
      }
    }
    const answer = cell.locator(".jp-OutputArea-output").filter({ hasText: /^\s*42\s*$/ });
    await answer.waitFor();
    const output = (await answer.innerText()).trim();
    log(`[embed] print(6*7) → ${output} inside the frame: ${Date.now() - t0} ms`);
    fs.mkdirSync(path.dirname(opts.screenshotAllowed), { recursive: true });
    await page.screenshot({ path: opts.screenshotAllowed });
    const labFrameUrl = frame.url();
    // Every cookie the browser holds, partitioned ones included (Playwright's list leaves those out).
    const all = (await cdp.send("Storage.getCookies")) as { cookies: { name: string; domain: string; sameSite?: string; secure: boolean; partitionKey?: string | { topLevelSite: string } }[] };
    const hubCookies = all.cookies.filter((c) => c.domain === hub.hostname)
      .map((c) => ({ name: c.name, sameSite: c.sameSite ?? "unset", secure: c.secure, partitionKey: (typeof c.partitionKey === "string" ? c.partitionKey : c.partitionKey?.topLevelSite) ?? "none" }));

    // 2. A platform that is not allowed: same browser, same session; the browser must refuse the frame.
    const before = console.length;
    await page.goto(opts.refusedPageUrl);
    const iframe = page.locator("iframe#hub");
    await iframe.waitFor();
    const deadline = Date.now() + 30_000;
    let refusedFrameUrl = "";
    let refusal = "";
    for (;;) {
      const child = page.frames().find((fr) => fr !== page.mainFrame());
      refusedFrameUrl = child?.url() ?? "";
      refusal = console.slice(before).find((l) => /Refused to frame|frame-ancestors/i.test(l)) ?? "";
      if (refusal && refusedFrameUrl.startsWith("chrome-error://")) break;
      if (Date.now() > deadline) break;
      await page.waitForTimeout(250);
    }
    await page.screenshot({ path: opts.screenshotRefused });
    log(`[embed] ${opts.refusedPageUrl}: frame document ${refusedFrameUrl}; console: ${refusal}`);
    const chromiumVersion = spawnSync(CHROMIUM, ["--version"], { encoding: "utf8" }).stdout.trim().split(" built")[0];
    return { output, labFrameUrl, refusedFrameUrl, refusal, hubCookies, chromiumVersion };
  } catch (e) {
    const page = context.pages()[0];
    if (page) await page.screenshot({ path: opts.screenshotAllowed.replace(/\.png$/, "-failure.png") }).catch(() => undefined);
    throw new Error(`${e instanceof Error ? e.message : String(e)}; console: ${console.slice(-8).join(" | ")}`);
  } finally {
    await context.close().catch(() => undefined);
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}
