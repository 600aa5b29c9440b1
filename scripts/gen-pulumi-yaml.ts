// Regenerates Pulumi.yaml from config/keys.ts (the render tier checks the two agree):
//   npx tsx scripts/gen-pulumi-yaml.ts > Pulumi.yaml
import { configKeys } from "../config/keys";
const lines = [
  "name: jupyterhub-edge",
  "description: JupyterHub behind nginx or Apache on a real server — HTTPS, websockets, managed bind_url.",
  // The program's entry, named: without it the nodejs host takes package.json's `exports` — the
  // library (dist/lib), which declares no resource — and `up` would delete the whole stack.
  "main: index.ts",
  "runtime:",
  "  name: nodejs",
  "  options:",
  "    typescript: true",
  "    packagemanager: npm",
  // The package's own provider (provider/): serves the ServerState resource, whose read lets
  // `pulumi preview --refresh` see hand edits. It runs the compiled package (`npm run build:lib`,
  // which `npm ci` runs as its prepare script).
  "plugins:",
  "  providers:",
  "    - name: jupyterhub-edge",
  "      path: ./provider",
  "config:",
];
for (const [k, v] of Object.entries(configKeys) as [string, any][]) {
  lines.push(`  jupyterhub-edge:${k}:`);
  lines.push(`    type: ${v.type}`);
  if (v.type === "array") lines.push(`    items:`, `      type: ${v.items ?? "object"}`);
  lines.push(`    description: ${JSON.stringify(v.description)}`);
  if (v.default !== undefined) lines.push(`    default: ${JSON.stringify(v.default)}`);
}
console.log(lines.join("\n"));
