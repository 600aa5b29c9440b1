/**
 * Removing a server from a fleet is the one config change that destroys what cannot be made again:
 * that server's site is torn down, and with it its private CA (which every participant's browser
 * was told to trust), its split-auth passwords (handed out on paper), its ACME account and
 * certificates. To the engine, a deleted `hosts` entry, a renamed one (a typo in `name`) and a
 * single-host stack turned into a fleet all read the same: "delete these". So a server that the
 * stack's last deployment had and the config no longer names must be confirmed by name in
 * `removeServers`, or the run is refused before anything is declared.
 *
 * Why a confirmation key and not Pulumi's `protect`: `protect` also blocks `pulumi destroy`, which
 * every workshop ends with, and deleting a protected resource fails midway through the deletes (the
 * site is already down when the CA refuses to go). `retainOnDelete` keeps nothing worth keeping:
 * the CA key and the passwords live only in the state, which a delete removes either way.
 *
 * Pure: the program reads the deployed servers (the stack's last outputs) and passes them in.
 */
import { CONFIG_NAMESPACE } from "./keys";

/** The name the single-host form's server has in messages and in `removeServers`. */
export const SINGLE_HOST_NAME = "edge";

/**
 * The servers a stack's outputs describe: the keys of `hosts` for a fleet, `edge` for a single-host
 * stack (it has `url` at the top), none for a stack never deployed.
 */
export function deployedServers(outputs: Record<string, unknown>): string[] {
  const hosts = outputs.hosts;
  if (hosts !== null && typeof hosts === "object" && !Array.isArray(hosts)) return Object.keys(hosts);
  return typeof outputs.url === "string" ? [SINGLE_HOST_NAME] : [];
}

/** Where the confirmation is given: the stack's config (this repository's program) or an EdgeFleet's argument (lib/). */
export type RemovalSource = "stack" | "component";

/** How to confirm removing `name`, for each source: same key, `removeServers`, in both. */
function confirmation(source: RemovalSource, name: string): string {
  return source === "stack"
    ? `confirm with \`pulumi config set --path '${CONFIG_NAMESPACE}:removeServers[0]' ${name}\``
    : `confirm it in the EdgeFleet's removeServers argument (Python: remove_servers=["${name}"])`;
}

/**
 * Problems with removing servers: every deployed server missing from `planned` must be listed in
 * `confirmed`; a confirmed name must not also be planned (it would be kept, so the list is stale).
 * `source` only changes who deployed it ("this stack" / "this EdgeFleet") and how to confirm.
 */
export function removalProblems(deployed: readonly string[], planned: readonly string[], confirmed: readonly string[], source: RemovalSource = "stack"): string[] {
  const key = `${CONFIG_NAMESPACE}:removeServers`;
  const problems: string[] = [];
  const unconfirmed = deployed.filter((d) => !planned.includes(d) && !confirmed.includes(d));
  for (const name of unconfirmed) {
    const what = name === SINGLE_HOST_NAME && source === "stack"
      ? "the single-host site (deployed with the top-level keys) is not in the config any more: turning the stack into a fleet rebuilds it as a new server"
      : `server ${name} was deployed by this ${source === "stack" ? "stack" : "EdgeFleet"} and is not among hosts any more`;
    problems.push(
      `${CONFIG_NAMESPACE}:hosts: ${what}; this up would tear its site down and delete its CA and split-auth passwords for good. ` +
        `If you renamed it, give it its name back; to remove it, ${confirmation(source, name)}`,
    );
  }
  for (const name of confirmed) {
    if (planned.includes(name)) problems.push(`${key}: ${name} is also in the config, so it is kept: take it out of removeServers`);
  }
  return problems;
}
