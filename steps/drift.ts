/**
 * Drift: what each step put on the server, as items a read-only probe can check again later, and
 * how a difference reads in a preview. Pure (no Pulumi, no I/O): the components compute the items
 * from the very payloads the steps apply, the provider (provider/server-state.ts) compares them
 * with what scripts/status/drift-probe.sh finds on the server.
 *
 * Watched: every file a files/capacity step writes (content, mode, owner and group), the hub
 * config's managed block, each package a packages step installs and the unit it keeps running and
 * enabled, and on SELinux hosts the selinux step's booleans, port types and the labels of the paths
 * it gives file contexts. A difference is repaired by running the owning step's own apply again
 * (its config test, graceful reload and rollback; the selinux step re-asserts and relabels): the
 * item records its step. Not watched yet: Apache modules, web-root directories, certbot's lineages
 * (certbot renews those itself).
 */
import { createHash } from "crypto";
import { Step, remoteCommand } from "./plan";
import { parseWire } from "../render/wire";

/** The resource that watches one server (components/server-state.ts), served by this package's provider. */
export const SERVER_STATE_TYPE = "jupyterhub-edge:index:ServerState";

export type WatchItem =
  | { kind: "file"; step: string; path: string; mode: string; group: string; sha256: string; /** Non-secret steps only: for the diff. */ content?: string }
  | { kind: "block"; step: string; path: string; sha256: string; content: string }
  | { kind: "package"; step: string; manager: string; name: string }
  | { kind: "unit"; step: string; unit: string }
  | { kind: "selinuxBoolean"; step: string; name: string; value: string }
  | { kind: "selinuxPort"; step: string; proto: string; port: string; type: string }
  | { kind: "selinuxLabel"; step: string; path: string; type: string };

