import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Step } from "../steps/plan";
import { RemoteStepArgs, StepPayload, remoteStep } from "./remote-step";

export interface HubBindUrlArgs extends RemoteStepArgs {
  /** The bind_url written, for the stack outputs. */
  bindUrl: string;
}

/**
 * `c.JupyterHub.bind_url` as a marked block in the hub's own config: the rest of the file is never
 * touched, and `destroy` gives the original bytes back. Its step (owner `hub`): hub-bind-url
 * (managed block + restart + health wait).
 */
export class HubBindUrl extends pulumi.ComponentResource {
  public readonly bindUrl: pulumi.Output<string>;
  private readonly name: string;

  constructor(name: string, private readonly args: HubBindUrlArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:hub:HubBindUrl", name, {}, opts);
    this.name = name;
    this.bindUrl = pulumi.output(args.bindUrl);
    this.registerOutputs({ bindUrl: this.bindUrl });
  }

  createStep(step: Step<StepPayload>): command.remote.Command {
    return remoteStep(this.name, step, this.args, { parent: this });
  }
}
