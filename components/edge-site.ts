import * as pulumi from "@pulumi/pulumi";
import { ConnectionSpec, SiteSpec, allSites, hubBindUrl, hubUrl } from "../model/site";
import * as command from "@pulumi/command";
import { CertificateMaterial, Step, StepOwner, acmeDomains, acmeSecretsPayload, carryOverImportPayload, certificatePayload, parseCarryOverExport, planSteps } from "../steps/plan";
import { AcmeSecretValues } from "../render/acme";
import { SelfSignedCertificates } from "./certificates";
import { AcmeCertificates } from "./acme-certificates";
import { Host } from "./host";
import { ReverseProxy } from "./reverse-proxy";
import { HubBindUrl } from "./hub-bind-url";
import { BruteForceProtection } from "./brute-force";
import { StepPayload, StepRegistry, remoteStep } from "./remote-step";
import { SplitAuth } from "./split-auth";
import { EdgeProvider, ServerState } from "./server-state";

export interface EdgeSiteArgs {
  /** The validated site model (config/schema.ts). */
  site: SiteSpec;
  /** How to reach the server. */
  connection: ConnectionSpec;
  /** SSH private key (secret). */
  privateKey: pulumi.Input<string>;
  /** Certificates of `provided` domains (secret). Default: none. */
  providedCertificates?: pulumi.Input<CertificateMaterial[]>;
  /** Split auth passwords given in config, by user name (secret). Default: none (all generated). */
  splitAuthPasswords?: pulumi.Input<Record<string, string>>;
  /** Carried-over ACME bundles by domain (secret), pushed when the site has acme carry-over. Default: none. */
  acmeCarryOver?: pulumi.Input<Record<string, string>>;
  /** The TSIG key (dns-01) and the External Account Binding HMAC key (secret). Default: none; required when the site uses them. */
  acmeSecrets?: pulumi.Input<AcmeSecretValues>;
}

/**
 * JupyterHub's front door on one server: host checks, certificates, the reverse proxy and the hub's
 * bind_url, wired in the order the plan gives. Destroy runs the same steps' undo in reverse.
 */
export class EdgeSite extends pulumi.ComponentResource {
  public readonly url: pulumi.Output<string>;
  /** The self-signed CA to trust ("" when no domain is self-signed). */
  public readonly caPem: pulumi.Output<string>;
  public readonly renderedProxyConfig: pulumi.Output<string>;
  /** Split auth's generated passwords by user name (secret); empty when split auth is off. */
  public readonly splitAuthPasswords: Record<string, pulumi.Output<string>>;
  /** This server's ACME bundles by domain (secret; {} without carry-over), for acmeCarryOver. */
  public readonly acmeCarryOver: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: EdgeSiteArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:site:EdgeSite", name, {}, opts);
    const { site } = args;

    const selfSignedSites = allSites(site).filter((s) => s.certificate === "selfSigned");
    const selfSigned = selfSignedSites.length
      ? new SelfSignedCertificates(
          `${name}-certs`,
          { domains: selfSignedSites.map((s) => s.domain), names: Object.fromEntries(selfSignedSites.map((s) => [s.domain, s.names])) },
          { parent: this },
        )
      : undefined;
    const material = pulumi
      .all([selfSigned?.material ?? [], args.providedCertificates ?? []])
      .apply(([own, provided]) => [...own, ...provided.filter((p) => allSites(site).some((s) => s.domain === p.domain && s.certificate === "provided"))]);
    const tlsPayload: StepPayload = pulumi.secret(material.apply((m) => certificatePayload(site, m)));
    const splitAuth = site.splitAuth
      ? new SplitAuth(`${name}-auth`, { site, givenPasswords: args.splitAuthPasswords }, { parent: this })
      : undefined;
    // Only this server's ACME domains: a fleet's carry-over config holds every server's bundles.
    const importPayload: StepPayload = pulumi.secret(
      pulumi.output(args.acmeCarryOver ?? {}).apply((all) => carryOverImportPayload(Object.fromEntries(acmeDomains(site).filter((d) => all[d]).map((d) => [d, all[d]])))),
    );
    const secretsPayload: StepPayload = pulumi.secret(pulumi.output(args.acmeSecrets ?? {}).apply((secrets) => acmeSecretsPayload(site, secrets)));
    const usesAcmeSecrets = site.acme?.dns !== undefined || site.acme?.eabKeyId !== undefined;
    const steps = planSteps<StepPayload>(site, tlsPayload, splitAuth?.htpasswdPayload, importPayload, usesAcmeSecrets ? secretsPayload : undefined);
    const registry: StepRegistry = new Map();

