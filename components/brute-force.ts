import * as pulumi from "@pulumi/pulumi";
import { Step } from "../steps/plan";
import { RemoteStepArgs, StepPayload, remoteStep } from "./remote-step";

export interface BruteForceArgs extends RemoteStepArgs {
  /** The plan's fail2ban-packages and fail2ban-jail steps (model/brute-force.ts, render/brute-force.ts). */
  steps: Step<StepPayload>[];
}

/**
 * fail2ban with the jail that bans sources whose failed logins fill the proxy's access log. (The
 * login form's rate limit is part of the vhost; Apache's module package is a proxy step.) Destroy removes the jail first — fail2ban
 * drops its nftables table — then fail2ban itself if the program installed it.
 */
export class BruteForceProtection extends pulumi.ComponentResource {
  constructor(name: string, args: BruteForceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:security:BruteForceProtection", name, {}, opts);
    for (const step of args.steps) remoteStep(name, step, args, { parent: this });
    this.registerOutputs({});
  }
}
