import * as pulumi from "@pulumi/pulumi";
import { Step } from "../steps/plan";
import { RemoteStepArgs, StepPayload, remoteStep } from "./remote-step";

export interface AcmeCertificatesArgs extends RemoteStepArgs {
  /** The plan's certbot steps: its package, then the certificates (webroot mode). */
  steps: Step<StepPayload>[];
}

/**
 * Certificates from an ACME CA with certbot in webroot mode — certbot never rewrites our vhosts.
 * Issued once (later `up`s request nothing unless a domain is added), renewed by the distro's
 * certbot.timer with a deploy hook that reloads the proxy; deleted (optionally revoked) on destroy,
 * after the vhosts that use them are gone.
 */
export class AcmeCertificates extends pulumi.ComponentResource {
  constructor(name: string, args: AcmeCertificatesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:tls:AcmeCertificates", name, {}, opts);
    for (const step of args.steps) remoteStep(name, step, args, { parent: this });
    this.registerOutputs({});
  }
}
