/**
 * Engine tier, issue 19: mistakes on a LIVE stack. The site is deployed (nginx on Debian 13, a
 * self-signed CA, split auth with a generated password, a second domain) and a probe loop acts as
 * its users from outside the whole time. Then, one after the other, the mistakes people make: a
 * typo in a key, a refused value, a refused combination, a wrong shape, a misspelt namespace, key
 * text pasted into a file-path key, and two failures inside the program itself (a component that
 * throws while it is built; an input whose computation fails after some resources were declared).
 * For each: `pulumi preview` fails with the message and plans no change; `pulumi up` fails with the
 * message, changes no resource, opens no SSH session on the server, and the users see nothing
 * (0 failed probe requests); the CA and the handed-out password are the same afterwards. The
 * corrected config then gives a no-op `up`, and the host is exactly as the first `up` left it.
 *
 * Before the fix, the first of these deleted every resource of the stack (the program returned
 * early, which the engine takes as "declares nothing").
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import type { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { edgeStack, tolerateFailedRunRejections } from "../../scripts/automation";
import { main } from "../../program";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, ssh } from "../support/sandbox";
import { ProbeLoop, formatProbeReport, startProbeLoop } from "../support/probe-loop";
import { missingToolchain } from "./scenario";

const HUB = "hub.live.engine.test";
const WWW = "www.live.engine.test";
const STACK = "engine-live-safety";
const USER = "tutor";
const ns = "jupyterhub-edge";
/** Stands for private key text pasted where a path belongs: it must never be echoed. */
const PASTED_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----\n${randomBytes(120).toString("base64")}\n-----END OPENSSH PRIVATE KEY-----`;

interface Mistake {
  what: string;
  /** Changes the stack's config (or program) into the mistake. */
  make: (stack: Stack) => Promise<void>;
  /** Puts it back. */
  undo: (stack: Stack) => Promise<void>;
  /** What the engine's output must say. */
  expected: RegExp;
  /** Strings that must not appear anywhere in the output. */
  secret?: string;
}

const setKey = (key: string, value: string) => async (s: Stack) => { await s.setConfig(`${ns}:${key}`, { value }); };
const removeKey = (key: string) => async (s: Stack) => { await s.removeConfig(`${ns}:${key}`); };

/** The program with a fault injected into it (the shipped program, unchanged, runs inside). */
function faultyProgram(inject: () => void): () => ReturnType<typeof main> {
  return async () => {
    inject();
    return main();
  };
}

const mistakes: Mistake[] = [
  {
    what: "typo in a key (hubDomian)",
    make: setKey("hubDomian", "hub.other.test"), undo: removeKey("hubDomian"),
    expected: /jupyterhub-edge:hubDomian: unknown config key; did you mean `hubDomain`\?/,
  },
  {
    what: "refused value (expectedParticipants 3000 without hostMemoryMb)",
    make: setKey("expectedParticipants", "3000"), undo: removeKey("expectedParticipants"),
    expected: /jupyterhub-edge:(expectedParticipants|hostMemoryMb)/,
  },
  {
    what: "refused combination (certificateMode acme without acmeEmail)",
    make: setKey("certificateMode", "acme"), undo: removeKey("certificateMode"),
    expected: /jupyterhub-edge:acmeEmail: is required when a certificate comes from ACME/,
  },
  {
    what: "wrong shape (httpsPort as a word)",
    make: setKey("httpsPort", "https"), undo: removeKey("httpsPort"),
    expected: /jupyterhub-edge:httpsPort/,
  },
  {
    what: "misspelt namespace (jupyterhub-egde:proxy)",
    make: async (s) => { await s.setConfig("jupyterhub-egde:proxy", { value: "apache" }); },
    undo: async (s) => { await s.removeConfig("jupyterhub-egde:proxy"); },
    expected: /jupyterhub-egde:proxy: the namespace "jupyterhub-egde" is not this project's/,
  },
  {
    what: "private key text pasted into a file-path key (sshPrivateKeyFile)",
    make: async () => { /* set in the test: it needs the original value back */ }, undo: async () => {},
    expected: /jupyterhub-edge:sshPrivateKeyFile/,
    secret: PASTED_KEY.split("\n")[1].slice(0, 40),
  },
  {
    what: "a component throws while it is built (injected)",
    make: async (s) => {
      s.workspace.program = faultyProgram(() =>
        pulumi.runtime.registerStackTransformation((args) => {
          if (args.type === "jupyterhub-edge:hub:HubBindUrl") throw new Error("injected fault: HubBindUrl failed while it was built");
          return undefined;
        }));
    },
    undo: async (s) => { s.workspace.program = main; },
    expected: /injected fault: HubBindUrl failed while it was built/,
  },
  {
    what: "an input fails after other resources were declared (injected into the hub step's payload)",
    make: async (s) => {
      s.workspace.program = faultyProgram(() =>
        pulumi.runtime.registerStackTransformation((args) => {
          if (args.type !== "command:remote:Command" || !args.name.endsWith("hub-bind-url")) return undefined;
          const failing = pulumi.output(args.props.stdin).apply((): string => { throw new Error("injected fault: the hub step's payload could not be computed"); });
          return { props: { ...args.props, stdin: failing }, opts: args.opts };
        }));
    },
    undo: async (s) => { s.workspace.program = main; },
    expected: /injected fault: the hub step.s payload could not be computed|nothing that was not declared is deleted/,
  },
];

const CHANGING_OPS = new Set(["create", "update", "delete", "replace", "create-replacement", "delete-replaced", "discard", "discard-replaced", "import", "import-replacement"]);

const missing = missingToolchain();
if (missing) {
  console.log(`SKIP engine tier (live-stack safety): ${missing}`);
  test("engine live-stack safety", { skip: `missing: ${missing}` }, () => {});
} else {
  const hostName = "engine-live";
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-engine-live-"));
  let host: SandboxHost;
  let stack: Stack;
  let asFound: string;
  let afterUp: string;
  let caPem = "";
  let password = "";
  let loop: ProbeLoop | undefined;
  const log: string[] = [];
  const table: string[] = [];

  /** SSH sessions sshd accepted so far (each remote command of the provider is at least one). */
  const acceptedSessions = () =>
    Number(ssh(host, "journalctl -q --no-pager -o cat _COMM=sshd-session _COMM=sshd | grep -c '^Accepted ' || true").stdout.trim());

  /** Runs one engine operation that must fail; returns its text and the operations it planned or ran. */
  async function mustFail(op: "preview" | "up"): Promise<{ text: string; ops: Record<string, number> }> {
    const ops: Record<string, number> = {};
    const out: string[] = [];
    const onEvent = (e: EngineEvent) => {
      const o = e.resourcePreEvent?.metadata.op;
      if (o) ops[o] = (ops[o] ?? 0) + 1;
    };
    const onOutput = (s: string) => { out.push(s); log.push(s); };
    const run = op === "preview" ? stack.preview({ onEvent, onOutput, diff: true }) : stack.up({ onEvent, onOutput });
    const err = await (run as Promise<unknown>).then(() => null, (e: Error) => e);
    assert.ok(err, `${op} must fail`);
    return { text: `${out.join("")}\n${String(err)}`, ops };
  }

  before(async () => {
    // The injected faults run inside this process (an inline program), and the Pulumi SDK leaves the
    // rejections they cause unhandled once the failed run is over (scripts/automation.ts). Called
    // here, not at load: the test runner's own listener exists only once the first test is declared.
    tolerateFailedRunRejections(/injected fault|errors were reported while the program declared/);
    host = createHost(hostName, "trixie");
    asFound = fingerprint(host);
    stack = await edgeStack({
      stackName: STACK, workDir: path.join(work, "project"), backendDir: path.join(work, "backend"),
      passphrase: randomBytes(16).toString("hex"),
      config: {
        host: host.addr, sshPrivateKeyFile: host.sshKey, hostKey: host.hostKey, platform: "debian-13", proxy: "nginx",
        hubDomain: HUB, extraSites: JSON.stringify([{ domain: WWW }]),
        splitAuth: JSON.stringify({ users: [USER], realm: "Workshop" }),
      },
    });
  });
  after(async () => {
    await loop?.stop().catch(() => undefined);
    if (process.env.JHE_KEEP_HOSTS === "1") return;
    stack.workspace.program = main;
    try { await stack?.destroy({ onOutput: (s) => log.push(s) }); } catch { /* reported by a test */ }
    removeHost(hostName);
    fs.rmSync(work, { recursive: true, force: true });
  });

  test("live stack: up deploys the site; a probe loop starts acting as its users", async () => {
    const up = await stack.up({ onOutput: (s) => log.push(s) });
    assert.equal(up.summary.result, "succeeded");
    caPem = String(up.outputs.caCertificate.value);
    password = String(up.outputs[`splitAuthPassword-${USER}`].value);
    assert.match(caPem, /BEGIN CERTIFICATE/);
    assert.match(password, /^[A-Za-z0-9]{24}$/);
    afterUp = fingerprint(host);
    const basic = `Basic ${Buffer.from(`${USER}:${password}`).toString("base64")}`;
    loop = await startProbeLoop({
      connectTo: { host: host.addr }, ca: caPem, intervalMs: 100, maxMs: 20 * 60_000, maxRequests: 60_000,
      targets: [
        // What a participant sees: the hub's login form, behind the workshop password.
        { name: "hub login form (with the workshop password)", url: `https://${HUB}/hub/login`, ok: [200], bodyMatch: 'name="username"', headers: { Authorization: basic } },
        { name: "hub API (open)", url: `https://${HUB}/hub/api/`, ok: [200], bodyMatch: '"version"' },
        { name: "other domain", url: `https://${WWW}/`, ok: [200, 403, 404] },
      ],
    });
  });

  for (const m of mistakes) {
    test(`live stack, ${m.what}: preview plans no change, up fails with the message, nothing changes`, async () => {
      assert.ok(loop, "the site is up and probed");
      const sshKeyFile = host.sshKey;
      if (m.what.startsWith("private key text")) await stack.setConfig(`${ns}:sshPrivateKeyFile`, { value: PASTED_KEY });
      else await m.make(stack);
      let preview: Awaited<ReturnType<typeof mustFail>>;
      let up: Awaited<ReturnType<typeof mustFail>>;
      let sessions: number;
      try {
        preview = await mustFail("preview");
        const before = acceptedSessions();
        up = await mustFail("up");
        sessions = acceptedSessions() - before - 1; // the second count's own session
      } finally {
        if (m.what.startsWith("private key text")) await stack.setConfig(`${ns}:sshPrivateKeyFile`, { value: sshKeyFile });
        else await m.undo(stack);
      }
      const changed = (ops: Record<string, number>) => Object.entries(ops).filter(([o]) => CHANGING_OPS.has(o)).map(([o, n]) => `${o} ${n}`);
      table.push(`| ${m.what} | failed, planned: ${changed(preview.ops).join(", ") || "no change"} | failed, ran: ${changed(up.ops).join(", ") || "no change"} | ${sessions} |`);
      assert.match(preview.text, m.expected, "preview names the problem");
      assert.match(up.text, m.expected, "up names the problem");
      assert.deepEqual(changed(preview.ops), [], `preview planned changes: ${JSON.stringify(preview.ops)}`);
      assert.ok(!/\bto delete\b|- \d+ to delete|deleting/.test(preview.text), "no planned deletion in the preview's text");
      assert.deepEqual(changed(up.ops), [], `up changed resources: ${JSON.stringify(up.ops)}`);
      assert.equal(sessions, 0, "no SSH session reached the server");
      // A config error reads as the message, not as a stack trace.
      if (!m.what.includes("injected")) assert.ok(!/\n\s+at .+\.(ts|js):\d+/.test(up.text), `a stack trace in the output:\n${up.text.slice(-1500)}`);
      if (m.secret) assert.ok(!preview.text.includes(m.secret) && !up.text.includes(m.secret), "the pasted key text is never echoed");
      const outputs = await stack.outputs();
      assert.equal(outputs.caCertificate.value, caPem, "the CA users trust is the same");
      assert.equal(outputs[`splitAuthPassword-${USER}`].value, password, "the handed-out password is the same");
    });
  }

  test("live stack: the corrected config is a no-op up; the users saw no failure; the host is as the first up left it", async () => {
    stack.workspace.program = main;
    const up = await stack.up({ onOutput: (s) => log.push(s) });
    assert.deepEqual(Object.keys(up.summary.resourceChanges ?? {}), ["same"], JSON.stringify(up.summary.resourceChanges));
    const report = await loop!.stop();
    loop = undefined;
    console.log(formatProbeReport("# live-stack probe", report));
    console.log(["# | mistake | preview | up | SSH sessions |", "# |---|---|---|---|", ...table.map((r) => `# ${r}`)].join("\n"));
    for (const t of report.targets) {
      assert.ok(t.sent > 20, `${t.name}: the loop ran (${t.sent} requests)`);
      assert.equal(t.failed, 0, `${t.name}: ${JSON.stringify(t.firstFailures)}`);
    }
    assert.equal(fingerprintDiff(afterUp, fingerprint(host)), "", "nothing on the host changed");
  });

  test("live stack: destroy leaves the host as it was found", async () => {
    await stack.destroy({ onOutput: (s) => log.push(s) });
    assert.equal(fingerprintDiff(asFound, fingerprint(host)), "");
  });
}
