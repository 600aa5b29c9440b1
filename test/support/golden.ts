/**
 * Golden files (test/fixtures/golden/…): a rendered text must equal its committed golden copy.
 * `UPDATE_GOLDEN=1` rewrites them; under CI a missing golden file fails instead of being written.
 */
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";

const goldenRoot = path.join(__dirname, "..", "fixtures", "golden");

/** `name` is relative to test/fixtures/golden, e.g. "nginx/debian13-default.conf". */
export function golden(name: string, actual: string): void {
  const file = path.join(goldenRoot, name);
  if (process.env.UPDATE_GOLDEN === "1" || !fs.existsSync(file)) {
    if (process.env.CI === "true" && !fs.existsSync(file)) assert.fail(`golden file ${name} is missing; run UPDATE_GOLDEN=1 locally and commit it`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, actual);
  }
  assert.equal(actual, fs.readFileSync(file, "utf8"), `${name} differs from its golden file (UPDATE_GOLDEN=1 to accept)`);
}
