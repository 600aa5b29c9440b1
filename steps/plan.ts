/**
 * SiteSpec → the ordered remote steps that realise it. Pure: no Pulumi, no I/O but reading the
 * committed scripts. Each component's planner (steps/planners/<owner>.ts) makes its own steps; this
 * puts them in dependency order. The components turn each step into a remote.Command; the host test
 * tier runs the very same steps over SSH without the engine.
 */
import { SiteSpec } from "../model/site";
import { installedScript } from "./remote-scripts";
import { Planned, Step } from "./step";
import { carryOverImportPayload } from "./payloads";
import { hostSteps } from "./planners/host";
import { dhparamSteps, proxyBaseSteps, proxyConfigStep, proxyFiles } from "./planners/proxy";
import { certificateSteps } from "./planners/certificates";
import { acmeSteps } from "./planners/acme";
import { splitAuthSteps } from "./planners/split-auth";
import { bruteForceSteps } from "./planners/brute-force";
import { hubSteps } from "./planners/hub";

export type { CertificateMaterial } from "../model/site";
export type { Planned, ScriptName, Step, StepOwner } from "./step";
export { scriptNames, stepOwners } from "./step";
export {
  acmeDomains, acmeSecretsPayload, capacityPayload, carryOverImportPayload, certificateFiles, certificatePayload, kvPayload, parseCarryOverExport, pushedCertificateDomains,
} from "./payloads";
export { installStep } from "./planners/host";
export { proxyFiles } from "./planners/proxy";
export { hubHealthUrl } from "./planners/hub";

/**
 * The command line run over SSH: a short identity — the installed script (named by its content
 * hash), the step, the mode — never script text, so previews, state and errors stay readable. The
 * install step itself reads its scripts on stdin. `sudo -n` for non-root users: no tty, so no
 * password prompts.
 */
export function remoteCommand(step: Pick<Step, "name" | "script">, mode: "apply" | "undo", user: string): string {
  const cmd = step.script === "install" ? `bash -s ${step.name} ${mode}` : `bash ${installedScript(step.script).path} ${step.name} ${mode}`;
  return user === "root" ? cmd : `sudo -n ${cmd}`;
}

/**
 * The steps for a site, in dependency order. `certificatePayload` is the (secret) files payload of
 * the pushed certificates (`certificatePayload()` of Pulumi outputs or test PEMs); unused when every
 * domain uses ACME. `htpasswdPayload` (render/split-auth.ts, secret) is needed with split auth on.
 * `acmeImportPayload` (`carryOverImportPayload()`, secret): the bundles acme-import pushes with
 * carry-over on; default none. `acmeSecretsPayload` (`acmeSecretsPayload()`, secret): the TSIG and
 * EAB keys' files, needed when the site uses dns-01 or External Account Binding.
 */
export function planSteps<P>(
  site: SiteSpec,
  certificatePayload: string | P,
  htpasswdPayload?: string | P,
  acmeImportPayload: string | P = carryOverImportPayload({}),
  acmeSecretsPayload?: string | P,
): Step<P>[] {
  const files = proxyFiles(site);
  // What the HTTPS vhosts name, in this order: certificate files, ACME certificates, dhparam, users file.
  const beforeVhosts: Planned<P>[] = [
    certificateSteps(site, certificatePayload),
    acmeSteps(site, acmeImportPayload, acmeSecretsPayload),
    dhparamSteps(site),
    splitAuthSteps(site, htpasswdPayload),
  ];
  const needed = beforeVhosts.flatMap((p) => (p.neededByVhosts ? [p.neededByVhosts] : []));
  const steps = [
    ...hostSteps<P>(site),
    // Port 80 first: redirects, and the ACME challenges certbot needs answered before any HTTPS
    // vhost can name its certificate.
    ...proxyBaseSteps<P>(site, files),
    ...beforeVhosts.flatMap((p) => p.steps),
    proxyConfigStep<P>(site, files, needed),
    ...bruteForceSteps<P>(site),
    ...hubSteps<P>(site),
  ];
  checkOrder(steps);
  return steps;
}

/** Every step but the first runs after some earlier step, so none can run before the scripts are installed. */
function checkOrder(steps: Step<unknown>[]): void {
  steps.forEach((step, i) => {
    for (const dep of step.after) {
      if (!steps.slice(0, i).some((s) => s.name === dep)) throw new Error(`step ${step.name}: '${dep}' must be an earlier step`);
    }
    if (i > 0 && step.after.length === 0) throw new Error(`step ${step.name} must run after another step (at least after 'scripts')`);
  });
}
