/** The hub's step (owner `hub`): its bind_url as a managed block in the hub's config, then a restart and a health wait. */
import { SiteSpec, hubRoutes } from "../../model/site";
import { renderHubBlock } from "../../render/hub-config";
import { blockLines, kvPayload } from "../payloads";
import { Step } from "../step";

/** Where the hub's health is probed on the host (the model's routes; the status board asks it too). */
export function hubHealthUrl(site: SiteSpec): { url: string; socket?: string } {
  return hubRoutes(site).healthCheck;
}

export function hubSteps<P>(site: SiteSpec): Step<P>[] {
  if (!site.hubConfig.manage) return [];
  const health = hubRoutes(site).healthCheck;
  return [
    {
      name: "hub-bind-url",
      owner: "hub",
      script: "hub-managed-block",
      payload:
        kvPayload({
          config: site.hubConfig.path,
          service: site.hubConfig.service,
          health: health.url,
          ...(health.socket ? { health_socket: health.socket } : {}),
        }) + blockLines(renderHubBlock(site)),
      secret: false,
      after: ["proxy-config"],
    },
  ];
}
