import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ConnectionSpec } from "../model/site";
import { Step } from "../steps/plan";
import { StepPayload, StepRegistry, remoteStep } from "./remote-step";

export interface HostArgs {
  /** Where and how to connect (validated stack config). */
  connection: ConnectionSpec;
  /** The SSH private key, as a secret. */
  privateKey: pulumi.Input<string>;
  /** The plan's install step (the remote scripts, once per version). */
  scripts: Step<StepPayload>;
  /** The plan's preflight step (OS release check, state directory). */
  preflight: Step<StepPayload>;
  /** Registry the preflight step is recorded in, for the steps that follow. */
  registry: StepRegistry;
  /** How many failed SSH dials to tolerate while the host comes up. Default 60 (~90 s). */
  dialErrorLimit?: number;
}

/**
 * The server, reached over SSH. Its first step waits for SSH (a high dial-error limit: the
 * provider's own wait-for-host pattern) and installs the remote scripts; the second refuses a host
 * whose OS is not the stack's platform, before any other step changes anything.
 */
export class Host extends pulumi.ComponentResource {
  /** Connection for every other step (secret: it holds the key). */
  public readonly connection: pulumi.Output<command.types.input.remote.ConnectionArgs>;
  public readonly ready: command.remote.Command;

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:host:Host", name, {}, opts);
    const base = {
      host: args.connection.host,
      port: args.connection.port,
      user: args.connection.user,
      privateKey: args.privateKey,
      ...(args.connection.hostKey ? { hostKey: args.connection.hostKey } : {}),
    };
    this.connection = pulumi.secret(pulumi.output(base));
    remoteStep(
      name,
      args.scripts,
      {
        connection: pulumi.secret(pulumi.output({ ...base, dialErrorLimit: args.dialErrorLimit ?? 60 })),
        user: args.connection.user,
        registry: args.registry,
      },
      { parent: this },
    );
    this.ready = remoteStep(name, args.preflight, { connection: this.connection, user: args.connection.user, registry: args.registry }, { parent: this });
    this.registerOutputs({ ready: this.ready.stdout });
  }
}
