/**
 * The secret checker itself (test/support/secret-audit.ts): it must find a secret in every form it
 * leaks in, and stay quiet on clean text — a checker that cannot fail proves nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "crypto";
import { execFileSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { findLeaks } from "../support/secret-audit";
import { credentialParams, redactedMarker } from "../../render/access-log";

const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const secrets = [{ name: "TLS key", value: key }, { name: "password", value: "correct horse battery" }];

test("secret audit: a leaked key or password is found in every form", () => {
  const pemLine = key.split("\n")[2];
  const places = [
    { where: "plain", text: `error: ${key}` },
    { where: "state", text: JSON.stringify({ outputs: { stdin: key } }) },
    { where: "one pem line", text: `... ${pemLine} ...` },
    { where: "base64", text: Buffer.from(key.trim()).toString("base64") },
    { where: "password", text: "login failed for correct horse battery" },
  ];
  const leaks = findLeaks(places, secrets);
  assert.deepEqual(leaks.map((l) => l.where).sort(), ["base64", "one pem line", "password", "plain", "state"]);
});

test("secret audit: clean text passes (masked values, ciphertext, other keys)", () => {
  const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const places = [
    { where: "masked log", text: `GET /hub/api?${credentialParams[0]}=${redactedMarker} HTTP/1.1` },
    { where: "another key", text: other },
    { where: "secret marker", text: '{"stdin": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:abc"}}' },
  ];
  assert.deepEqual(findLeaks(places, secrets), []);
});

test("secret audit: refuses to audit a secret too short to be recognised", () => {
  assert.throws(() => findLeaks([{ where: "x", text: "" }], [{ name: "pin", value: "1234" }]), /too short/);
});

test("secret audit: an OpenSSH key's private lines are found, the public point it repeats is not", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "jhe-audit-"));
  try {
    execFileSync("ssh-keygen", ["-q", "-t", "ecdsa", "-b", "256", "-N", "", "-f", path.join(dir, "k")]);
    const priv = readFileSync(path.join(dir, "k"), "utf8");
    const pub = readFileSync(path.join(dir, "k.pub"), "utf8").split(" ")[1];
    const body = priv.split("\n").filter((l) => l && !l.startsWith("-----"));
    const publicOnly = body.filter((l) => l.length >= 16 && pub.includes(l));
    assert.ok(publicOnly.length > 0, "an ECDSA OpenSSH key has a line of public bytes only");
    const secret = [{ name: "ssh key", value: priv }];
    assert.deepEqual(findLeaks([{ where: "state", text: `"publicKeyOpenssh": "ecdsa-sha2-nistp256 ${pub}"` }], secret), []);
    const privateLines = body.slice(2).filter((l) => !publicOnly.includes(l));
    assert.ok(privateLines.length >= 2);
    for (const l of privateLines) assert.equal(findLeaks([{ where: "dump", text: l }], secret).length, 1, `private line ${l.slice(0, 8)}… not found`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
