/**
 * jupyterhub-edge as a library: the components a Pulumi program of your own uses (TypeScript through
 * the npm package, Python and the other languages through the component provider in provider/).
 *
 * The arguments are the stack config keys of this repository's own program (README, "Config keys"),
 * with the same defaults, and they are validated by the same code (config/fleet.ts → config/schema.ts):
 * a refused value gets the same message, naming the key, before anything is declared — no SSH
 * session is opened and, the run failing, nothing already deployed is deleted.
 *
 * Choices (proxy, platform, certificateMode, …) are strings checked at run time: Pulumi's schema
 * inference, which builds the SDKs of other languages from these interfaces, has no enums or unions.
 */
import * as pulumi from "@pulumi/pulumi";
import { LoadedStack, loadStackFromStrings } from "../config/fleet";
import { ConfigError } from "../config/schema";
import { removalProblems } from "../config/removals";
import { stackUrnsSync } from "./stack-state";
import { EdgeOutputs, RefusedConfigError, deploy } from "../program";

/** Another domain served from its own web root on the hub's HTTPS port. */
export interface ExtraSite {
  /** The domain, e.g. www.example.org, or a wildcard *.example.org. */
  domain: string;
  /** Its web root (default /var/www/<domain>); a directory of its own, not a system tree. */
  root?: string;
  /** acme, selfSigned or provided (default: the site's certificateMode). */
  certificateMode?: string;
  /** http-01 or dns-01 (default: the site's acmeChallenge). */
  acmeChallenge?: string;
}

/** The DNS server that takes RFC 2136 updates for the dns-01 challenge. */
export interface AcmeDns {
  /** Its IP address (certbot resolves no names). */
  server: string;
  /** Its port (default 53). */
  port?: number;
  /** The TSIG key's name. */
  tsigKeyName: string;
  /** hmac-sha256 (default), hmac-sha384 or hmac-sha512. */
  tsigAlgorithm?: string;
  /** Seconds certbot waits before validation (default 60). */
  propagationSeconds?: number;
}

/** A certificate of a `provided` domain. */
export interface ProvidedCertificate {
  /** The PEM chain, leaf first. */
  certificate: string;
  /** The leaf's PEM private key. */
  privateKey: string;
}

/** A split-auth login. */
export interface SplitAuthUser {
  /** The login name. */
  name: string;
  /** Its password (8–72 bytes; pass a secret). Leave it out to have one generated (output splitAuthPasswords). */
  password?: pulumi.Input<string>;
}

/** A password in front of the hub's own pages only (JupyterLab, kernels and the hub API keep JupyterHub's auth). */
export interface SplitAuth {
  /** The logins. */
  users?: SplitAuthUser[];
  /** Addresses or CIDRs admitted without a password (together never every address of a family). */
  allowFrom?: string[];
  /** What the browser's prompt names (default JupyterHub). */
  realm?: string;
}

