/**
 * The provider side of `jupyterhub-edge:index:ServerState` (components/server-state.ts): the one
 * resource of this package with a real read. Why it exists: every step is a
 * `command:remote:Command`, which has no read, so `pulumi refresh` cannot see a hand edit on the
 * server. This resource can:
 *   - create / update without drift: no SSH at all (a no-op `up` opens no session);
 *   - read (`pulumi refresh`, `preview --refresh`, `up --refresh`): one SSH session per server runs
 *     the read-only probe (scripts/status/drift-probe.sh) and records what differs in `drift`;
 *   - diff: recorded drift is a change, so the preview lists it per server and item;
 *   - update with drift: runs the owning steps' own apply again over SSH (the same script, payload
 *     and safe apply as `up`: config test, graceful reload, rollback), in plan order, then probes
 *     again and fails if anything still differs.
 * A real provider (served by the package's plugin, provider/index.ts), not a dynamic one: dynamic
 * providers do not work inside a component consumed from another language (pulumi issue #5455).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createHash } from "crypto";
import { WatchedStep, driftOf, parseProbeOutput, probeRequest, stepOfKey } from "../steps/drift";
import { sshSession } from "../scripts/ssh-session";

/** The SDK's marker of a secret value on the provider wire (sdk/nodejs runtime/rpc). */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270";

function unwrap(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o[SECRET_SIG] === SECRET_SIG_VALUE) return unwrap(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unwrap(x)]));
  }
  return v;
}

interface Connection { host: string; port?: number; user?: string; privateKey: string; hostKey?: string }
interface Inputs { connection: Connection; user: string; server: string; steps: WatchedStep[] }

function inputsOf(props: Record<string, unknown>): Inputs {
  const p = unwrap(props) as Record<string, unknown>;
  return { connection: p.connection as Connection, user: String(p.user), server: String(p.server), steps: (p.steps as WatchedStep[]) ?? [] };
}

/** scripts/status/ beside provider/ from source, two levels up from the compiled dist/provider/. */
const probeScript = (): string => {
  const dir = [path.join(__dirname, "..", "scripts", "status"), path.join(__dirname, "..", "..", "scripts", "status")].find((d) => fs.existsSync(path.join(d, "drift-probe.sh")));
  if (!dir) throw new Error("scripts/status/drift-probe.sh not found beside the provider");
  return fs.readFileSync(path.join(dir, "drift-probe.sh"), "utf8");
};

/** One SSH session (scripts/ssh-session.ts) with the stack's key in a 0600 file for its length. */
async function ssh(conn: Connection, commandLine: string, stdin: string, timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-key-"));
  const key = path.join(dir, "key");
  try {
    fs.writeFileSync(key, conn.privateKey.replace(/\n?$/, "\n"), { mode: 0o600 });
    return await sshSession({ host: conn.host, port: conn.port ?? 22, user: conn.user ?? "root", hostKey: conn.hostKey }, key, commandLine, stdin, timeoutMs);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The drift entry of a server the probe could not reach (no step owns it: nothing to re-apply). */
const UNREACHABLE_KEY = "server: unreachable";

/** What differs on the server now, `{ "<step>: <item>": what }`. */
async function probe(inp: Inputs): Promise<Record<string, string | string[]>> {
  const sudo = inp.user === "root" ? "" : "sudo -n ";
  const r = await ssh(inp.connection, `${sudo}bash -s`, `${probeScript()}\n${probeRequest(inp.steps)}`, 60_000);
  if (r.code !== 0) throw new Error(`server ${inp.server} (${inp.connection.host}): the drift probe failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  return driftOf(inp.steps, parseProbeOutput(r.stdout));
}

/**
 * The inputs the engine sent with each read request, by URN. The SDK's provider server passes a
 * read only the stored outputs; the request also carries the stored inputs, which are current
 * (the engine writes a resource's new inputs even when diff() finds no change), while the outputs
 * are those of the last create/update. provider/index.ts fills this from the gRPC request.
 */
export const readInputs = new Map<string, Record<string, unknown>>();

export const serverStateProvider = {
  async check(_urn: string, _olds: Record<string, unknown>, news: Record<string, unknown>) {
    return { inputs: news };
  },

  /**
   * Only recorded drift is a change. A config change updates the steps, which is what a reviewer
   * reads in the preview; the watch follows without a line of its own: the engine stores the new
   * inputs anyway, and read() probes against those (readInputs), never against old outputs.
   */
  async diff(_id: string, _urn: string, olds: Record<string, unknown>) {
    const drift = (unwrap(olds.drift) as Record<string, unknown> | undefined) ?? {};
    return { changes: Object.keys(drift).length > 0 };
  },

  async create(_urn: string, inputs: Record<string, unknown>) {
    const inp = inputsOf(inputs);
    // Nothing to do on the server: the steps put everything there. The id only names the record.
    const id = createHash("sha256").update(`${inp.server}\n${inp.connection.host}`).digest("hex").slice(0, 16);
    return { id, outs: { ...inputs, drift: {} } };
  },

  async read(id: string, urn: string, props: Record<string, unknown>) {
    const inputs = readInputs.get(urn);
    readInputs.delete(urn);
    const inp = inputsOf(inputs ?? props);
    let drift: Record<string, string | string[]>;
    try {
      drift = await probe(inp);
    } catch (e) {
      // A server that does not answer is shown as such, in its own entry, and the other servers'
      // drift is still read (a failed read would stop the whole refresh). `up --refresh` then
      // fails for this server alone, naming it.
      drift = { [UNREACHABLE_KEY]: (e as Error).message.split("\n")[0] };
    }
    return { id, props: { ...props, drift } };
  },

  async update(_id: string, _urn: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
    const drift = (unwrap(olds.drift) as Record<string, unknown> | undefined) ?? {};
    const inp = inputsOf(news);
    const drifted = new Set(Object.keys(drift).map(stepOfKey));
    if (drifted.size === 0) return { outs: { ...news, drift: {} } };
    // The owning steps, in plan order, each with its own apply: what `up` would run.
    for (const step of inp.steps.filter((s) => drifted.has(s.name))) {
      const r = await ssh(inp.connection, step.command, step.payload, 15 * 60_000);
      if (r.code !== 0) {
        // Scripts never print payloads: their own messages say what failed.
        throw new Error(`server ${inp.server}: repairing step ${step.name} failed (exit ${r.code}):\n${(r.stdout + r.stderr).trim().split("\n").slice(-15).join("\n")}`);
      }
    }
    const left = await probe(inp);
    if (Object.keys(left).length) {
      throw new Error(`server ${inp.server}: still differs after re-applying ${[...drifted].join(", ")}:\n${Object.entries(left).map(([k, v]) => `  ${k}: ${Array.isArray(v) ? v[0] : v}`).join("\n")}`);
    }
    return { outs: { ...news, drift: {} } };
  },

  async delete() {
    // Nothing on the server is this resource's own: the steps' undo removes what they put there.
  },
};
