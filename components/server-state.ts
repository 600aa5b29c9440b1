/**
 * What the program put on one server, watched for hand edits: `pulumi preview --refresh` lists,
 * per server, each managed item that no longer matches (a short diff for plain files, only "changed"
 * for secret ones), and `pulumi up --refresh` re-applies exactly the steps that own them. A plain
 * `up` or `preview` opens no SSH session for it. Served by this package's own provider
 * (provider/server-state.ts explains the mechanism).
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Step } from "../steps/plan";
import { SERVER_STATE_TYPE, WatchedStep, isWatched, ownUnitsOnce, watchedStep } from "../steps/drift";
import { StepPayload } from "./remote-step";

export interface ServerStateArgs {
  /** SSH connection (secret: it carries the private key). */
  connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
  /** The SSH user; non-root users run the probe and repairs through `sudo -n`. */
  user: string;
  /** The server's name in messages (the fleet entry, or the component's name). */
  server: string;
  /** The plan's steps; those that own files, packages, units or the hub block are watched. */
  steps: Step<StepPayload>[];
}

export class ServerState extends pulumi.CustomResource {
  /** Managed items that differ on the server, by "<step>: <item>" ({} right after an apply). */
  public readonly drift!: pulumi.Output<Record<string, string | string[]>>;

  constructor(name: string, args: ServerStateArgs, opts: pulumi.CustomResourceOptions) {
    const watched = args.steps.filter(isWatched);
    const steps: pulumi.Output<WatchedStep[]> = pulumi
      .all(watched.map((s) => pulumi.output(s.payload)))
      .apply((payloads) => ownUnitsOnce(watched.map((s, i) => watchedStep(s as Step<unknown>, payloads[i] as string, args.user))));
    super(
      SERVER_STATE_TYPE,
      name,
      {
        connection: pulumi.secret(args.connection),
        user: args.user,
        server: args.server,
        // Secret as a whole: payloads carry keys and password hashes, and a config change then
        // reads as one line here; the steps' own diffs show what changed.
        steps: pulumi.secret(steps),
        drift: undefined,
      },
      opts,
    );
  }
}

/** This package's own provider, as an explicit resource (EdgeSite says why not the default one). */
export class EdgeProvider extends pulumi.ProviderResource {
  constructor(name: string, opts?: pulumi.ResourceOptions) {
    super("jupyterhub-edge", name, {}, opts);
  }
}
