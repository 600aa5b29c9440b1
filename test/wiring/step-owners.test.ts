/**
 * Wiring tier: every planned step is created by exactly one component, its owner's (steps/step.ts
 * StepOwner), as a command named `<component>-<step>` under that component. Under Pulumi's mocks,
 * for variants that between them plan every owner's steps.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { parseConfig } from "../../config/schema";
import { Step, StepOwner, planSteps } from "../../steps/plan";
import { variants } from "../render/variants";

/** The component type each owner's steps hang under (certificates: the self-signed CA's, when there is one). */
const ownerType: Record<StepOwner, string> = {
  host: "jupyterhub-edge:host:Host",
  proxy: "jupyterhub-edge:proxy:ReverseProxy",
  certificates: "jupyterhub-edge:tls:SelfSignedCertificates",
  acme: "jupyterhub-edge:tls:AcmeCertificates",
  "split-auth": "jupyterhub-edge:auth:SplitAuth",
  "brute-force": "jupyterhub-edge:security:BruteForceProtection",
  hub: "jupyterhub-edge:hub:HubBindUrl",
};

const cases: Record<string, Record<string, unknown>> = {
  "nginx-default": variants["debian13-default"],
  "apache-dns01-splitauth": { ...variants["debian13-dns01-subdomains"], proxy: "apache" },
  "apache-carry-over-dhe": { ...variants["debian12-dhe-ocsp-provided"], proxy: "apache", certificateMode: "acme", acmeEmail: "a@example.org", acmeCarryOverDomains: ["hub.example.org"], ocspStapling: false, providedDomains: [] },
  "rhel-firewall-selinux": { ...variants["debian13-extra-site"], platform: "rhel-9", selinux: "on" },
};

interface Made { name: string; parent?: string; parentType?: string }
const made: Made[] = [];
const planned: Record<string, Step<unknown>[]> = {};

pulumi.runtime.setMocks(
  {
    newResource: (a) => ({ id: `${a.name}-id`, state: { ...a.inputs, certPem: "CERT", privateKeyPem: "KEY", certRequestPem: "CSR", result: "generated-password", hex: "00112233445566778899aabbccddeeff" } }),
    call: (a) => a.inputs,
  },
  "jupyterhub-edge",
  "step-owners",
  false,
);

before(async () => {
  const { deploy } = await import("../../program");
  const record: pulumi.ResourceTransformation = (args) => {
    const parent = args.opts.parent as unknown as { __name?: string; __pulumiType?: string } | undefined;
    if (args.type === "command:remote:Command") made.push({ name: args.name, parent: parent?.__name, parentType: parent?.__pulumiType });
    return undefined;
  };
  for (const [name, raw] of Object.entries(cases)) {
    const { site, connection } = parseConfig(raw);
    planned[name] = planSteps<unknown>(site, "C", "H", undefined, "S");
    const material = (raw.providedDomains as string[] | undefined ?? []).map((domain) => ({ domain, fullchainPem: "C", privateKeyPem: "K" }));
    deploy(
      {
        site, connection, privateKey: pulumi.secret("KEY"), providedCertificates: pulumi.secret(material), splitAuthPasswords: pulumi.secret<Record<string, string>>({ workshop: "password123" }),
        acmeCarryOver: pulumi.secret<Record<string, string>>({}), acmeSecrets: pulumi.secret({ tsigSecret: "c2VjcmV0c2VjcmV0c2VjcmV0", eabHmacKey: "abc" }),
      },
      { transformations: [record] },
      name,
    );
  }
  await new Promise((r) => setTimeout(r, 300));
});

for (const name of Object.keys(cases)) {
  test(`${name}: each planned step is one command, under its owner's component`, () => {
    const ours = made.filter((m) => m.name.startsWith(`${name}-`));
    assert.equal(ours.length, planned[name].length, `commands: ${ours.map((m) => m.name).join(", ")}`);
    for (const step of planned[name]) {
      const found = ours.filter((m) => m.name.endsWith(`-${step.name}`) && m.parentType === ownerType[step.owner]);
      assert.equal(found.length, 1, `${step.name} (owner ${step.owner}): ${JSON.stringify(ours.filter((m) => m.name.endsWith(`-${step.name}`)))}`);
    }
  });
}
