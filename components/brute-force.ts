import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Step } from "../steps/plan";
import { RemoteStepArgs, StepPayload, remoteStep } from "./remote-step";

/**
 * fail2ban with the jail that bans sources whose failed logins fill the proxy's access log. (The
 * login form's rate limit is part of the vhost; Apache's module package is a proxy step.) Destroy removes the jail first — fail2ban
 * drops its nftables table — then fail2ban itself if the program installed it. Its steps (owner
 * `brute-force`): fail2ban-packages and fail2ban-jail (model/brute-force.ts, render/brute-force.ts).
 */
export class BruteForceProtection extends pulumi.ComponentResource {
  private readonly name: string;

  constructor(name: string, private readonly args: RemoteStepArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:security:BruteForceProtection", name, {}, opts);
    this.name = name;
    this.registerOutputs({});
  }

  createStep(step: Step<StepPayload>): command.remote.Command {
    return remoteStep(this.name, step, this.args, { parent: this });
  }
}
