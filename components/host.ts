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
  /** Registry the host's steps are recorded in, for the steps that follow. */
  registry: StepRegistry;
  /** How many failed SSH dials to tolerate while the host comes up. Default 60 (~90 s). */
  dialErrorLimit?: number;
}

/**
 * The server, reached over SSH. Its steps (owner `host`): first the install step, which waits for
 * SSH (a high dial-error limit: the provider's own wait-for-host pattern) and installs the remote
 * scripts; then preflight, which refuses a host whose OS is not the stack's platform, before any
 * other step changes anything.
 */
export class Host extends pulumi.ComponentResource {
  /** Connection for every other step (secret: it holds the key). */
  public readonly connection: pulumi.Output<command.types.input.remote.ConnectionArgs>;
  /** The preflight step's output, once that step exists. */
  public readonly ready: pulumi.Output<string>;
  private readonly name: string;
  private readonly waitingConnection: pulumi.Output<command.types.input.remote.ConnectionArgs>;
  private resolveReady!: (stdout: pulumi.Output<string>) => void;

  constructor(name: string, private readonly args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:host:Host", name, {}, opts);
    this.name = name;
    const base = {
      host: args.connection.host,
      port: args.connection.port,
      user: args.connection.user,
      privateKey: args.privateKey,
      ...(args.connection.hostKey ? { hostKey: args.connection.hostKey } : {}),
    };
    this.connection = pulumi.secret(pulumi.output(base));
    this.waitingConnection = pulumi.secret(pulumi.output({ ...base, dialErrorLimit: args.dialErrorLimit ?? 60 }));
    this.ready = pulumi.output(new Promise<pulumi.Output<string>>((resolve) => (this.resolveReady = resolve)));
    this.registerOutputs({ ready: this.ready });
  }

  createStep(step: Step<StepPayload>): command.remote.Command {
    // The install step is the first to reach the host: it waits for SSH to come up.
    const connection = step.script === "install" ? this.waitingConnection : this.connection;
    const resource = remoteStep(this.name, step, { connection, user: this.args.connection.user, registry: this.args.registry }, { parent: this });
    if (step.script === "preflight") this.resolveReady(resource.stdout);
    return resource;
  }
}
