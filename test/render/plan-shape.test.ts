/**
 * Render tier: the shape of every variant's plan — each step's name, owner, script, `after`,
 * `replaceOn` and whether it carries `newVersionOn` — against a golden file, so a change to the
 * planners (steps/planners/) that reorders, renames or rewires a step shows up as a diff. Payloads
 * are the renderers' golden files' business.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../config/schema";
import { planSteps, stepOwners } from "../../steps/plan";
import { variants } from "./variants";
import { golden } from "../support/golden";

/** Stand-ins for the secret payloads, so that every step a variant can have is planned. */
const secretStandIns = ["CERTIFICATES", "HTPASSWD", "ACME-IMPORT", "ACME-SECRETS"] as const;

const plans = Object.entries(variants).flatMap(([name, raw]) =>
  (["nginx", "apache"] as const).map((proxy) => {
    const { site } = parseConfig({ ...raw, proxy });
    return { name: `${name} ${proxy}`, steps: planSteps<string>(site, ...secretStandIns) };
  }),
);

test("plan shape of every variant × proxy matches its golden file", () => {
  const text = plans
    .map(({ name, steps }) =>
      [`# ${name}`, ...steps.map((s) => [s.name, s.owner, s.script, `after=${s.after.join(",")}`, ...(s.replaceOn ? [`replaceOn=${s.replaceOn}`] : []), ...(s.newVersionOn ? ["newVersionOn"] : [])].join(" "))].join("\n"),
    )
    .join("\n\n");
  golden("plan/steps.txt", text + "\n");
});

test("every owner plans a step in some variant, and step names are unique per plan", () => {
  const owners = new Set(plans.flatMap((p) => p.steps.map((s) => s.owner)));
  assert.deepEqual([...stepOwners].filter((o) => !owners.has(o)), []);
  for (const { name, steps } of plans) assert.equal(new Set(steps.map((s) => s.name)).size, steps.length, name);
});
