import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as command from "@pulumi/command";
import * as bcrypt from "bcryptjs";
import { createHash } from "crypto";
import { SiteSpec } from "../model/site";
import { Step } from "../steps/plan";
import { HtpasswdEntry, htpasswdPayload, requireSplitAuth } from "../render/split-auth";
import { RemoteStepArgs, StepPayload, remoteStep } from "./remote-step";

/** bcrypt work factor of hashes made here (given passwords; Go's and htpasswd's default). */
export const BCRYPT_COST = 10;
/**
 * The hash of a generated password: `{SHA}` (SHA-1, base64; what `htpasswd -s` writes), verified by
 * nginx and Apache themselves in ~1 µs instead of SHA-256-crypt's ~0.5 ms or bcrypt's ~50–100 ms per
 * request. The password's own ~143 random bits are what protect it (render/split-auth.ts
 * htpasswdHash); no salt is needed, so no salt resource: the same password always gives the same hash.
 */
export function generatedHash(password: string): string {
  return `{SHA}${createHash("sha1").update(password, "utf8").digest("base64")}`;
}

/**
 * bcrypt of a password with a given 16-byte salt (hex): the same inputs give the same hash, so a
 * stack whose passwords did not change renders the same htpasswd and a no-op `up` runs nothing.
 */
export function bcryptWithSalt(password: string, saltHex: string): string {
  const salt = Buffer.from(saltHex, "hex");
  if (salt.length !== 16) throw new Error("bcrypt salt must be 16 bytes");
  return bcrypt.hashSync(password, `$2b$${BCRYPT_COST}$${bcrypt.encodeBase64(salt, 16)}`);
}

export interface SplitAuthArgs {
  /** The validated site; its `splitAuth` block must be on. */
  site: SiteSpec;
  /** Passwords given in secret config, by user name. Default: none (every password is generated). */
  givenPasswords?: pulumi.Input<Record<string, string>>;
  /** Length of generated passwords (letters and digits). Default 24 (about 140 bits). */
  generatedLength?: number;
}

/**
 * Split auth's users: a generated password (@pulumi/random) with a `{SHA}` hash for each user the
 * stack gives none, a bcrypt hash of each given one (salt from @pulumi/random, kept in state, so the
 * hash is stable), and the htpasswd file on the host (`install`). Passwords and hashes exist only as
 * secrets: in state, in the step's stdin, and in the stack outputs of the generated passwords.
 */
export class SplitAuth extends pulumi.ComponentResource {
  /** Generated passwords by user name (secret), for `pulumi stack output --show-secrets`. */
  public readonly generatedPasswords: Record<string, pulumi.Output<string>> = {};
  /** The files payload of the htpasswd file (secret). */
  public readonly htpasswdPayload: pulumi.Output<string>;
  private readonly name: string;

  constructor(name: string, args: SplitAuthArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:auth:SplitAuth", name, {}, opts);
    this.name = name;
    const auth = requireSplitAuth(args.site);
    const given = pulumi.secret(pulumi.output(args.givenPasswords ?? {}));
    const entries = auth.users.map((user): pulumi.Output<HtpasswdEntry> => {
      if (user.passwordGiven) {
        const salt = new random.RandomId(`${name}-${user.name}-salt`, { byteLength: 16 }, { parent: this });
        return pulumi.all([given, salt.hex]).apply(([passwords, hex]) => {
          const password = passwords[user.name];
          if (password === undefined) throw new Error(`split auth: no password for ${user.name}`);
          return { user: user.name, hash: bcryptWithSalt(password, hex) };
        });
      }
      const password = new random.RandomPassword(
        `${name}-${user.name}-password`,
        { length: args.generatedLength ?? 24, special: false, minLower: 1, minUpper: 1, minNumeric: 1 },
        // The SDK marks result and bcryptHash secret in state itself.
        { parent: this },
      );
      this.generatedPasswords[user.name] = pulumi.secret(password.result);
      // Not the provider's bcryptHash: the proxy checks the hash on every request to the hub's pages,
      // and a cheap one is enough for ~143 random bits (generatedHash).
      return password.result.apply((pw) => ({ user: user.name, hash: generatedHash(pw) }));
    });
    this.htpasswdPayload = pulumi.secret(pulumi.all(entries).apply((list) => htpasswdPayload(args.site, list)));
    this.registerOutputs({ generatedPasswords: this.generatedPasswords });
  }

  /** Puts the htpasswd file on the host: its step (owner `split-auth`), split-auth-users. */
  createStep(step: Step<StepPayload>, args: RemoteStepArgs): command.remote.Command {
    return remoteStep(this.name, step, args, { parent: this });
  }
}
