/**
 * Wiring tier: every bad config of test/support/bad-configs.ts run through the program's real entry
 * point (`main`, what `pulumi preview`/`up` call) under Pulumi's mocks. Each must fail with its own
 * message and register nothing: no resource, so no remote command can reach a host.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { badConfigs, goodStrings } from "../support/bad-configs";
import { CONFIG_NAMESPACE } from "../../config/keys";

const registered: string[] = [];
pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      registered.push(`${args.type} ${args.name}`);
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type === "tls:index/privateKey:PrivateKey") state.privateKeyPem = "KEY";
      if (args.type.startsWith("tls:index/") && /Cert:/.test(args.type)) state.certPem = "CERT";
      if (args.type === "tls:index/certRequest:CertRequest") state.certRequestPem = "CSR";
      return { id: `${args.name}-id`, state };
    },
    call: (args) => args.inputs,
  },
  "jupyterhub-edge",
  "bad-config",
  false,
);

const logged: string[] = [];
before(() => {
  // main() reports config problems as an error diagnostic; keep them for the assertions.
  const log = pulumi.log as unknown as { error: (msg: string) => Promise<void> };
  log.error = async (msg: string) => {
    logged.push(msg);
  };
});

async function runMain(strings: Record<string, string>, secretKeys: string[] = []): Promise<unknown> {
  const config = Object.fromEntries(Object.entries(strings).filter(([, v]) => v !== "").map(([k, v]) => [k.includes(":") ? k : `${CONFIG_NAMESPACE}:${k}`, v]));
  pulumi.runtime.setAllConfig(config, secretKeys.map((k) => `${CONFIG_NAMESPACE}:${k}`));
  const { main } = await import("../../program");
  const out = await main();
  await new Promise((r) => setTimeout(r, 20)); // let any registration the program started reach the mock
  return out;
}

test("the good base config does register resources (so the zero counts below can fail)", async () => {
  const before = registered.length;
  const out = await runMain(goodStrings);
  assert.ok(out && Object.keys(out as object).length > 0, "outputs");
  assert.ok(registered.slice(before).some((r) => r.startsWith("command:remote:Command ")), `no remote command among:\n${registered.join("\n")}`);
});

for (const c of badConfigs) {
  test(`bad config reaches no host: ${c.what}`, async () => {
    registered.length = 0;
    logged.length = 0;
    const strings = { ...goodStrings, ...c.strings() };
    const out = await runMain(strings, strings.providedCertificates ? ["providedCertificates"] : []);
    assert.deepEqual(out, {}, "no outputs");
    assert.deepEqual(registered, [], "no resource registered (zero remote commands)");
    assert.equal(logged.length, 1, "one error diagnostic");
    const lines = logged[0].split("\n").map((l) => l.replace(/^ {2}- /, ""));
    assert.equal(lines[0], "invalid stack configuration:");
    assert.ok(lines.some((l) => c.expected.test(l)), `expected ${c.expected} among:\n${lines.join("\n")}`);
    if (strings.providedCertificates) assert.ok(!/-----BEGIN|PRIVATE KEY-----|[A-Za-z0-9+/]{40}/.test(logged[0]), "no PEM text in the message");
  });
}