/** Settings every server of a site or fleet shares: the stack config keys of the same names. */
export interface EdgeSharedArgs {
  /** SSH port of the server (default 22). */
  sshPort?: number;
  /** SSH user: root (default), or a user with passwordless sudo. */
  sshUser?: string;
  /** The SSH private key (PEM/OpenSSH), e.g. from a key resource of your own program; always kept secret. Set this or sshPrivateKeyFile. */
  sshPrivateKey?: pulumi.Input<string>;
  /** Absolute path of an SSH private key file on the machine running Pulumi, instead of sshPrivateKey. */
  sshPrivateKeyFile?: string;
  /** Reverse proxy: nginx (default) or apache. */
  proxy?: string;
  /** The server's OS release: debian-13 (default), debian-12, ubuntu-24.04, ubuntu-22.04, rhel-9, rocky-9, alma-9, fedora-41, fedora-42, fedora-43. */
  platform?: string;
  /** Path the hub is served under (default /), e.g. /jhub/. */
  hubPath?: string;
  /** With a hubPath other than /: redirect (default), notFound, or a web root of its own. */
  hubOutsidePath?: string;
  /** Where the hub listens (default http://127.0.0.1:8000); becomes c.JupyterHub.bind_url. Never a wildcard or a public address. */
  hubUpstream?: string;
  /** Public HTTPS port (default 443). */
  httpsPort?: number;
  /** Also listen on IPv6 (default true). */
  ipv6?: boolean;
  /** acme, selfSigned (default) or provided, for the hub and every domain that does not say otherwise. */
  certificateMode?: string;
  /** letsencrypt (default), letsencrypt-staging, or an ACME directory URL (https://…). */
  acmeServer?: string;
  /** ACME account contact; required with acme. */
  acmeEmail?: string;
  /** http-01 (default) or dns-01. */
  acmeChallenge?: string;
  /** For dns-01: the DNS server taking the updates. */
  acmeDns?: AcmeDns;
  /** For dns-01: the TSIG key's base64 secret (pass a secret). */
  acmeDnsTsigSecret?: pulumi.Input<string>;
  /** External Account Binding key id, for ACME CAs that require it. */
  acmeEabKeyId?: string;
  /** External Account Binding HMAC key, base64url (pass a secret). */
  acmeEabHmacKey?: pulumi.Input<string>;
  /** Per-user subdomains https://<user>.<hubDomain>/ (default false); the hub's certificate must cover *.<hubDomain>. */
  hubSubdomains?: boolean;
  /** Absolute path of a PEM CA of a private ACME server's HTTPS endpoint. */
  acmeCaBundleFile?: string;
  /** Revoke (not only delete) ACME certificates on destroy (default false). */
  acmeRevokeOnDestroy?: boolean;
  /** ACME bundles by domain (the acmeCarryOver output of an earlier deployment); set (even to {}) to turn carry-over on. Kept secret. */
  acmeCarryOver?: pulumi.Input<{ [domain: string]: string }>;
  /** Certificates of provided domains by domain. Kept secret. */
  providedCertificates?: pulumi.Input<{ [domain: string]: pulumi.Input<ProvidedCertificate> }>;
  /** Mozilla TLS profile: intermediate (default) or modern. */
  tlsProfile?: string;
  /** HSTS max-age in seconds (default 63072000; 0 sends none). */
  hstsMaxAge?: number;
  /** Add includeSubDomains to HSTS (default true). */
  hstsIncludeSubdomains?: boolean;
  /** Also offer DHE-RSA suites (default false). */
  dhe?: boolean;
  /** Size of the generated dhparam (default 2048; only with dhe). */
  dhparamBits?: number;
  /** Staple OCSP responses (default false). */
  ocspStapling?: boolean;
  /** Largest request body in MiB (default 512). */
  maxUploadMb?: number;
  /** Seconds a silent websocket may stay open (default 0: derived). */
  websocketIdleTimeout?: number;
  /** The hub's idle-culler timeout in seconds (default 0: no culler). */
  hubIdleCullTimeout?: number;
  /** People using the hub at once (default 30); sizes the proxy. */
  expectedParticipants?: number;
  /** Expert override: client connections to hold at once (default 0: derived). */
  maxConnections?: number;
  /** Open files per proxy process (default 16384). */
  openFilesLimit?: number;
  /** The server's memory in MiB for the capacity check (default 0: 2048 assumed). */
  hostMemoryMb?: number;
  /** Write c.JupyterHub.bind_url into the hub's config and restart the hub (default true). */
  manageHubConfig?: boolean;
  /** The hub's config file (default /etc/jupyterhub/jupyterhub_config.py). */
  hubConfigPath?: string;
  /** The hub's systemd unit (default jupyterhub). */
  hubService?: string;
  /** auto (default), on or off. */
  selinux?: string;
  /** Split auth: a password in front of the hub's own pages. */
  splitAuth?: SplitAuth;
}

/** The edge of one server. */
export interface EdgeSiteArgs extends EdgeSharedArgs {
  /** Address of the server (IP or DNS name), e.g. a VM's address from your own program. */
  host: pulumi.Input<string>;
  /** The server's SSH host key (`ssh-ed25519 AAAA…`), pinned. Strongly recommended. */
  hostKey?: pulumi.Input<string>;
  /** Absolute path of a file holding hostKey, instead of hostKey. */
  hostKeyFile?: string;
  /** The name users open, e.g. hub.example.org. */
  hubDomain: string;
  /** Other domains served from their own web roots. */
  extraSites?: ExtraSite[];
}

