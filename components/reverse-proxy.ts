import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ProxyKind } from "../model/site";
import { Step } from "../steps/plan";
import { RemoteStepArgs, StepPayload, remoteStep } from "./remote-step";

export interface ReverseProxyArgs extends RemoteStepArgs {
  /** nginx or apache (documentation only: the steps carry the difference). */
  proxy: ProxyKind;
  /** The plan's proxy steps: packages, web roots, Apache modules, capacity sizing, the port-80 vhost. */
  steps: Step<StepPayload>[];
}

/**
 * The web server: its packages, the web roots, and the rendered vhosts — port 80 first, the HTTPS
 * vhosts once certificates exist (`configure`). Every change is tested before a graceful reload and
 * rolled back when the test fails, so a bad change never takes the site down.
 */
export class ReverseProxy extends pulumi.ComponentResource {
  /** The rendered HTTPS config as pushed (what `pulumi preview --diff` shows changing). */
  public readonly renderedConfig: pulumi.Output<string>;
  private readonly name: string;
  private resolveConfig!: (text: string) => void;

  constructor(name: string, args: ReverseProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:proxy:ReverseProxy", name, {}, opts);
    this.name = name;
    for (const step of args.steps) remoteStep(name, step, args, { parent: this });
    this.renderedConfig = pulumi.output(new Promise<string>((resolve) => (this.resolveConfig = resolve)));
    this.registerOutputs({ renderedConfig: this.renderedConfig });
  }

  /** Adds the HTTPS vhosts, which must wait for the certificates (other components' steps). */
  configure(step: Step<StepPayload>, args: RemoteStepArgs): command.remote.Command {
    const resource = remoteStep(this.name, step, args, { parent: this });
    pulumi.output(step.payload).apply((p) => this.resolveConfig(p));
    return resource;
  }
}
