/** The pushed certificates' step (owner `certificates`): the key and certificate files of self-signed and provided domains. */
import { SiteSpec } from "../../model/site";
import { pushedCertificateDomains } from "../payloads";
import { Planned } from "../step";

/** `certificatePayload`: the secret files payload (steps/payloads.ts certificatePayload of the material). */
export function certificateSteps<P>(site: SiteSpec, certificatePayload: string | P): Planned<P> {
  if (pushedCertificateDomains(site).length === 0) return { steps: [] };
  return {
    steps: [{ name: "tls-files", owner: "certificates", script: "files", payload: certificatePayload, secret: true, after: ["preflight"] }],
    neededByVhosts: "tls-files",
  };
}
