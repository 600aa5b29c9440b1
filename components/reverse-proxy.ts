import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ProxyKind } from "../model/site";
import { Step } from "../steps/plan";
import { RemoteStepArgs, StepPayload, remoteStep } from "./remote-step";

export interface ReverseProxyArgs extends RemoteStepArgs {
  /** nginx or apache (documentation only: the steps carry the difference). */
  proxy: ProxyKind;
  /** The rendered HTTPS config as pushed: the payload of the plan's proxy-config step. */
  renderedConfig: pulumi.Input<string>;
}

/**
 * The web server: its packages, the web roots, Apache's modules, capacity sizing, the rendered
 * vhosts — port 80 first, the HTTPS vhosts once certificates exist — and the dhparam. Its steps
 * (owner `proxy`) arrive in plan order, between other components' steps. Every change is tested
 * before a graceful reload and rolled back when the test fails, so a bad change never takes the
 * site down.
 */
export class ReverseProxy extends pulumi.ComponentResource {
  /** The rendered HTTPS config as pushed (what `pulumi preview --diff` shows changing). */
  public readonly renderedConfig: pulumi.Output<string>;
  private readonly name: string;

  constructor(name: string, private readonly args: ReverseProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:proxy:ReverseProxy", name, {}, opts);
    this.name = name;
    this.renderedConfig = pulumi.output(args.renderedConfig);
    this.registerOutputs({ renderedConfig: this.renderedConfig });
  }

  createStep(step: Step<StepPayload>): command.remote.Command {
    return remoteStep(this.name, step, this.args, { parent: this });
  }
}
