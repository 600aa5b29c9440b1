/**
 * Config files as ordered directive trees, with one serializer per syntax. Renderers build trees;
 * only the serializers know about indentation, quoting and terminators.
 */

export type Node =
  | { kind: "directive"; name: string; args: string[] }
  | { kind: "block"; name: string; args: string[]; children: Node[] }
  | { kind: "comment"; text: string }
  | { kind: "blank" };

export const d = (name: string, ...args: (string | number)[]): Node => ({ kind: "directive", name, args: args.map(String) });
export const block = (name: string, args: (string | number)[], children: Node[]): Node => ({
  kind: "block",
  name,
  args: args.map(String),
  children,
});
export const comment = (...lines: string[]): Node[] => lines.map((text) => ({ kind: "comment", text }));
export const blank: Node = { kind: "blank" };

const indentUnit = "    ";

/** nginx: `name args;` and `name args { … }`. */
export function serializeNginx(nodes: Node[], depth = 0): string {
  const pad = indentUnit.repeat(depth);
  return nodes
    .map((n) => {
      switch (n.kind) {
        case "blank":
          return "";
        case "comment":
          return `${pad}# ${n.text}`.trimEnd();
        case "directive":
          return `${pad}${[n.name, ...n.args].join(" ")};`;
        case "block":
          return `${pad}${[n.name, ...n.args].join(" ")} {\n${serializeNginx(n.children, depth + 1)}\n${pad}}`;
      }
    })
    .join("\n");
}

/** Apache: `Name args` and `<Name args> … </Name>`. */
export function serializeApache(nodes: Node[], depth = 0): string {
  const pad = indentUnit.repeat(depth);
  return nodes
    .map((n) => {
      switch (n.kind) {
        case "blank":
          return "";
        case "comment":
          return `${pad}# ${n.text}`.trimEnd();
        case "directive":
          return `${pad}${[n.name, ...n.args].join(" ")}`;
        case "block":
          return `${pad}<${[n.name, ...n.args].join(" ")}>\n${serializeApache(n.children, depth + 1)}\n${pad}</${n.name}>`;
      }
    })
    .join("\n");
}

/** Double-quoted string for either syntax; inputs are validated to hold no quotes or backslashes. */
export const quoted = (s: string): string => `"${s.replace(/(["\\])/g, "\\$1")}"`;
