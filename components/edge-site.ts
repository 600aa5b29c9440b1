import * as pulumi from "@pulumi/pulumi";
import { ConnectionSpec, SiteSpec, allDomains, hubBindUrl, publicOrigin } from "../model/site";
import { certificatePayload, planSteps } from "../steps/plan";
import { SelfSignedCertificates } from "./certificates";
import { Host } from "./host";
import { ReverseProxy } from "./reverse-proxy";
import { HubBindUrl } from "./hub-bind-url";
import { StepPayload, StepRegistry, remoteStep } from "./remote-step";

export interface EdgeSiteArgs {
  /** The validated site model (config/schema.ts). */
  site: SiteSpec;
  /** How to reach the server. */
  connection: ConnectionSpec;
  /** SSH private key (secret). */
  privateKey: pulumi.Input<string>;
}

/**
 * JupyterHub's front door on one server: host checks, certificates, the reverse proxy and the hub's
 * bind_url, wired in the order the plan gives. Destroy runs the same steps' undo in reverse.
 */
export class EdgeSite extends pulumi.ComponentResource {
  public readonly url: pulumi.Output<string>;
  public readonly caPem: pulumi.Output<string>;
  public readonly renderedProxyConfig: pulumi.Output<string>;

  constructor(name: string, args: EdgeSiteArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:site:EdgeSite", name, {}, opts);
    const { site } = args;

    const certs = new SelfSignedCertificates(`${name}-certs`, { domains: allDomains(site) }, { parent: this });
    const tlsPayload: StepPayload = pulumi.secret(certs.material.apply((m) => certificatePayload(site, m)));
    const steps = planSteps<StepPayload>(site, tlsPayload);
    const byName = (n: string) => steps.find((s) => s.name === n);
    const registry: StepRegistry = new Map();

    const host = new Host(
      `${name}-host`,
      { connection: args.connection, privateKey: args.privateKey, preflight: byName("preflight")!, registry },
      { parent: this },
    );
    const stepArgs = { connection: host.connection, user: args.connection.user, registry };
    // The keys go to the host as a step of the certificates component: it owns their lifecycle.
    remoteStep(`${name}-certs`, byName("tls-files")!, stepArgs, { parent: certs });

    // One stable name whichever proxy runs: switching nginx ⇄ apache replaces the steps in place
    // (old undone first) instead of creating the new proxy beside the old one.
    const proxy = new ReverseProxy(
      `${name}-proxy`,
      { ...stepArgs, proxy: site.proxy, steps: steps.filter((s) => !["preflight", "tls-files", "hub-bind-url"].includes(s.name)) },
      { parent: this },
    );
    const hubStep = byName("hub-bind-url");
    if (hubStep) new HubBindUrl(`${name}-hub`, { ...stepArgs, step: hubStep, bindUrl: hubBindUrl(site) }, { parent: this });

    this.url = pulumi.output(`${publicOrigin(site)}${site.hub.path}`);
    this.caPem = certs.caPem;
    this.renderedProxyConfig = proxy.renderedConfig;
    this.registerOutputs({ url: this.url, caPem: this.caPem });
  }
}
