/**
 * The dev stack (Pulumi.dev.yaml, deployed by scripts/deploy-dev.sh) pins its host's SSH key:
 * without a pinned key the SSH provider accepts any host key.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";

test("dev stack: host-key pinning is on (hostKey or hostKeyFile set)", () => {
  const text = fs.readFileSync(path.join(__dirname, "..", "..", "Pulumi.dev.yaml"), "utf8");
  assert.match(text, /^\s+jupyterhub-edge:hostKey(File)?: \S+/m);
});