    const host = new Host(`${name}-host`, { connection: args.connection, privateKey: args.privateKey, registry }, { parent: this });
    const stepArgs = { connection: host.connection, user: args.connection.user, registry };
    const proxy = new ReverseProxy(
      // One stable name whichever proxy runs: switching nginx ⇄ apache replaces the steps in place
      // (old undone first) instead of creating the new proxy beside the old one.
      `${name}-proxy`,
      { ...stepArgs, proxy: site.proxy, renderedConfig: steps.find((s) => s.name === "proxy-config")!.payload },
      { parent: this },
    );
    // The components made only when the plan gives them a step.
    let acme: AcmeCertificates | undefined;
    let bruteForce: BruteForceProtection | undefined;
    let hub: HubBindUrl | undefined;
    /** Each owner's component creates its steps; a new owner without one does not compile. */
    const createBy: Record<StepOwner, (step: Step<StepPayload>) => unknown> = {
      host: (step) => host.createStep(step),
      proxy: (step) => proxy.createStep(step),
      // Certificate files go to the host as a step of whoever owns them.
      certificates: (step) => remoteStep(`${name}-certs`, step, stepArgs, { parent: selfSigned ?? this }),
      acme: (step) => (acme ??= new AcmeCertificates(`${name}-acme`, stepArgs, { parent: this })).createStep(step),
      "split-auth": (step) => {
        if (!splitAuth) throw new Error(`step ${step.name}: split auth is off`);
        return splitAuth.createStep(step, stepArgs);
      },
      "brute-force": (step) => (bruteForce ??= new BruteForceProtection(`${name}-bruteforce`, stepArgs, { parent: this })).createStep(step),
      hub: (step) => (hub ??= new HubBindUrl(`${name}-hub`, { ...stepArgs, bindUrl: hubBindUrl(site) }, { parent: this })).createStep(step),
    };
    // In plan order: every step's `after` steps exist before it (checked by the plan).
    for (const step of steps) createBy[step.owner](step);
    const missing = steps.filter((s) => !registry.has(s.name));
    if (missing.length || registry.size !== steps.length) throw new Error(`steps not created exactly once: ${missing.map((s) => s.name).join(", ")}`);

    // Last: it records what every step put there, and a repair re-runs steps that exist by then.
    // Its provider is this package's own plugin, declared explicitly: a default provider would take
    // the whole `jupyterhub-edge:*` stack config as its own (the project and the package share the
    // name) and show an update of itself in every preview of a config change.
    const watchProvider = new EdgeProvider(`${name}-drift-provider`, { parent: this });
    new ServerState(`${name}-drift`, { connection: host.connection, user: args.connection.user, server: name, steps }, { parent: this, provider: watchProvider, dependsOn: [...registry.values()] });

    this.url = pulumi.output(hubUrl(site));
    this.caPem = selfSigned?.caPem ?? pulumi.output("");
    this.renderedProxyConfig = proxy.renderedConfig;
    this.splitAuthPasswords = splitAuth?.generatedPasswords ?? {};
    const exported = registry.get("acme-export") as command.remote.Command | undefined;
    this.acmeCarryOver = exported ? pulumi.secret(exported.stdout.apply(parseCarryOverExport)) : pulumi.output<Record<string, string>>({});
    this.registerOutputs({ url: this.url, caPem: this.caPem });
  }
}
