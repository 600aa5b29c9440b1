import * as pulumi from "@pulumi/pulumi";
import { ProxyKind } from "../model/site";
import { RemoteStepArgs, StepOwningComponent } from "./remote-step";

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
export class ReverseProxy extends StepOwningComponent {
  /** The rendered HTTPS config as pushed (what `pulumi preview --diff` shows changing). */
  public readonly renderedConfig: pulumi.Output<string>;

  constructor(name: string, args: ReverseProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:proxy:ReverseProxy", name, args, opts);
    this.renderedConfig = pulumi.output(args.renderedConfig);
    this.registerOutputs({ renderedConfig: this.renderedConfig });
  }
}
