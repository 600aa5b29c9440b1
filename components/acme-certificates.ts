import * as pulumi from "@pulumi/pulumi";
import { RemoteStepArgs, StepOwningComponent } from "./remote-step";

/**
 * Certificates from an ACME CA with certbot in webroot mode — certbot never rewrites our vhosts.
 * Issued once (later `up`s request nothing unless a domain is added), renewed by the distro's
 * certbot.timer with a deploy hook that reloads the proxy; deleted (optionally revoked) on destroy,
 * after the vhosts that use them are gone. Its steps (owner `acme`): certbot's package, the ACME
 * secrets, the carried-over bundles, the certificates, their export.
 */
export class AcmeCertificates extends StepOwningComponent {
  constructor(name: string, args: RemoteStepArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:tls:AcmeCertificates", name, args, opts);
    this.registerOutputs({});
  }
}
