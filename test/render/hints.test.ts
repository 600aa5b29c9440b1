/**
 * Render tier: the commands the program prints for users to copy (scripts/hints.ts) work as printed.
 * The curl line is run by bash against a real HTTPS server on a non-default port, reached only
 * through the line's own --resolve (the domain has no DNS); the host tier runs it against a proxy.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { AddressInfo } from "net";
import { scriptCommand, shellWord, tryItCurl } from "../../scripts/hints";
import { makeTestCa } from "../support/test-ca";

test("hints: the curl line resolves the URL's own port (443 or not) and brackets IPv6 addresses", () => {
  assert.equal(tryItCurl("https://hub.example.org/", "/tmp/ca.pem", "10.0.0.2"), "curl --cacert /tmp/ca.pem --resolve hub.example.org:443:10.0.0.2 https://hub.example.org/hub/login");
  assert.equal(tryItCurl("https://hub.example.org:8443/jhub/", "/tmp/ca.pem", "10.0.0.2"), "curl --cacert /tmp/ca.pem --resolve hub.example.org:8443:10.0.0.2 https://hub.example.org:8443/jhub/hub/login");
  assert.equal(tryItCurl("https://hub.example.org/", "/tmp/ca.pem", "2001:db8::2"), "curl --cacert /tmp/ca.pem --resolve 'hub.example.org:443:[2001:db8::2]' https://hub.example.org/hub/login");
  assert.equal(shellWord("/tmp/my dir/ca.pem"), "'/tmp/my dir/ca.pem'");
  assert.equal(shellWord("it's"), `'it'\\''s'`);
});

test("hints: script commands are relative to where the user started, else absolute", () => {
  assert.equal(scriptCommand("/work/repo", "/work/repo", "scripts/deploy-dev.sh", "preview"), "scripts/deploy-dev.sh preview");
  assert.equal(scriptCommand("/work/repo", "/work/repo/scripts", "scripts/deploy-dev.sh", "destroy"), "./deploy-dev.sh destroy");
  assert.equal(scriptCommand("/work/repo", "/home/me", "scripts/deploy-dev.sh", "destroy"), "/work/repo/scripts/deploy-dev.sh destroy");
  const repo = path.join(__dirname, "..", "..");
  for (const cwd of [repo, path.join(repo, "scripts"), os.tmpdir()]) {
    const [file] = scriptCommand(repo, cwd, "scripts/deploy-dev.sh", "preview").split(" ");
    fs.accessSync(path.resolve(cwd, file), fs.constants.X_OK);
  }
});

test("hints: the printed curl line, run by bash as printed, reaches an HTTPS server on port ≠ 443 with the name verified", async () => {
  const ca = makeTestCa(["hub.example.org"]);
  const [m] = ca.material;
  const server = https.createServer({ cert: m.fullchainPem, key: m.privateKeyPem }, (req, res) => {
    res.end(`path ${req.url} host ${req.headers.host}\n`);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as AddressInfo).port;
  try {
    const caFile = path.join(ca.dir, "ca.pem");
    const line = tryItCurl(`https://hub.example.org:${port}/jhub/`, caFile, "127.0.0.1");
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((ok) => {
      const p = spawn("bash", ["-c", line]);
      let stdout = "", stderr = "";
      p.stdout.on("data", (d) => (stdout += d));
      p.stderr.on("data", (d) => (stderr += d));
      p.on("close", (status) => ok({ status, stdout, stderr }));
    });
    assert.equal(run.status, 0, `${line}\n${run.stderr}`);
    assert.equal(run.stdout, `path /jhub/hub/login host hub.example.org:${port}\n`);
  } finally {
    server.close();
  }
});
