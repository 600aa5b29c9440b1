/** Brute-force protection's steps (owner `brute-force`): fail2ban's package, then the jail. */
import { SiteSpec } from "../../model/site";
import { fail2banJailPayload } from "../../render/brute-force";
import { kvPayload } from "../payloads";
import { Step } from "../step";

export function bruteForceSteps<P>(site: SiteSpec): Step<P>[] {
  if (!site.bruteForce) return [];
  const f2b = site.platform.fail2ban;
  return [
    // fail2ban, the distribution's package: undo purges it only if this step installed it (and
    // then its stock jails go with it); a fail2ban that was there is left running as found.
    {
      name: "fail2ban-packages",
      owner: "brute-force",
      script: "packages",
      payload: kvPayload({
        set: "fail2ban",
        manager: site.platform.packageManager,
        ...(f2b.repositoryPackages.length ? { repositories: f2b.repositoryPackages.join(" ") } : {}),
        ...(f2b.repositoryHint ? { repository_hint: f2b.repositoryHint } : {}),
        packages: f2b.packages.join(" "),
        service: f2b.service,
        leftovers: f2b.purgeLeftovers.join(" "),
        conflicts: "",
      }),
      secret: false,
      after: ["preflight"],
    },
    // After the vhosts (whose access log the jail reads); undone first: the jail stops, and its
    // nftables table with it, before fail2ban itself goes.
    { name: "fail2ban-jail", owner: "brute-force", script: "files", payload: fail2banJailPayload(site), secret: false, after: ["fail2ban-packages", "proxy-config"] },
  ];
}
