/** The hub's step (owner `hub`): its bind_url as a managed block in the hub's config, then a restart and a health wait. */
import { SiteSpec } from "../../model/site";
import { renderHubBlock } from "../../render/hub-config";
import { blockLines, kvPayload } from "../payloads";
import { Step } from "../step";

export function hubHealthUrl(site: SiteSpec): { url: string; socket?: string } {
  const up = site.hub.upstream;
  return up.kind === "tcp"
    ? { url: `${up.origin}${site.hub.path}hub/health` }
    : { url: `http://localhost${site.hub.path}hub/health`, socket: up.socketPath };
}

export function hubSteps<P>(site: SiteSpec): Step<P>[] {
  if (!site.hubConfig.manage) return [];
  const health = hubHealthUrl(site);
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
