/**
 * The Pulumi program: stack config → validated model → components. Validation runs first and throws
 * before any resource is registered, so bad input never reaches a host.
 */
import * as pulumi from "@pulumi/pulumi";
import { LoadedConfig, loadStackConfig } from "./config/load";
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
}

export function deploy(config: LoadedConfig, opts?: pulumi.ComponentResourceOptions): EdgeOutputs {
  const edge = new EdgeSite("edge", { ...config, providedCertificates: config.providedCertificates }, opts);
  return {
    url: edge.url,
    caCertificate: edge.caPem,
    hubBindUrl: hubBindUrl(config.site),
    proxyConfig: edge.renderedProxyConfig,
  };
}

/** Entry point for `pulumi up` and for Automation API inline programs. */
export async function main(): Promise<EdgeOutputs | Record<string, never>> {
  let config: LoadedConfig;
  try {
    config = loadStackConfig();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // Logged as an error diagnostic, the run fails with just the problems, each naming its key
    // (no stack trace), and no resource is registered — so nothing reaches the host.
    pulumi.log.error(e.message);
    return {};
  }
  return deploy(config);
}
