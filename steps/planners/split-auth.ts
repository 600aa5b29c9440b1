/** Split auth's step (owner `split-auth`): the htpasswd file the vhosts name. */
import { SiteSpec } from "../../model/site";
import { Planned } from "../step";

/** `htpasswdPayload`: render/split-auth.ts htpasswdPayload (secret); needed with split auth on. */
export function splitAuthSteps<P>(site: SiteSpec, htpasswdPayload: string | P | undefined): Planned<P> {
  if (!site.splitAuth) return { steps: [] };
  if (htpasswdPayload === undefined) throw new Error("split auth is on but no htpasswd payload was given");
  // Before the vhost that names it (a missing user file would make the hub's pages answer 500);
  // removed after the vhost stops naming it. Changing a password rewrites it and reloads.
  return {
    steps: [{ name: "split-auth-users", owner: "split-auth", script: "files", payload: htpasswdPayload, secret: true, after: ["preflight", "proxy-packages"] }],
    neededByVhosts: "split-auth-users",
  };
}
