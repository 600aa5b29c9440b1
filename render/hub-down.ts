/**
 * What users see while the hub does not answer (stopped, crashed, restarting during `pulumi up`):
 * a short page that says so, served by the proxy with 503, instead of a bare "502 Bad Gateway".
 * Only for errors the proxy itself produces; the hub's own error pages pass through unchanged.
 */
import { SiteSpec } from "../model/site";

/** A marker line in the page, so tests and monitoring can tell it from the hub's own pages. */
export const hubDownMarker = "jupyterhub-edge: the hub is not answering";

/** One line of HTML: no quotes, backslashes or `$` (nginx would expand it), so both syntaxes can quote it. */
export function hubDownPage(site: SiteSpec): string {
  const page =
    `<!doctype html><meta charset=utf-8><title>JupyterHub is not answering</title>` +
    `<h1>JupyterHub is not answering</h1>` +
    `<p>The web server for ${site.hub.domain} is up, but the JupyterHub behind it did not respond. ` +
    `It may be restarting: try again in a minute. If this lasts, tell the administrators.</p>` +
    `<!-- ${hubDownMarker} (503) -->`;
  if (/["\\$']/.test(page)) throw new Error("hub-down page must not contain quotes, backslashes or $");
  return page;
}
