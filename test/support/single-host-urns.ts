/**
 * Prints the resource URNs (under Pulumi's mocks) of a fixed single-host stack config, one a line,
 * sorted. The wiring tier compares them with test/fixtures/urns/single-host.txt, which was made by
 * this script from the program as it was before fleets (commit 6d0622b): an existing single-host
 * stack must keep every resource's URN, or `pulumi up` after an upgrade would replace resources.
 *
 *   npx tsx test/support/single-host-urns.ts [REPO_DIR]     (default: this checkout)
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

export const singleHostConfig = (keyFile: string): Record<string, string> => ({
  host: "203.0.113.10",
  sshPrivateKeyFile: keyFile,
  hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForWiringTestsOnly000000000000",
  hubDomain: "hub.example.org",
  extraSites: JSON.stringify([{ domain: "www.example.org" }, { domain: "acme.example.org", certificateMode: "acme" }]),
  acmeEmail: "admin@example.org",
  dhe: "true",
});

/** What the tls resources return under mocks (PEM-looking placeholders). */
export function mockState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const state: Record<string, unknown> = { ...inputs };
  if (type === "tls:index/privateKey:PrivateKey") state.privateKeyPem = "-----BEGIN PRIVATE KEY-----\nFAKE-SECRET-KEY-MATERIAL\n-----END PRIVATE KEY-----\n";
  if (type === "tls:index/locallySignedCert:LocallySignedCert") state.certPem = `CERT(${name})`;
  if (type === "tls:index/selfSignedCert:SelfSignedCert") state.certPem = "CA-CERT";
  if (type === "tls:index/certRequest:CertRequest") state.certRequestPem = "CSR";
  return state;
}

/** URNs the mock monitor registered, sorted (call after the program's resources resolved). */
export function registeredUrns(): string[] {
  const monitor = (pulumi.runtime as unknown as { getMonitor(): { resources: Map<string, unknown> } }).getMonitor();
  return [...monitor.resources.keys()].sort();
}

if (require.main === module) {
  const repo = path.resolve(process.argv[2] ?? path.join(__dirname, "..", ".."));
  pulumi.runtime.setMocks({ newResource: (a) => ({ id: `${a.name}-id`, state: mockState(a.type, a.name, a.inputs) }), call: (a) => a.inputs }, "jupyterhub-edge", "wiring", false);
  (async () => {
    const program = await import(path.join(repo, "program"));
    if (program.deployStack) {
      // The program's own entry path: stack config → servers → sites.
      const { loadStackFromStrings } = await import(path.join(repo, "config", "fleet"));
      program.deployStack(loadStackFromStrings(singleHostConfig("/dev/null"), undefined, "/"));
    } else {
      const { loadFromStrings } = await import(path.join(repo, "config", "load"));
      program.deploy(loadFromStrings(singleHostConfig("/dev/null"), undefined, "/"));
    }
    await new Promise((r) => setTimeout(r, 500));
    console.log(registeredUrns().join("\n"));
  })();
}