/** One server of a fleet: its own keys, and any shared key it overrides. */
export interface EdgeFleetHost {
  /** Short stable name (lowercase letters, digits, hyphens), e.g. room1: it names the server's resources and outputs. */
  name: string;
  /** Address of the server (IP or DNS name). */
  host: pulumi.Input<string>;
  /** The server's SSH host key, pinned. */
  hostKey?: pulumi.Input<string>;
  /** Absolute path of a file holding hostKey. */
  hostKeyFile?: string;
  /** The name users open. */
  hubDomain: string;
  /** Other domains served by this server. */
  extraSites?: ExtraSite[];
  /** SSH port (overrides the shared one). */
  sshPort?: number;
  /** SSH user (overrides the shared one). */
  sshUser?: string;
  /** This server's own SSH key file (instead of the shared sshPrivateKey). */
  sshPrivateKeyFile?: string;
  /** nginx or apache (overrides the shared one). */
  proxy?: string;
  /** The server's OS release (overrides the shared one). */
  platform?: string;
  /** acme, selfSigned or provided (overrides the shared one). */
  certificateMode?: string;
  /** Path the hub is served under (overrides the shared one). */
  hubPath?: string;
  /** Where the hub listens (overrides the shared one). */
  hubUpstream?: string;
  /** Public HTTPS port (overrides the shared one). */
  httpsPort?: number;
  /** People using this server at once (overrides the shared one). */
  expectedParticipants?: number;
  /** This server's memory in MiB (overrides the shared one). */
  hostMemoryMb?: number;
}

/** Several servers, each configured like an EdgeSite, in parallel. */
export interface EdgeFleetArgs extends EdgeSharedArgs {
  /** The servers. A server this fleet deployed that is no longer listed is refused unless named in removeServers. */
  hosts: EdgeFleetHost[];
  /**
   * Names of servers this fleet deployed that you mean to remove. Removing a server deletes its site,
   * CA and split-auth passwords for good, so a server missing from hosts is otherwise refused before
   * anything changes (a renamed entry reads the same). Take a name out again before adding it back.
   */
  removeServers?: string[];
}

/** Whether a value holds an Output anywhere (plain values are validated at once, in the constructor). */
function containsOutputs(v: unknown): boolean {
  if (pulumi.Output.isInstance(v)) return true;
  if (Array.isArray(v)) return v.some(containsOutputs);
  if (v !== null && typeof v === "object") return Object.values(v as object).some(containsOutputs);
  return false;
}

/**
 * The arguments as the stack's config strings (`pulumi config` holds every value as text: lists and
 * objects as JSON), which the stack's own loader validates. Unset values are left out.
 */
export function configStrings(args: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(args)) {
    if (value === undefined || value === null) continue;
    // providedCertificates, acmeCarryOver, splitAuth, extraSites, acmeDns, hosts: the JSON config holds.
    out[key] = typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
  }
  return out;
}

/** Validates (config/fleet.ts, the stack config's own path) or throws the refusal the program itself gives. */
function validate(strings: Record<string, string>, secretKey: pulumi.Output<string> | undefined): LoadedStack {
  try {
    return loadStackFromStrings(strings, secretKey, process.cwd());
  } catch (e) {
    if (e instanceof ConfigError) throw new RefusedConfigError(e.message);
    throw e;
  }
}

/**
 * Validates arguments given as plain values (the resolved inputs of a component provider's construct
 * call) the way the constructor does, throwing the same refusal: the provider (provider/index.ts)
 * refuses a bad value at once, before the component is constructed.
 */
export function checkArgs(kind: "EdgeSite" | "EdgeFleet", plain: Record<string, unknown>): void {
  const strings = configStrings(plain);
  if (kind === "EdgeSite") delete strings.hosts;
  validate(strings, typeof plain.sshPrivateKey === "string" && plain.sshPrivateKey !== "" ? pulumi.secret(plain.sshPrivateKey) : undefined);
}

interface Built {
  servers: { name: string; outputs: EdgeOutputs }[];
}

/** The type token of the site each fleet server gets (components/edge-site.ts), as in the children's URNs. */
const SITE_TYPE = "jupyterhub-edge:site:EdgeSite";

