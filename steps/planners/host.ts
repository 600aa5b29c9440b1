/** The host's steps (owner `host`): the scripts, installed once per version, then the preflight check. */
import { SiteSpec } from "../../model/site";
import { hostPaths } from "../../model/platforms";
import { scriptBundle } from "../remote-scripts";
import { kvPayload } from "../payloads";
import { Step } from "../step";

/** The plan's first step: the scripts, installed on the host once per version (install.sh). */
export function installStep<P>(): Step<P> {
  const bundle = scriptBundle();
  return { name: "scripts", owner: "host", script: "install", payload: bundle.text, secret: false, after: [], newVersionOn: bundle.id };
}

/**
 * Directories several steps may create — both proxies' packages (/var/www/html, /var/www), and the
 * certificate, certbot and dhparam steps (/etc/jupyterhub-edge) — deepest first.
 */
function sharedDirs(site: SiteSpec): string[] {
  const all = [...site.platform.nginx.purgeLeftovers, ...site.platform.apache.purgeLeftovers, hostPaths.configDir].filter((p) => !/\.[a-z]+$/.test(p));
  return [...new Set(all)].sort((a, b) => b.split("/").length - a.split("/").length);
}

export function hostSteps<P>(site: SiteSpec): Step<P>[] {
  return [
    installStep<P>(),
    {
      name: "preflight",
      owner: "host",
      script: "preflight",
      payload: kvPayload({
        platform: site.platform.id,
        os_id: site.platform.osRelease.id,
        os_version: site.platform.osRelease.versionId,
        version_match: site.platform.osRelease.versionMatch,
        package_manager: site.platform.packageManager,
        // Deepest first. Either proxy's package may create them, and a proxy switch hands them over.
        shared_dirs: sharedDirs(site).join(" "),
      }),
      secret: false,
      after: ["scripts"],
    },
  ];
}
