/**
 * Wiring tier: every bad config of test/support/bad-configs.ts run through the program's real entry
 * point (`main`, what `pulumi preview`/`up` call) under Pulumi's mocks. Each must fail with its own
 * message and register nothing: no resource, so no remote command can reach a host. And it must fail
 * by throwing (a RunError: message only, no stack trace), never by returning: a program that returns
 * counts as a success, and the engine then deletes everything the run did not declare — on a live
 * stack, the whole site (issue 19).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { badConfigs, goodStrings } from "../support/bad-configs";
import { CONFIG_NAMESPACE, secretKeys } from "../../config/keys";

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
    const strings = { ...goodStrings, ...c.strings() };
    // Secret keys are set as secrets, as `pulumi config set --secret` does (a plaintext one is refused first).
    const err = await runMain(strings, secretKeys.filter((k) => (strings[k] ?? "") !== "")).then(
      (out) => assert.fail(`main() returned ${JSON.stringify(out)}: a refused config must make the run fail, or the engine deletes the stack's resources`),
      (e: unknown) => e as Error,
    );
    assert.ok(pulumi.RunError.isInstance(err), `a RunError (printed without a stack trace), got ${String(err)}`);
    assert.deepEqual(registered, [], "no resource registered (zero remote commands)");
    const lines = err.message.split("\n").map((l) => l.replace(/^ {2}- /, ""));
    assert.equal(lines[0], "invalid stack configuration:");
    assert.ok(lines.some((l) => c.expected.test(l)), `expected ${c.expected} among:\n${lines.join("\n")}`);
    assert.equal(lines.at(-1), "(nothing was changed: fix the config and run again)");
    if (strings.providedCertificates) assert.ok(!/-----BEGIN|PRIVATE KEY-----|[A-Za-z0-9+/]{40}/.test(err.message), "no PEM text in the message");
  });
}
