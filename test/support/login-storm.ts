/**
 * Login traffic from one source address, run inside a source namespace (scripts/sandbox/source-ns.sh)
 * with `ip netns exec NS node --import tsx test/support/login-storm.ts < options.json`; prints one
 * JSON result line. Every request is a new connection (a banned address is refused at connect).
 *
 *   attack-login: `attempts` wrong passwords on the hub's login form, one after the other, as fast
 *                 as one client can (one login page fetched first for its _xsrf);
 *   attack-basic: `attempts` wrong Basic credentials on the hub's login page;
 *   classroom:    `participants` people starting evenly over `windowSeconds`, each fetching the login
 *                 page and posting it, `mistypeShare` of them with a wrong password once or twice
 *                 first; "refused" counts those whose right password did not log them in;
 *   burst-login:  `attempts` wrong passwords on the login form all at once (one connection each),
 *                 to see the rate limit alone: how many reach the hub, how many get 429;
 *   wait-unban:   tries one request a second until the proxy answers again (after a ban).
 */
import * as https from "https";

export interface StormOptions {
  mode: "attack-login" | "attack-basic" | "burst-login" | "classroom" | "wait-unban";
  /** Where to connect (an address), and the name/port the proxy serves. */
  connect: string;
  servername: string;
  port: number;
  /** The hub's base path ("/" or "/jhub/"). */
  base: string;
  caPem: string;
  hubUser: string;
  hubPassword: string;
  /** Basic credentials to send with every request (split auth), or none (allow-listed source). */
  basic?: { user: string; password: string };
  attempts?: number;
  participants?: number;
  windowSeconds?: number;
  mistypeShare?: number;
  /** A request with no data for this long fails (default 15 s; nginx holds a burst for longer). */
  requestTimeoutMs?: number;
  /** wait-unban: give up after this many seconds. */
  maxSeconds?: number;
}

interface Answer {
  status?: number;
  /** A connection-level error (ECONNREFUSED: the firewall's reject), when no HTTP answer came. */
  error?: string;
  body?: string;
  setCookie?: string[];
  ms: number;
}

function request(o: StormOptions, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: o.connect, port: o.port, servername: o.servername, path, method, ca: o.caPem, agent: false, timeout: o.requestTimeoutMs ?? 15_000,
        headers: { Host: o.port === 443 ? o.servername : `${o.servername}:${o.port}`, Connection: "close", ...headers, ...(body !== undefined ? { "Content-Length": String(Buffer.byteLength(body)) } : {}) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text.length < 200_000 ? (text += c) : undefined));
        res.on("end", () => resolve({ status: res.statusCode, body: text, setCookie: res.headers["set-cookie"] ?? [], ms: performance.now() - t0 }));
        res.on("error", (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message, ms: performance.now() - t0 }));
      },
    );
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })));
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message, ms: performance.now() - t0 }));
    req.end(body);
  });
}

const basicHeader = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });

