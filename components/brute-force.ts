import * as pulumi from "@pulumi/pulumi";
import { RemoteStepArgs, StepOwningComponent } from "./remote-step";

/**
 * fail2ban with the jail that bans sources whose failed logins fill the proxy's access log. (The
 * login form's rate limit is part of the vhost; Apache's module package is a proxy step.) Destroy removes the jail first — fail2ban
 * drops its nftables table — then fail2ban itself if the program installed it. Its steps (owner
 * `brute-force`): fail2ban-packages and fail2ban-jail (model/brute-force.ts, render/brute-force.ts).
 */
export class BruteForceProtection extends StepOwningComponent {
  constructor(name: string, args: RemoteStepArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:security:BruteForceProtection", name, args, opts);
    this.registerOutputs({});
  }
}
