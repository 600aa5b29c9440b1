/**
 * What a plan is made of: steps, each run by one remote script and created by one component. The
 * planners (steps/planners/) make them; steps/plan.ts puts them in order.
 */

/**
 * The step scripts, scripts/remote/<name>.sh (a test keeps this list and the directory equal), and
 * `install`, the plan's first step, which puts them on the host (steps/remote-scripts.ts).
 */
export const scriptNames = ["install", "preflight", "packages", "files", "web-roots", "hub-managed-block", "apache-modules", "certbot", "dhparam", "selinux", "firewall", "capacity", "acme-carry-over"] as const;
export type ScriptName = (typeof scriptNames)[number];

/**
 * The component that creates a step's resource, and the planner that makes it (steps/planners/<owner>.ts);
 * components/edge-site.ts takes each step to its owner's component. Resource names and parents
 * follow the owner, so a step never changes owner.
 */
export const stepOwners = ["host", "proxy", "certificates", "acme", "split-auth", "brute-force", "hub"] as const;
export type StepOwner = (typeof stepOwners)[number];

export interface Step<P = string> {
  /** Unique, stable: becomes the resource name suffix and the record name on the host. */
  name: string;
  /** Required: a step nobody creates would silently never run. */
  owner: StepOwner;
  script: ScriptName;
  /** What the script reads on stdin; a secret payload stays secret in state and preview. */
  payload: string | P;
  secret: boolean;
  /** Names of steps that must be applied before this one (and undone after it). */
  after: string[];
  /**
   * When this value changes the step is replaced, undo first (delete-before-replace): switching
   * proxies must take the old one's files and ports away before the new one starts.
   */
  replaceOn?: string;
  /**
   * When this value changes the step is replaced the other way round: the new version is applied
   * first and the old one undone at the end of the update (the install step: steps still being
   * undone with the old scripts must find them).
   */
  newVersionOn?: string;
}

/** A planner's steps, and the one among them the HTTPS vhosts name (a certificate, the dhparam, the users file), if any. */
export interface Planned<P> {
  steps: Step<P>[];
  /** proxy-config runs after it: a vhost naming a missing file fails its config test. */
  neededByVhosts?: string;
}