/** The running stack, as the engine's backend names it. */
const selfStack = () => `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;

/**
 * The servers a fleet's last deployment has: the names of its `<fleet>-<server>` sites in the stack's
 * state, read through the engine's own `pulumi:pulumi:readStackResourceOutputs` (the stack's last
 * checkpoint, which still holds a dropped server's resources until they are deleted). It is an invoke,
 * not a resource of ours, and it works the same in the TypeScript library and in the component provider
 * host a Python program's EdgeFleet runs in: it reads the state of the consumer's stack, not its
 * outputs, which the component does not control. This asynchronous form serves Pulumi's mocks and
 * server names given as Outputs; the constructor reads synchronously (fleetRemovalsCheckedNow).
 */
export async function deployedFleetServers(fleetUrn: string): Promise<string[]> {
  const [head, , qualifiedType, ...rest] = fleetUrn.split("::");
  if (!head?.startsWith("urn:pulumi:") || !qualifiedType) return [];
  const state = (await pulumi.runtime.invoke("pulumi:pulumi:readStackResourceOutputs", { stackName: selfStack() })) as { outputs?: Record<string, unknown> };
  const [, project] = fleetUrn.split("::");
  return deployedFromUrns(Object.keys(state.outputs ?? {}), `${head.slice("urn:pulumi:".length)}::${project}`, qualifiedType, rest.join("::"));
}

/**
 * The server names of a fleet's direct EdgeSite children among `urns` (pure), in the stack
 * `stackAndProject` ("<stack>::<project>", as URNs spell them). `fleetType` is the
 * fleet's qualified type (its parents' types and its own, as in its URN); undefined when not known
 * synchronously (a fleet inside a component of the caller's): any parent chain ending in an
 * EdgeFleet then matches — a same-named fleet elsewhere in the stack could only over-protect.
 */
export function deployedFromUrns(urns: string[], stackAndProject: string, fleetType: string | undefined, fleetName: string): string[] {
  const tail = `${FLEET_TYPE}$${SITE_TYPE}`;
  const names = urns.flatMap((u) => {
    const [head, project, qualifiedType, ...rest] = u.split("::");
    const name = rest.join("::");
    if (`${head}::${project}` !== `urn:pulumi:${stackAndProject}` || !name.startsWith(`${fleetName}-`)) return [];
    const matches = fleetType !== undefined ? qualifiedType === `${fleetType}$${SITE_TYPE}` : qualifiedType === tail || qualifiedType?.endsWith(`$${tail}`);
    return matches ? [name.slice(fleetName.length + 1)] : [];
  });
  return [...new Set(names)].sort();
}

const FLEET_TYPE = "jupyterhub-edge:index:EdgeFleet";

/** Throws the refusal (the stack path's check and message, worded for the argument), if any. */
function refuseRemovals(deployed: string[], planned: string[], confirmed: string[]): void {
  const problems = removalProblems(deployed, planned, confirmed, "component");
  if (problems.length) throw new RefusedConfigError(new ConfigError(problems).message);
}

/**
 * Refuses, before any of the fleet's servers is declared, to drop a server its last deployment had
 * unless `removeServers` names it (config/removals.ts says why; the same check and message as the
 * stack config's `removeServers`). The asynchronous form (Pulumi's mocks, or server names that are
 * Outputs): thrown in an apply, it fails the component's outputs.
 */
async function refuseUnconfirmedRemovals(fleetUrn: string, stack: LoadedStack): Promise<void> {
  refuseRemovals(await deployedFleetServers(fleetUrn), stack.hosts.map((h) => h.name), stack.removeServers);
}

/**
 * The check in the constructor itself, when the server names and removeServers are plain values (the
 * usual case, also when addresses or keys are Outputs) and an engine runs the program: a refusal is
 * thrown here, so the program fails before it can end — see lib/stack-state.ts for why that matters.
 * Returns false when it could not check now (then the check runs before the servers are declared).
 */
function fleetRemovalsCheckedNow(name: string, args: EdgeFleetArgs, opts: pulumi.ComponentResourceOptions | undefined): boolean {
  const hosts = args.hosts as unknown;
  const confirmed = args.removeServers as unknown;
  if (!Array.isArray(hosts) || !hosts.every((h) => h !== null && typeof h === "object" && typeof (h as { name?: unknown }).name === "string")) return false;
  if (confirmed !== undefined && confirmed !== null && !(Array.isArray(confirmed) && confirmed.every((n) => typeof n === "string"))) return false;
  const urns = stackUrnsSync(selfStack());
  if (!urns) return false;
  // A top-level fleet's URN is known now; under a parent of the caller's, its type chain is not.
  const fleetType = opts?.parent === undefined ? FLEET_TYPE : undefined;
  const deployed = deployedFromUrns(urns, `${pulumi.getStack()}::${pulumi.getProject()}`, fleetType, name);
  refuseRemovals(deployed, hosts.map((h) => (h as { name: string }).name), (confirmed as string[] | undefined) ?? []);
  return true;
}

/** Validates plain arguments (a fleet's entries and a single host are the config's `hosts` list and top-level keys). */
function validated(plain: Record<string, unknown>, fleet: boolean): LoadedStack {
  const strings = configStrings(plain);
  const secretKey = typeof plain.sshPrivateKey === "string" && plain.sshPrivateKey !== "" ? pulumi.secret(plain.sshPrivateKey) : undefined;
  if (!fleet) delete strings.hosts;
  return validate(strings, secretKey);
}

/**
 * Declares every server's resources of a validated stack under `parent`. `carrier` (the arguments as
 * given, when they held Outputs) makes every remote step depend on the resources those Outputs came
 * from: a VM of the caller's program is created before, and deleted after, them.
 */
function build(parent: pulumi.ComponentResource, name: string, stack: LoadedStack, carrier: pulumi.Output<unknown> | undefined, fleet: boolean): Built {
  const servers = stack.hosts.map((h) => {
    const privateKey = carrier ? pulumi.secret(pulumi.all([carrier, h.privateKey]).apply(([, k]) => k)) : h.privateKey;
    const resourceName = fleet ? `${name}-${h.name}` : name;
    return { name: h.name, outputs: deploy({ ...h, privateKey }, { parent }, resourceName) };
  });
  return { servers };
}

/** The split-auth passwords of one server's outputs, by user (secret). */
function passwordsOf(o: EdgeOutputs): pulumi.Output<{ [user: string]: string }> {
  const entries = Object.entries(o).filter(([k]) => k.startsWith("splitAuthPassword-")).map(([k, v]) => [k.slice("splitAuthPassword-".length), v as pulumi.Output<string>] as const);
  return pulumi.secret(pulumi.all(Object.fromEntries(entries)) as pulumi.Output<{ [user: string]: string }>);
}

/** Stand-ins for secrets given as Outputs (typically `pulumi.secret(…)`), valid for their key's rules. */
const secretStandIns: Record<string, unknown> = {
  sshPrivateKey: "stand-in",
  acmeDnsTsigSecret: Buffer.alloc(32).toString("base64"),
  acmeEabHmacKey: "stand-in",
  acmeCarryOver: {},
  providedCertificates: undefined,
  splitAuth: undefined, // its passwords are replaced one by one below
};

/**
 * When only secrets are Outputs (the usual case: a key passed as `pulumi.secret(…)`), everything
 * else is checked at once, with stand-ins for the secrets and their own problems left for later:
 * a refused value then throws in the constructor, before anything is declared, as with plain values.
 */
function precheck(args: Record<string, unknown>, fleet: boolean): void {
  const outputKeys = Object.keys(args).filter((k) => containsOutputs(args[k]));
  if (!outputKeys.every((k) => k in secretStandIns)) return; // an address or host key still to come: checked once known
  const standIn: Record<string, unknown> = { ...args };
  for (const k of outputKeys) standIn[k] = secretStandIns[k];
  if (outputKeys.includes("splitAuth")) {
    const sa = args.splitAuth as SplitAuth;
    standIn.splitAuth = { ...sa, users: sa.users?.map((u) => (pulumi.Output.isInstance(u.password) ? { ...u, password: "stand-in-password" } : u)) };
    if (containsOutputs(standIn.splitAuth)) return;
  }
  const strings = configStrings(standIn);
  if (!fleet) delete strings.hosts;
  try {
    loadStackFromStrings(strings, undefined, process.cwd());
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const own = e.problems.filter((p) => !outputKeys.some((k) => p.startsWith(`jupyterhub-edge:${k}`) || (k === "providedCertificates" && p.includes("providedCertificates"))));
    if (own.length) throw new RefusedConfigError(new ConfigError(own).message);
  }
}

/**
 * Validates now when every argument is a plain value (a refused value throws here, before anything
 * is declared), or once the Outputs among them are known (a refused value then fails the component's
 * outputs, still before anything of it is declared). A site is then built at once; a fleet once its
 * removals are checked against its last deployment (refuseUnconfirmedRemovals).
 */
function buildWhenKnown<T>(parent: pulumi.ComponentResource, name: string, args: object, fleet: boolean, shape: (b: Built) => T, checkRemovalsNow = () => false): pulumi.Output<T> | T {
  let removalsChecked = false;
  const declare = (stack: LoadedStack, carrier: pulumi.Output<unknown> | undefined): pulumi.Output<T> | T =>
    fleet && !removalsChecked ? parent.urn.apply(async (urn) => { await refuseUnconfirmedRemovals(urn, stack); return shape(build(parent, name, stack, carrier, fleet)); }) as unknown as pulumi.Output<T> : shape(build(parent, name, stack, carrier, fleet));
  if (!containsOutputs(args)) {
    const stack = validated(args as Record<string, unknown>, fleet);
    removalsChecked = fleet && checkRemovalsNow();
    return declare(stack, undefined);
  }
  precheck(args as Record<string, unknown>, fleet);
  removalsChecked = fleet && checkRemovalsNow();
  const carrier = pulumi.output(args as Record<string, unknown>);
  // Values to validate are read in the clear; each secret is wrapped as a secret again in build/deploy.
  return pulumi.unsecret(carrier).apply((plain) => declare(validated(plain as Record<string, unknown>, fleet), carrier)) as unknown as pulumi.Output<T>;
}

interface SiteOutputs {
  url: pulumi.Output<string>;
  caCertificate: pulumi.Output<string>;
  hubBindUrl: pulumi.Output<string>;
  proxyConfig: pulumi.Output<string>;
  splitAuthPasswords: pulumi.Output<{ [user: string]: string }>;
  acmeCarryOver: pulumi.Output<{ [domain: string]: string }>;
}

/**
 * JupyterHub's front door on one server you already run: nginx or Apache with HTTPS, websockets and a
 * hub listening on localhost only, configured over SSH. `pulumi destroy` leaves the server as found.
 */
export class EdgeSite extends pulumi.ComponentResource {
  /** The hub's public URL. */
  public readonly url: pulumi.Output<string>;
  /** The self-signed CA your users' browsers must trust ("" when no domain is self-signed). */
  public readonly caCertificate: pulumi.Output<string>;
  /** What the hub binds to behind the proxy (c.JupyterHub.bind_url). */
  public readonly hubBindUrl: pulumi.Output<string>;
  /** The proxy's config as pushed to the server. */
  public readonly proxyConfig: pulumi.Output<string>;
  /** Split auth's generated passwords by user name (secret; empty without split auth). */
  public readonly splitAuthPasswords: pulumi.Output<{ [user: string]: string }>;
  /** The server's ACME bundles by domain (secret; empty unless acmeCarryOver is set), for a rebuilt server's acmeCarryOver. */
  public readonly acmeCarryOver: pulumi.Output<{ [domain: string]: string }>;

  constructor(name: string, args: EdgeSiteArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:index:EdgeSite", name, {}, opts);
    const shape = (b: Built): SiteOutputs => {
      const o = b.servers[0].outputs;
      return {
        url: o.url,
        caCertificate: o.caCertificate,
        hubBindUrl: pulumi.output(o.hubBindUrl),
        proxyConfig: o.proxyConfig,
        splitAuthPasswords: passwordsOf(o),
        acmeCarryOver: pulumi.secret(o.acmeCarryOver ?? pulumi.output<Record<string, string>>({})),
      };
    };
    const r = buildWhenKnown(this, name, args, false, shape);
    const pick = <K extends keyof SiteOutputs>(k: K): SiteOutputs[K] => (pulumi.Output.isInstance(r) ? (r.apply((x) => x[k]) as unknown as SiteOutputs[K]) : (r as SiteOutputs)[k]);
    this.url = pick("url");
    this.caCertificate = pick("caCertificate");
    this.hubBindUrl = pick("hubBindUrl");
    this.proxyConfig = pick("proxyConfig");
    this.splitAuthPasswords = pulumi.secret(pick("splitAuthPasswords"));
    this.acmeCarryOver = pulumi.secret(pick("acmeCarryOver"));
    this.registerOutputs({ url: this.url, caCertificate: this.caCertificate, hubBindUrl: this.hubBindUrl, proxyConfig: this.proxyConfig, splitAuthPasswords: this.splitAuthPasswords, acmeCarryOver: this.acmeCarryOver });
  }
}

interface FleetOutputs {
  urls: pulumi.Output<{ [server: string]: string }>;
  caCertificates: pulumi.Output<{ [server: string]: string }>;
  hubBindUrls: pulumi.Output<{ [server: string]: string }>;
  splitAuthPasswords: pulumi.Output<{ [server: string]: { [user: string]: string } }>;
  acmeCarryOver: pulumi.Output<{ [domain: string]: string }>;
}

/**
 * Several servers, each with its own EdgeSite-like edge (resources `<name>-<server>`), configured in
 * parallel; the shared arguments apply to every server, an entry's own keys override them.
 */
export class EdgeFleet extends pulumi.ComponentResource {
  /** Each server's hub URL by server name. */
  public readonly urls: pulumi.Output<{ [server: string]: string }>;
  /** Each server's self-signed CA by server name ("" when none). */
  public readonly caCertificates: pulumi.Output<{ [server: string]: string }>;
  /** Each server's hub bind URL by server name. */
  public readonly hubBindUrls: pulumi.Output<{ [server: string]: string }>;
  /** Split auth's generated passwords by server, then user (secret). */
  public readonly splitAuthPasswords: pulumi.Output<{ [server: string]: { [user: string]: string } }>;
  /** Every server's ACME bundles by domain (secret), for acmeCarryOver. */
  public readonly acmeCarryOver: pulumi.Output<{ [domain: string]: string }>;

  constructor(name: string, args: EdgeFleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:index:EdgeFleet", name, {}, opts);
    const by = <T>(b: Built, f: (o: EdgeOutputs) => pulumi.Input<T>) => pulumi.all(Object.fromEntries(b.servers.map((s) => [s.name, f(s.outputs)]))) as pulumi.Output<{ [server: string]: T }>;
    const shape = (b: Built): FleetOutputs => ({
      urls: by<string>(b, (o) => o.url),
      caCertificates: by<string>(b, (o) => o.caCertificate),
      hubBindUrls: by<string>(b, (o) => o.hubBindUrl),
      splitAuthPasswords: pulumi.secret(by<{ [user: string]: string }>(b, passwordsOf)),
      acmeCarryOver: pulumi.secret(pulumi.all(b.servers.map((s) => s.outputs.acmeCarryOver ?? pulumi.output<Record<string, string>>({}))).apply((maps) => Object.assign({}, ...maps) as { [domain: string]: string })),
    });
    const r = buildWhenKnown(this, name, args, true, shape, () => fleetRemovalsCheckedNow(name, args, opts));
    const pick = <K extends keyof FleetOutputs>(k: K): FleetOutputs[K] => (pulumi.Output.isInstance(r) ? (r.apply((x) => x[k]) as unknown as FleetOutputs[K]) : (r as FleetOutputs)[k]);
    this.urls = pick("urls");
    this.caCertificates = pick("caCertificates");
    this.hubBindUrls = pick("hubBindUrls");
    this.splitAuthPasswords = pulumi.secret(pick("splitAuthPasswords"));
    this.acmeCarryOver = pulumi.secret(pick("acmeCarryOver"));
    this.registerOutputs({ urls: this.urls, caCertificates: this.caCertificates, hubBindUrls: this.hubBindUrls, splitAuthPasswords: this.splitAuthPasswords, acmeCarryOver: this.acmeCarryOver });
  }
}
