/**
 * The one wire format from the program to its remote scripts (the payload a step reads on stdin),
 * its one writer, and its one reader on this side (the drift watch reads payloads back). The
 * scripts read it with lib.sh's `read_payload`; no script parses a format of its own.
 *
 *   KEY VALUE               a value; KEY in [a-z_]+, VALUE one line. A key may repeat: records, in order
 *   file PATH MODE [GROUP]  a file entry (owner root, group root unless given), its content as `|`
 *   |LINE …                 lines, closed by `end`; every content line is prefixed, so no content
 *   end                     can be taken for a marker
 *   |LINE …                 outside a file entry: the payload's text block
 *   # …                     a comment (says why; ignored)
 *
 * Pure and at the bottom of the render layer: renderers that build a payload (fail2ban, htpasswd)
 * and the plan's builders both use it.
 * Human-readable on purpose: it is what `pulumi preview --diff` shows, line by line.
 */
/** A file entry: what render/files.ts's RenderedFile carries (structural: this module imports nothing). */
export interface WireFile {
  path: string;
  /** Octal mode string, e.g. "0644". */
  mode: string;
  group?: string;
  content: string;
}

export type WireEntry =
  | { kind: "value"; key: string; value: string }
  | { kind: "file"; file: WireFile }
  | { kind: "text"; text: string }
  | { kind: "comment"; text: string };

const KEY = /^[a-z_]+$/;

/** `KEY VALUE` entries, in the object's order. */
export const values = (entries: Record<string, string>): WireEntry[] => Object.entries(entries).map(([key, value]) => ({ kind: "value", key, value }));
/** Records of one kind: `KEY FIELD FIELD…` lines, in order. */
export const records = (key: string, rows: readonly (readonly string[])[]): WireEntry[] => rows.map((fields) => ({ kind: "value", key, value: fields.join(" ") }));
export const files = (list: readonly WireFile[]): WireEntry[] => list.map((file) => ({ kind: "file", file }));
export const text = (block: string): WireEntry[] => [{ kind: "text", text: block }];
export const comment = (line: string): WireEntry[] => [{ kind: "comment", text: line }];

/** `|`-prefixed lines of a text (a trailing newline ends the last line; it adds none). */
const prefixed = (content: string): string[] => content.replace(/\n$/, "").split("\n").map((l) => `|${l}`);

/** The payload text of these entries. */
export function wire(...groups: WireEntry[][]): string {
  const out: string[] = [];
  for (const e of groups.flat()) {
    switch (e.kind) {
      case "value":
        if (!KEY.test(e.key) || e.key === "file" || e.key === "end") throw new Error(`payload key '${e.key}' must be [a-z_]+ and not file/end`);
        if (/[\n\r]/.test(e.value)) throw new Error(`payload value for ${e.key} must be one line`);
        out.push(`${e.key} ${e.value}`);
        break;
      case "file": {
        const f = e.file;
        if (!f.content.endsWith("\n")) throw new Error(`rendered file ${f.path} must end with a newline`);
        out.push(`file ${f.path} ${f.mode}${f.group ? ` ${f.group}` : ""}`, ...prefixed(f.content), "end");
        break;
      }
      case "text":
        out.push(...prefixed(e.text));
        break;
      case "comment":
        if (/[\n\r]/.test(e.text)) throw new Error("a payload comment must be one line");
        out.push(`# ${e.text}`);
        break;
    }
  }
  return out.length ? out.join("\n") + "\n" : "";
}

export interface ParsedPayload {
  /** Each key's value (the last, if it repeats), as lib.sh's PAYLOAD[KEY]. */
  values: Record<string, string>;
  /** Every `KEY VALUE` line, in order. */
  records: { key: string; value: string }[];
  files: { path: string; mode: string; group: string; content: string }[];
  /** The text block (`|` lines outside file entries), newline-terminated; "" if none. */
  text: string;
}

/** Reads a payload as lib.sh's read_payload does (without its per-script key checks). */
export function parseWire(payload: string): ParsedPayload {
  const parsed: ParsedPayload = { values: {}, records: [], files: [], text: "" };
  const textLines: string[] = [];
  let current: { path: string; mode: string; group: string; lines: string[] } | undefined;
  for (const line of payload.split("\n")) {
    if (line.startsWith("|")) {
      (current ? current.lines : textLines).push(line.slice(1));
      continue;
    }
    if (line === "end" && current) {
      parsed.files.push({ path: current.path, mode: current.mode, group: current.group, content: current.lines.join("\n") + "\n" });
      current = undefined;
      continue;
    }
    if (line === "" || line.startsWith("#")) continue;
    if (current) throw new Error(`payload: unexpected line in the file entry of ${current.path}`);
    const key = line.split(" ", 1)[0];
    const value = line.slice(key.length).replace(/^ /, "");
    if (key === "file") {
      const m = /^(\S+) ([0-7]{3,4})(?: (\S+))?$/.exec(value);
      if (!m) throw new Error("payload: malformed file entry");
      current = { path: m[1], mode: m[2].padStart(4, "0"), group: m[3] ?? "root", lines: [] };
      continue;
    }
    if (!KEY.test(key)) throw new Error(`payload: malformed line (key '${key.slice(0, 20)}')`);
    parsed.values[key] = value;
    parsed.records.push({ key, value });
  }
  if (current) throw new Error(`payload: the file entry of ${current.path} has no end`);
  parsed.text = textLines.length ? textLines.join("\n") + "\n" : "";
  return parsed;
}
