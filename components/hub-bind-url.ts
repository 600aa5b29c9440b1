import * as pulumi from "@pulumi/pulumi";
import { RemoteStepArgs, StepOwningComponent } from "./remote-step";

export interface HubBindUrlArgs extends RemoteStepArgs {
  /** The bind_url written, for the stack outputs. */
  bindUrl: string;
}

/**
 * `c.JupyterHub.bind_url` as a marked block in the hub's own config: the rest of the file is never
 * touched, and `destroy` gives the original bytes back. Its step (owner `hub`): hub-bind-url
 * (managed block + restart + health wait).
 */
export class HubBindUrl extends StepOwningComponent {
  public readonly bindUrl: pulumi.Output<string>;

  constructor(name: string, args: HubBindUrlArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:hub:HubBindUrl", name, args, opts);
    this.bindUrl = pulumi.output(args.bindUrl);
    this.registerOutputs({ bindUrl: this.bindUrl });
  }
}
