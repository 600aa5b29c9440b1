/**
 * The managed block the program keeps in the hub's jupyterhub_config.py. The remote script
 * (scripts/remote/hub-managed-block.sh) replaces the text between the markers — or appends the block
 * when there is none — and leaves every other byte of the file alone. Appended last, it wins over an
 * earlier `c.JupyterHub.bind_url` of the user's own, which stays in place for after `destroy`.
 */
import { SiteSpec, hubBindUrl, subdomainHost } from "../model/site";

// What is true of the block (issue 19): `pulumi up` rewrites it only when the stack's settings for
// it change; a hand edit is neither detected nor undone before that. The remote script finds the
// block by the marker's first words, so this wording can change without losing a deployed block.
export const HUB_BLOCK_BEGIN = "# BEGIN jupyterhub-edge managed block: rewritten by `pulumi up` when the stack's bind_url changes; `pulumi preview --refresh` shows hand edits";
export const HUB_BLOCK_END = "# END jupyterhub-edge managed block";

/** A Python single-quoted literal. Validated inputs carry no quotes, but escape anyway. */
function pyString(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

export function renderHubBlock(site: SiteSpec): string {
  return [
    HUB_BLOCK_BEGIN,
    `# The hub listens where ${site.proxy} forwards ${site.hub.path} on ${site.hub.domain}.`,
    `c.JupyterHub.bind_url = ${pyString(hubBindUrl(site))}`,
    ...(subdomainHost(site)
      ? [
          "# Per-user subdomains: each user's server at https://<user>.<domain>/, isolated by the browser.",
          `c.JupyterHub.subdomain_host = ${pyString(subdomainHost(site)!)}`,
        ]
      : []),
    HUB_BLOCK_END,
  ].join("\n") + "\n";
}
