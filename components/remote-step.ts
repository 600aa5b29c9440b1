/**
 * One plan step → one remote.Command: `create`/`update` apply the step's script, `delete` undoes it,
 * the payload travels on stdin. The command text is the installed script's short identity (path
 * with content hash, step, mode): a program upgrade that changes a script re-runs exactly the steps
 * using it; one that changes only comments runs nothing. Unchanged inputs run nothing, so a second
 * `pulumi up` is a no-op.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Step, remoteCommand } from "../steps/plan";

export type StepPayload = pulumi.Output<string>;

/** Step resources by step name, so that a step can depend on steps other components own. */
export type StepRegistry = Map<string, pulumi.Resource>;

export interface RemoteStepArgs {
  /** SSH connection (secret: it carries the private key). */
  connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
  /** The SSH user; non-root users run every step through `sudo -n`. */
  user: string;
  /** Steps applied before this one, by name. */
  registry: StepRegistry;
}

export function remoteStep(
  componentName: string,
  step: Step<StepPayload>,
  args: RemoteStepArgs,
  opts: pulumi.CustomResourceOptions & { parent: pulumi.Resource },
): command.remote.Command {
  if (args.registry.has(step.name)) throw new Error(`step ${step.name} is created twice`);
  const dependsOn = step.after.map((name) => {
    const dep = args.registry.get(name);
    if (!dep) throw new Error(`step ${step.name} needs step ${name}, which has not been created`);
    return dep;
  });
  const apply = remoteCommand(step, "apply", args.user);
  const resource = new command.remote.Command(
    `${componentName}-${step.name}`,
    {
      connection: args.connection,
      create: apply,
      update: apply,
      delete: remoteCommand(step, "undo", args.user),
      stdin: step.secret ? pulumi.secret(step.payload) : step.payload,
      // Old stdout as environment variables is noise (and sshd drops them anyway).
      addPreviousOutputInEnv: false,
      ...(step.replaceOn ? { triggers: [step.replaceOn] } : {}),
      ...(step.newVersionOn ? { triggers: [step.newVersionOn] } : {}),
      // Scripts never print payloads, but a secret step's output stays out of logs regardless.
      logging: step.secret ? "none" : "stdoutAndStderr",
    },
    {
      ...opts,
      dependsOn,
      ...(step.replaceOn ? { deleteBeforeReplace: true } : {}),
      additionalSecretOutputs: step.secret ? ["stdout", "stderr"] : [],
    },
  );
  args.registry.set(step.name, resource);
  return resource;
}

/**
 * A component that owns plan steps (its owner in steps/step.ts): each step it is handed becomes a
 * remote command named `<component>-<step>` under it. EdgeSite hands every step to its owner in
 * plan order, so a component never lists step names of its own.
 */
export abstract class StepOwningComponent extends pulumi.ComponentResource {
  protected constructor(type: string, private readonly componentName: string, private readonly stepArgs: RemoteStepArgs, opts?: pulumi.ComponentResourceOptions) {
    super(type, componentName, {}, opts);
  }

  createStep(step: Step<StepPayload>): command.remote.Command {
    return remoteStep(this.componentName, step, this.stepArgs, { parent: this });
  }
}
