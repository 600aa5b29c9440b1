import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Step } from "../steps/plan";
import { RemoteStepArgs, StepPayload, remoteStep } from "./remote-step";

export interface HubBindUrlArgs extends RemoteStepArgs {
  /** The plan's hub-bind-url step (managed block + restart + health wait). */
  step: Step<StepPayload>;
  /** The bind_url written, for the stack outputs. */
  bindUrl: string;
}

/**
 * `c.JupyterHub.bind_url` as a marked block in the hub's own config: the rest of the file is never
 * touched, and `destroy` gives the original bytes back.
 */
export class HubBindUrl extends pulumi.ComponentResource {
  public readonly bindUrl: pulumi.Output<string>;
  public readonly step: command.remote.Command;

  constructor(name: string, args: HubBindUrlArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:hub:HubBindUrl", name, {}, opts);
    this.step = remoteStep(name, args.step, args, { parent: this });
    this.bindUrl = pulumi.output(args.bindUrl);
    this.registerOutputs({ bindUrl: this.bindUrl });
  }
}