/** One step as the drift watch knows it: how to apply it again, and what it owns. */
export interface WatchedStep {
  name: string;
  /** The step's own apply command line (remoteCommand). */
  command: string;
  /** The payload the step applies (secret steps: in a secret input). */
  payload: string;
  items: WatchItem[];
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

/** Scripts whose steps own things the probe can check. */
const WATCHED_SCRIPTS = new Set(["files", "capacity", "hub-managed-block", "packages", "selinux"]);

export function isWatched(step: Pick<Step<unknown>, "script">): boolean {
  return WATCHED_SCRIPTS.has(step.script);
}

/** The file entries of a payload (render/wire.ts). */
export function parseFileRecords(payload: string): { path: string; mode: string; group: string; content: string }[] {
  return parseWire(payload).files;
}

/** What a step owns on the server, from the payload it applies. */
export function watchItems(step: Pick<Step<unknown>, "name" | "script" | "secret">, payload: string): WatchItem[] {
  switch (step.script) {
    case "files":
    case "capacity":
      return parseFileRecords(payload).map((f) => ({
        kind: "file",
        step: step.name,
        path: f.path,
        mode: f.mode,
        group: f.group,
        sha256: sha256(f.content),
        ...(step.secret ? {} : { content: f.content }),
      }));
    case "hub-managed-block": {
      const { values, text } = parseWire(payload);
      return [{ kind: "block", step: step.name, path: values.config, sha256: sha256(text), content: text }];
    }
    case "packages": {
      const kv = parseWire(payload).values;
      const packages = (kv.packages ?? "").split(" ").filter(Boolean);
      return [
        ...packages.map((name): WatchItem => ({ kind: "package", step: step.name, manager: kv.manager, name })),
        ...(kv.service ? [{ kind: "unit" as const, step: step.name, unit: kv.service }] : []),
      ];
    }
    case "selinux":
      // steps/selinux.ts: `boolean NAME on|off`, `port PROTO PORT TYPE`, `fcontext PATH TYPE tree|file`.
      return parseWire(payload).records.flatMap(({ key: kind, value }): WatchItem[] => {
        const [a, b, c] = value.split(" ");
        if (kind === "boolean") return [{ kind: "selinuxBoolean", step: step.name, name: a, value: b }];
        if (kind === "port") return [{ kind: "selinuxPort", step: step.name, proto: a, port: b, type: c }];
        if (kind === "fcontext") return [{ kind: "selinuxLabel", step: step.name, path: a, type: b }];
        return [];
      });
    default:
      return [];
  }
}

export function watchedStep(step: Step<unknown>, payload: string, user: string): WatchedStep {
  return { name: step.name, command: remoteCommand(step, "apply", user), payload, items: watchItems(step, payload) };
}

/**
 * A unit is watched once, by the first step in plan order that keeps it running (Apache's unit:
 * the proxy's packages step, not the rate-limit module's), so a stopped proxy is one item and its
 * repair one step.
 */
export function ownUnitsOnce(steps: WatchedStep[]): WatchedStep[] {
  const seen = new Set<string>();
  return steps.map((s) => ({
    ...s,
    items: s.items.filter((i) => i.kind !== "unit" || (!seen.has(i.unit) && (seen.add(i.unit), true))),
  }));
}

/**
 * The watch of a plan whose payloads are text already (the status board, scripts/status.ts): the
 * same items components/server-state.ts computes once Pulumi has resolved the payloads.
 */
export function watchPlan(steps: Step<string>[], user: string): WatchedStep[] {
  return ownUnitsOnce(steps.filter(isWatched).map((s) => watchedStep(s, s.payload, user)));
}

/** The probe's request lines (scripts/status/drift-probe.sh): what to look at, never what to expect. */
export function probeRequest(steps: WatchedStep[]): string {
  const lines = new Set<string>();
  for (const item of steps.flatMap((s) => s.items)) {
    switch (item.kind) {
      case "file": lines.add(`file ${item.path}`); if (item.content !== undefined) lines.add(`content ${item.path}`); break;
      case "block": lines.add(`block ${item.path}`); break;
      case "package": lines.add(`package ${item.manager} ${item.name}`); break;
      case "unit": lines.add(`unit ${item.unit}`); break;
      case "selinuxBoolean": lines.add(`selinux_boolean ${item.name}`); break;
      case "selinuxPort": lines.add(`selinux_port ${item.proto} ${item.port}`); break;
      case "selinuxLabel": lines.add(`selinux_label ${item.path}`); break;
    }
  }
  return [...lines].join("\n") + "\n";
}

/** What the probe found, by request. */
export interface Found {
  files: Map<string, { sha256: string; mode: string; owner: string; group: string } | "missing">;
  contents: Map<string, string>;
  blocks: Map<string, { sha256: string; content: string } | "missing">;
  packages: Map<string, boolean>;
  units: Map<string, { active: string; enabled: string }>;
  /** False when the host does not run SELinux: its items are not looked at. */
  selinux: boolean;
  booleans: Map<string, string>;
  /** `proto/port` → the types the policy gives it (local changes included). */
  ports: Map<string, string[]>;
  /** Path → the type of its label; "missing" when the path does not exist. */
  labels: Map<string, string>;
}

export function parseProbeOutput(stdout: string): Found {
  const found: Found = { files: new Map(), contents: new Map(), blocks: new Map(), packages: new Map(), units: new Map(), selinux: true, booleans: new Map(), ports: new Map(), labels: new Map() };
  const b64 = (s: string) => Buffer.from(s, "base64").toString("utf8");
  for (const line of stdout.split("\n")) {
    const [kind, ...rest] = line.split(" ");
    switch (kind) {
      case "file":
        found.files.set(rest[0], rest[1] === "missing" ? "missing" : { sha256: rest[1], mode: rest[2].padStart(4, "0"), owner: rest[3], group: rest[4] });
        break;
      case "content":
        found.contents.set(rest[0], b64(rest[1] ?? ""));
        break;
      case "block":
        found.blocks.set(rest[0], rest[1] === "missing" ? "missing" : { sha256: rest[1], content: b64(rest[2] ?? "") });
        break;
      case "package":
        found.packages.set(rest[0], rest[1] === "installed");
        break;
      case "unit":
        found.units.set(rest[0], { active: rest[1], enabled: rest[2] });
        break;
      case "selinux":
        if (rest[0] === "off") found.selinux = false;
        break;
      case "selinux_boolean":
        found.booleans.set(rest[0], rest[1]);
        break;
      case "selinux_port":
        found.ports.set(`${rest[0]}/${rest[1]}`, (rest[2] ?? "").split(",").filter(Boolean));
        break;
      case "selinux_label":
        found.labels.set(rest[0], rest[1]);
        break;
    }
  }
  return found;
}

/** The key of one item in the `drift` map: the step that owns it, then the item. */
export function itemKey(item: WatchItem): string {
  switch (item.kind) {
    case "file": return `${item.step}: ${item.path}`;
    case "block": return `${item.step}: ${item.path} (managed block)`;
    case "package": return `${item.step}: package ${item.name}`;
    case "unit": return `${item.step}: unit ${item.unit}`;
    case "selinuxBoolean": return `${item.step}: boolean ${item.name}`;
    case "selinuxPort": return `${item.step}: port ${item.proto}/${item.port}`;
    case "selinuxLabel": return `${item.step}: label of ${item.path}`;
  }
}

export const stepOfKey = (key: string): string => key.slice(0, key.indexOf(":"));

/**
 * Every watched item that differs from what the program put there, as `{key: what differs}`. A
 * secret file's difference says only that it changed; a plain file's shows a short unified diff
 * (then the value is its lines).
 */
export function driftOf(steps: WatchedStep[], found: Found): Record<string, string | string[]> {
  const drift: Record<string, string | string[]> = {};
  for (const item of steps.flatMap((s) => s.items)) {
    const problems: string[] = [];
    let diff: string | undefined;
    if (item.kind === "file") {
      const f = found.files.get(item.path);
      if (f === undefined) continue; // not asked (cannot happen) — never report what was not looked at
      if (f === "missing") problems.push("missing (the program wrote it)");
      else {
        if (f.sha256 !== item.sha256) {
          if (item.content === undefined) problems.push("content changed (secret file: not shown)");
          else {
            problems.push("content changed");
            const now = found.contents.get(item.path);
            if (now !== undefined) diff = unifiedDiff(item.content, now, item.path);
          }
        }
        if (f.mode !== item.mode) problems.push(`mode ${f.mode}, the program set ${item.mode}`);
        if (f.owner !== "root" || f.group !== item.group) problems.push(`owner ${f.owner}:${f.group}, the program set root:${item.group}`);
      }
    } else if (item.kind === "block") {
      const b = found.blocks.get(item.path);
      if (b === "missing") problems.push("managed block missing (the program wrote it)");
      else if (b && b.sha256 !== item.sha256) {
        problems.push("managed block changed");
        diff = unifiedDiff(item.content, b.content, item.path);
      }
    } else if (item.kind === "package") {
      if (found.packages.get(item.name) === false) problems.push("not installed (the program installed it)");
    } else if (item.kind === "selinuxBoolean") {
      const v = found.booleans.get(item.name);
      // Empty: getsebool could not say (not a value to compare).
      if (found.selinux && v && v !== item.value) problems.push(`${v}, the program set ${item.value}`);
    } else if (item.kind === "selinuxPort") {
      const types = found.ports.get(`${item.proto}/${item.port}`);
      if (found.selinux && types && !types.includes(item.type)) problems.push(`${item.proto}/${item.port} is ${types.join(", ") || "unlabelled"}, the program labels it ${item.type}`);
    } else if (item.kind === "selinuxLabel") {
      const t = found.labels.get(item.path);
      if (found.selinux && t !== undefined && t !== "missing" && t !== item.type) problems.push(`labelled ${t}, the program's file context says ${item.type}`);
    } else {
      const u = found.units.get(item.unit);
      if (u && u.active !== "active") problems.push(`${u.active}, the program keeps it running`);
      if (u && u.enabled !== "enabled" && u.enabled !== "static" && u.enabled !== "alias") problems.push(`${u.enabled}, the program enables it`);
    }
    // One line as a string; with a diff, a list of lines (a preview shows a list whole, but only
    // the first lines of a multi-line string).
    if (problems.length) drift[itemKey(item)] = diff ? [problems.join("; "), ...diff.split("\n")] : problems.join("; ");
  }
  return drift;
}

/**
 * A unified diff of two texts (what the program wrote → what is there now), 2 lines of context,
 * at most `maxLines` lines: enough to see a hand edit in a preview without flooding it.
 */
export function unifiedDiff(wrote: string, now: string, label: string, maxLines = 40): string {
  const a = wrote.replace(/\n$/, "").split("\n");
  const b = now.replace(/\n$/, "").split("\n");
  // Longest common subsequence table (files here are a few hundred lines at most).
  const n = a.length, m = b.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const ops: { op: " " | "-" | "+"; line: string; ai: number; bi: number }[] = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { ops.push({ op: " ", line: a[i], ai: i, bi: j }); i++; j++; }
    else if (j < m && (i === n || lcs[i][j + 1] > lcs[i + 1][j])) { ops.push({ op: "+", line: b[j], ai: i, bi: j }); j++; }
    else { ops.push({ op: "-", line: a[i], ai: i, bi: j }); i++; }
  }
  const context = 2;
  const keep = ops.map((o, k) => o.op !== " " || ops.slice(Math.max(0, k - context), k + context + 1).some((x) => x.op !== " "));
  const out = [`--- ${label} (as the program wrote it)`, `+++ ${label} (on the server now)`];
  for (let k = 0; k < ops.length; k++) {
    if (!keep[k]) continue;
    if (k === 0 || !keep[k - 1]) {
      let end = k;
      while (end < ops.length && keep[end]) end++;
      const hunk = ops.slice(k, end);
      const aLen = hunk.filter((o) => o.op !== "+").length, bLen = hunk.filter((o) => o.op !== "-").length;
      out.push(`@@ -${ops[k].ai + 1},${aLen} +${ops[k].bi + 1},${bLen} @@`);
    }
    out.push(`${ops[k].op}${ops[k].line}`);
  }
  if (out.length > maxLines) return [...out.slice(0, maxLines), `… (${out.length - maxLines} more lines)`].join("\n");
  return out.join("\n");
}
