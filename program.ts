/**
 * The Pulumi program: stack config → validated model → components. Validation runs first and throws
 * before any resource is registered, so bad input never reaches a host.
 */
import * as pulumi from "@pulumi/pulumi";
import { LoadedConfig } from "./config/load";
import { LoadedStack, loadStack } from "./config/fleet";
import { ConfigError } from "./config/schema";
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

/** Entry point for `pulumi up` and for Automation API inline programs. */
export async function main(): Promise<EdgeOutputs | FleetOutputs | Record<string, never>> {
  let stack: LoadedStack;
  try {
    stack = loadStack();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // Logged as an error diagnostic, the run fails with just the problems, each naming its key
    // (no stack trace), and no resource is registered — so nothing reaches the host.
    pulumi.log.error(e.message);
    return {};
  }
  return deployStack(stack);
}
