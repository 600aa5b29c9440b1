/**
 * The Pulumi program: stack config → validated model → components. Validation runs first and throws
 * before any resource is registered, so bad input never reaches a host.
 */
import * as pulumi from "@pulumi/pulumi";
import { LoadedConfig } from "./config/load";
import { LoadedStack, loadStack } from "./config/fleet";
import { ConfigError } from "./config/schema";
import { deployedServers, removalProblems } from "./config/removals";
import { EdgeSite } from "./components/edge-site";
import { hubBindUrl } from "./model/site";

export interface EdgeOutputs {
  /** The hub's public URL. */
  url: pulumi.Output<string>;
  /** CA certificate to trust (self-signed mode). */
  caCertificate: pulumi.Output<string>;
  /** What the hub binds to behind the proxy. */
  hubBindUrl: string;
  /** The proxy config as pushed to the host. */
  proxyConfig: pulumi.Output<string>;
  /** ACME bundles by domain (secret), with acmeCarryOver set. */
  acmeCarryOver?: pulumi.Output<Record<string, string>>;
  // Per-server secrets (e.g. split-auth passwords, as pulumi.secret) belong here: one server's
  // outputs, the same for a single-host stack and for each entry of a fleet.
  /** Split auth: each generated password (secret), for `pulumi stack output --show-secrets`. */
  [generatedPassword: `splitAuthPassword-${string}`]: pulumi.Output<string>;
}

/** One server's site: an EdgeSite named `name` (single-host stacks: "edge", as always). */
export function deploy(config: LoadedConfig, opts?: pulumi.ComponentResourceOptions, name = "edge"): EdgeOutputs {
  const edge = new EdgeSite(name, { ...config, providedCertificates: config.providedCertificates, acmeCarryOver: config.acmeCarryOver }, opts);
  const passwords = Object.entries(edge.splitAuthPasswords).map(([user, pw]) => [`splitAuthPassword-${user}`, pulumi.secret(pw)]);
  return {
    url: edge.url,
    caCertificate: edge.caPem,
    hubBindUrl: hubBindUrl(config.site),
    proxyConfig: edge.renderedProxyConfig,
    ...Object.fromEntries(passwords),
    // Only with acmeCarryOver set: `pulumi config set --secret acmeCarryOver "$(pulumi stack
    // output --show-secrets acmeCarryOver)"` keeps the certificates for the next server.
    ...(config.site.acme?.carryOver ? { acmeCarryOver: edge.acmeCarryOver } : {}),
  };
}

export interface FleetOutputs {
  /** Each server's outputs by its name (`pulumi stack output hosts` → {room1: {url, …}, …}). */
  hosts: Record<string, EdgeOutputs>;
  /** Every server's ACME bundles in one (secret) map, with acmeCarryOver set. */
  acmeCarryOver?: pulumi.Output<Record<string, string>>;
}

/**
 * Every server of the stack. A fleet's servers are independent subgraphs (`edge-<name>`, no
 * dependency between them), so the engine configures them in parallel and adding or removing one
 * touches only its own resources.
 */
export function deployStack(stack: LoadedStack, opts?: pulumi.ComponentResourceOptions): EdgeOutputs | FleetOutputs {
  if (stack.implicit) return deploy(stack.hosts[0], opts);
  const hosts: Record<string, EdgeOutputs> = {};
  for (const host of stack.hosts) hosts[host.name] = deploy(host, opts, `edge-${host.name}`);
  const carried = Object.values(hosts).flatMap((h) => (h.acmeCarryOver ? [h.acmeCarryOver] : []));
  if (carried.length === 0) return { hosts };
  // Bundles of servers no longer in the fleet stay in the map as the config gave them.
  const given = stack.hosts[0].acmeCarryOver;
  return { hosts, acmeCarryOver: pulumi.secret(pulumi.all([given, ...carried]).apply((maps) => Object.assign({}, ...maps) as Record<string, string>)) as pulumi.Output<Record<string, string>> };
}

/**
 * Why the program must fail instead of returning early: the engine deletes every resource of the
 * stack that a *successful* program run did not declare. A program that logs an error and returns
 * `{}` counts as successful (the Node SDK signals "program done" to the engine, which then runs the
 * deletes, and only afterwards reports the logged error) — one refused config value on a live stack
 * would tear the whole site down. A thrown error makes the run fail: the engine then deletes nothing.
 * `RunError` is printed as its message alone, without a stack trace.
 */
export class RefusedConfigError extends pulumi.RunError {
  constructor(message: string) {
    super(`${message}\n(nothing was changed: fix the config and run again)`);
  }
}

/**
 * Waits until the engine has answered every registration the program made, then fails the run if
 * anything was logged as an error meanwhile (a rejected registration, an exception in an `apply`
 * callback that kept a resource from being declared). Under the Automation API the SDK would
 * otherwise signal a successful end — and the engine delete whatever was not declared — before it
 * looks at those errors. `waitForRPCs` is the SDK's own drain (runtime/settings), not in its typings.
 */
async function failUnlessEverythingDeclared(): Promise<void> {
  const drain = (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
  if (drain) await drain();
  if (pulumi.log.hasErrors()) {
    throw new pulumi.RunError("errors were reported while the program declared its resources (above): the run ends as failed, so nothing that was not declared is deleted");
  }
}

/**
 * A fleet server that the stack's last deployment had and the config no longer names is removed
 * only when confirmed in `removeServers` (config/removals.ts says why). The stack's last outputs
 * are read through a reference to the stack itself (a read, no change; fleets only, so single-host
 * stacks keep exactly the resources they always had).
 */
async function refuseUnconfirmedRemovals(stack: LoadedStack): Promise<void> {
  const self = new pulumi.StackReference("deployed-servers", { name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}` });
  const outputs: Record<string, unknown> = {};
  for (const key of ["hosts", "url"]) {
    const details = await self.getOutputDetails(key);
    outputs[key] = details.value ?? details.secretValue;
  }
  const problems = removalProblems(deployedServers(outputs), stack.hosts.map((h) => h.name), stack.removeServers);
  if (problems.length) throw new RefusedConfigError(new ConfigError(problems).message);
}

/** Entry point for `pulumi up` and for Automation API inline programs. */
export async function main(): Promise<EdgeOutputs | FleetOutputs> {
  let stack: LoadedStack;
  try {
    stack = loadStack();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // Every problem, each naming its key, and no resource registered: nothing reaches the host,
    // and (thrown, not returned) nothing already deployed is deleted.
    throw new RefusedConfigError(e.message);
  }
  if (!stack.implicit) await refuseUnconfirmedRemovals(stack);
  const outputs = deployStack(stack);
  await failUnlessEverythingDeclared();
  return outputs;
}
