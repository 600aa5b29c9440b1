/**
 * Render tier: the shipped code's import graph, checked by dependency-cruiser against
 * .dependency-cruiser.cjs — no import points up the layers (model ← config; model ← render ←
 * steps ← components; lib, the program and the provider on top), no import cycle, and no shipped
 * layer imports the test tree. Prints the tool's figures.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const root = path.join(__dirname, "..", "..");
const shipped = ["index.ts", "program.ts", "lib", "config", "model", "render", "steps", "components", "provider", "scripts"];

interface CruiseResult {
  summary: {
    totalCruised: number;
    totalDependenciesCruised: number;
    violations: { type: string; from: string; to: string; rule: { name: string }; cycle?: { name: string }[] }[];
  };
}

test("shipped code: no upward import, no import cycle (dependency-cruiser)", () => {
  const bin = path.join(root, "node_modules", ".bin", "depcruise");
  assert.ok(fs.existsSync(bin), "dependency-cruiser is a devDependency: run npm ci");
  const run = spawnSync(bin, ["--config", ".dependency-cruiser.cjs", "--output-type", "json", ...shipped], { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  assert.ok(run.stdout, `depcruise printed nothing: ${run.stderr}`);
  const { summary } = JSON.parse(run.stdout) as CruiseResult;
  const cycles = summary.violations.filter((v) => v.rule.name === "no-cycle");
  console.log(`import graph: ${summary.totalCruised} modules, ${summary.totalDependenciesCruised} dependencies, ${summary.violations.length} violations, ${cycles.length} cycles`);
  assert.deepEqual(
    summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}${v.cycle ? ` (${v.cycle.map((c) => c.name).join(" → ")})` : ""}`),
    [],
  );
  assert.ok(summary.totalCruised > 50, "the shipped modules were found");
});
