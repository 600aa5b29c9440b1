import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ProxyKind } from "../model/site";
import { Step } from "../steps/plan";
import { RemoteStepArgs, StepPayload, remoteStep } from "./remote-step";

export interface ReverseProxyArgs extends RemoteStepArgs {
  /** nginx or apache; only names the component's children. */
  proxy: ProxyKind;
  /** The plan's proxy steps: packages, web roots (optional), rendered config. */
  steps: Step<StepPayload>[];
}

/**
 * The web server: its packages, the extra sites' web roots, and the rendered vhosts — tested before
 * every reload and rolled back when the test fails, so a bad change never takes the site down.
 */
export class ReverseProxy extends pulumi.ComponentResource {
  /** The rendered config as pushed (what `pulumi preview --diff` shows changing). */
  public readonly renderedConfig: pulumi.Output<string>;
  public readonly configStep: command.remote.Command;

  constructor(name: string, args: ReverseProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:proxy:ReverseProxy", name, {}, opts);
    const made = args.steps.map((step) => ({ step, resource: remoteStep(name, step, args, { parent: this }) }));
    const config = made.find((m) => m.step.name === "proxy-config");
    if (!config) throw new Error("the plan has no proxy-config step");
    this.configStep = config.resource;
    this.renderedConfig = pulumi.output(config.step.payload);
    this.registerOutputs({ renderedConfig: this.renderedConfig });
  }
}