/** The login page's _xsrf token (form field) and cookie. */
async function loginForm(o: StormOptions): Promise<{ xsrf: string; cookie: string } | Answer> {
  const r = await request(o, "GET", `${o.base}hub/login`, o.basic ? basicHeader(o.basic.user, o.basic.password) : {});
  if (r.status !== 200) return r;
  const field = /name=["']_xsrf["'][^>]*value=["']([^"']*)["']/i.exec(r.body ?? "")?.[1];
  const cookie = (r.setCookie ?? []).map((c) => c.split(";")[0]).filter((c) => c.startsWith("_xsrf=")).join("; ");
  if (!field || !cookie) return { ...r, error: "no _xsrf in the login page" };
  return { xsrf: field.replace(/&#x27;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, "&"), cookie };
}

function postLogin(o: StormOptions, form: { xsrf: string; cookie: string }, password: string): Promise<Answer> {
  const body = new URLSearchParams({ _xsrf: form.xsrf, username: o.hubUser, password }).toString();
  return request(o, "POST", `${o.base}hub/login`, {
    "Content-Type": "application/x-www-form-urlencoded",
    Cookie: form.cookie,
    Origin: `https://${o.servername}${o.port === 443 ? "" : `:${o.port}`}`,
    ...(o.basic ? basicHeader(o.basic.user, o.basic.password) : {}),
  }, body);
}

const outcome = (a: Answer): string => (a.status !== undefined ? String(a.status) : a.error ?? "?");

export interface AttackResult {
  attempts: number;
  /** Attempts that got an HTTP answer (reached the proxy), by status. */
  answered: Record<string, number>;
  letThrough: number;
  /** 1-based index of the first attempt refused at connect, or 0 when none was. */
  bannedAt: number;
  /** After the first refusal: attempts that still got an HTTP answer (must be 0). */
  answeredAfterBan: number;
  refused: Record<string, number>;
  seconds: number;
}

async function attack(o: StormOptions): Promise<AttackResult> {
  const n = o.attempts ?? 1000;
  const t0 = performance.now();
  const answered: Record<string, number> = {};
  const refused: Record<string, number> = {};
  let bannedAt = 0, answeredAfterBan = 0, letThrough = 0;
  let form: { xsrf: string; cookie: string } | undefined;
  if (o.mode === "attack-login") {
    const f = await loginForm(o);
    if (!("xsrf" in f)) throw new Error(`login page: ${outcome(f)}`);
    form = f;
  }
  for (let i = 1; i <= n; i++) {
    const a = form
      ? await postLogin(o, form, `wrong-${i}`)
      : await request(o, "GET", `${o.base}hub/login`, basicHeader(o.basic!.user, `wrong-${i}`));
    if (a.status !== undefined) {
      answered[a.status] = (answered[a.status] ?? 0) + 1;
      if ([401, 403].includes(a.status)) letThrough++;
      if (bannedAt) answeredAfterBan++;
    } else {
      refused[a.error!] = (refused[a.error!] ?? 0) + 1;
      if (!bannedAt) bannedAt = i;
    }
  }
  return { attempts: n, answered, letThrough, bannedAt, answeredAfterBan, refused, seconds: (performance.now() - t0) / 1000 };
}

export interface BurstResult {
  attempts: number;
  /** Answers by status, and connection-level errors. */
  answered: Record<string, number>;
  errors: Record<string, number>;
  /** The body of one 429 answer (the limit's own short text), and the slowest answer (ms). */
  body429: string;
  slowestMs: number;
  seconds: number;
}

async function burstLogin(o: StormOptions): Promise<BurstResult> {
  const n = o.attempts ?? 100;
  const f = await loginForm(o);
  if (!("xsrf" in f)) throw new Error(`login page: ${outcome(f)}`);
  const t0 = performance.now();
  const all = await Promise.all(Array.from({ length: n }, (_, i) => postLogin(o, f, `wrong-burst-${i}`)));
  const answered: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (const a of all) {
    if (a.status !== undefined) answered[a.status] = (answered[a.status] ?? 0) + 1;
    else errors[a.error!] = (errors[a.error!] ?? 0) + 1;
  }
  return {
    attempts: n, answered, errors,
    body429: all.find((a) => a.status === 429)?.body ?? "",
    slowestMs: Math.round(Math.max(...all.map((a) => a.ms))),
    seconds: (performance.now() - t0) / 1000,
  };
}

export interface ClassroomResult {
  participants: number;
  loggedIn: number;
  /** Participants whose right password did not log them in (any status but a redirect, or no answer). */
  refused: number;
  mistypes: number;
  /** What the refused ones got. */
  refusals: Record<string, number>;
  /** Login POSTs answered 429 (rate limit), wrong or right. */
  limited: number;
  seconds: number;
  /** Slowest right-password POST (ms): how long the rate limit made anyone wait. */
  slowestLoginMs: number;
}

async function classroom(o: StormOptions): Promise<ClassroomResult> {
  const n = o.participants ?? 300;
  const window = (o.windowSeconds ?? 50) * 1000;
  const share = o.mistypeShare ?? 0.1;
  const t0 = performance.now();
  let loggedIn = 0, refused = 0, mistypes = 0, limited = 0, slowest = 0;
  const refusals: Record<string, number> = {};
  const refuse = (why: string) => {
    refused++;
    refusals[why] = (refusals[why] ?? 0) + 1;
  };
  const mistypers = Math.round(n * share);
  const one = async (i: number) => {
    await new Promise((r) => setTimeout(r, (i * window) / n));
    const f = await loginForm(o);
    if (!("xsrf" in f)) return refuse(`login page ${outcome(f)}`);
    // Spread over the class: every (n / mistypers)-th participant mistypes, every other one twice.
    const every = mistypers ? Math.round(n / mistypers) : 0;
    const k = every && i % every === 0 ? ((i / every) % 2 ? 2 : 1) : 0;
    for (let m = 0; m < k; m++) {
      mistypes++;
      const w = await postLogin(o, f, `${o.hubPassword}x`);
      if (w.status === 429) limited++;
    }
    const r = await postLogin(o, f, o.hubPassword);
    slowest = Math.max(slowest, r.ms);
    if (r.status === 429) limited++;
    if (r.status === 302 || r.status === 303) loggedIn++;
    else refuse(outcome(r));
  };
  await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  return { participants: n, loggedIn, refused, mistypes, refusals, limited, seconds: (performance.now() - t0) / 1000, slowestLoginMs: Math.round(slowest) };
}

async function waitUnban(o: StormOptions): Promise<{ seconds: number; answered: boolean }> {
  const t0 = performance.now();
  const deadline = t0 + (o.maxSeconds ?? 120) * 1000;
  while (performance.now() < deadline) {
    const a = await request(o, "GET", `${o.base}hub/health`, {});
    if (a.status !== undefined) return { seconds: (performance.now() - t0) / 1000, answered: true };
    await new Promise((r) => setTimeout(r, 1000));
  }
  return { seconds: (performance.now() - t0) / 1000, answered: false };
}

export async function runStorm(o: StormOptions): Promise<unknown> {
  switch (o.mode) {
    case "attack-login":
    case "attack-basic":
      return attack(o);
    case "burst-login":
      return burstLogin(o);
    case "classroom":
      return classroom(o);
    case "wait-unban":
      return waitUnban(o);
  }
}

if (require.main === module) {
  const o = JSON.parse(require("fs").readFileSync(0, "utf8")) as StormOptions;
  runStorm(o).then(
    (r) => process.stdout.write(JSON.stringify(r) + "\n"),
    (e) => {
      process.stderr.write(`login-storm: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
