/**
 * A stack's servers: the one implicit server of the single-host keys, or the `hosts` list (a fleet).
 * Each fleet entry is merged over the stack's shared keys and validated by the same parseConfig as
 * a single-host stack, so every rule and message applies per host; a message about a key the entry
 * set (or a per-host key) names the entry: `jupyterhub-edge:hosts[1].hubDomain: …`.
 */
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, HOST_NAME_FIELD, configKeys, notPerHostKeys, perHostKeys } from "./keys";
import { ConfigError, parseConfig } from "./schema";
import {
  LoadedConfig, SecretBlocks, coerceRaw, lineageNames, loadFromStrings, privateKeyFor, providedCoverageProblems, readSecretBlocks, resolveFileKeys, secretOutputs, stackConfigStrings,
  unservedCarryOverWarnings, unservedDomainProblems,
} from "./load";
import { allDomains } from "../model/site";
import { canonicalAddress } from "./addresses";
import { secretValues, withoutSecretValues } from "./secrets";
import { sharedDomainProblem } from "./public-edge";

/** Most servers one stack configures (one per room or per few dozen participants). */
export const MAX_HOSTS = 100;

export interface LoadedHost extends LoadedConfig {
  /** Stable name of the server: it names the server's resources and its stack outputs. */
  name: string;
}

export interface LoadedStack {
  /**
   * True for the single-host keys: one server whose resources keep the names they always had
   * (`edge-…`), so existing stacks see no change.
   */
  implicit: boolean;
  hosts: LoadedHost[];
  /** Deployed servers the user confirmed for removal (`removeServers`; fleets only). */
  removeServers: string[];
  /**
   * Config that is accepted but does nothing, said as Pulumi warnings by `loadStack` (e.g. a
   * carried-over bundle for a domain no server serves).
   */
  warnings?: string[];
}

const hostNamePattern = /^[a-z][a-z0-9-]{0,30}$/;
const ns = CONFIG_NAMESPACE;

/** Keys a message starts with: `jupyterhub-edge:KEY…: message`. */
const messageKey = /^jupyterhub-edge:([A-Za-z][A-Za-z0-9]*)(?=[.[:])/;

/**
 * Moves a parseConfig message about KEY to `hosts[i].KEY` when the entry set KEY (or KEY belongs to
 * a server); messages about shared keys stay as they are (and are reported once, not per host).
 */
function relocate(problem: string, i: number, entryKeys: Set<string>): string {
  const m = messageKey.exec(problem);
  if (!m || !(entryKeys.has(m[1]) || (perHostKeys as readonly string[]).includes(m[1]))) return problem;
  return `${ns}:hosts[${i}].${problem.slice(ns.length + 1)}`;
}

/** Typed values of an entry (strings from `--path` set as text are coerced like top-level ones). */
function coerceEntry(entry: Record<string, unknown>, i: number, problems: string[]): Record<string, unknown> {
  const strings: Record<string, string> = {};
  const typed: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry)) {
    if (typeof v === "string") strings[k] = v;
    else typed[k] = v;
  }
  const { raw, problems: p } = coerceRaw(strings);
  delete raw.sshPrivateKeyGiven;
  problems.push(...p.map((q) => q.replace(`${ns}:`, `${ns}:hosts[${i}].`)));
  return { ...raw, ...typed };
}

/** A fleet being read: what every entry shares, and what the entries read so far hold. */
interface FleetRead {
  problems: string[];
  /** The shared keys' raw config, under each entry's own. */
  shared: Record<string, unknown>;
  secrets: SecretBlocks;
  secretKey: pulumi.Output<string> | undefined;
  baseDir: string;
  hosts: LoadedHost[];
  /** Entry names → index. */
  names: Map<string, number>;
  /**
   * Servers by canonical address and port: one server spelt two ways (`2001:DB8::1` and
   * `[2001:db8:0::1]`, `Lab.Example.org` and `lab.example.org`) is still one server. A name and an
   * IP address of the same server cannot be told apart without DNS, which validation does not use.
   */
  addresses: Map<string, { index: number; host: string }>;
  /** Every domain served so far: by which entry, and its hub's base path when it is that entry's hub. */
  domains: Map<string, { where: string; hubPath?: string }>;
  lineages: string[];
}

/** Validates `hosts[i]` over the shared keys, adding the server to `f.hosts` or its problems to `f.problems`. */
function readEntry(entry: unknown, i: number, f: FleetRead): void {
  const { problems, shared, secrets, secretKey, baseDir, hosts, names, addresses, domains, lineages } = f;
  const { provided } = secrets;
  const at = `${ns}:hosts[${i}]`;
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    problems.push(`${at}: each entry must be an object {name, host, hubDomain, …}`);
    return;
  }
  const { [HOST_NAME_FIELD]: name, ...fields } = entry as Record<string, unknown>;
  if (name === undefined) problems.push(`${at}.name: is required (a short name such as room1: it names the server's resources and outputs)`);
  else if (typeof name !== "string" || !hostNamePattern.test(name)) {
    problems.push(`${at}.name: must be lowercase letters, digits and hyphens, starting with a letter (at most 31), e.g. room1`);
  } else if (names.has(name)) problems.push(`${at}.name: ${name} is already the name of hosts[${names.get(name)}]`);
  else names.set(name, i);
  for (const key of notPerHostKeys) {
    if (key in fields) {
      // Never echo the value: these may be secrets.
      problems.push(`${at}.${key}: cannot be set per host${key === "hosts" ? " (hosts do not nest)" : key === "removeServers" ? "; it is a stack-wide list of server names" : `; set the shared ${key} (secret) or, for SSH, hosts[${i}].sshPrivateKeyFile`}`);
      delete fields[key];
    }
  }
  const entryProblems: string[] = [];
  const own = coerceEntry(fields, i, entryProblems);
  const entryKeys = new Set(Object.keys(own));
  try {
    resolveFileKeys(own, baseDir, entryProblems, `hosts[${i}].`);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    entryProblems.push(...e.problems);
  }
  const merged: Record<string, unknown> = { ...shared, ...own };
  // The entry's own key file replaces the shared secret key for this server.
  if (own.sshPrivateKeyFile !== undefined) merged.sshPrivateKeyGiven = false;
  let parsed: ReturnType<typeof parseConfig> | undefined;
  try {
    parsed = parseConfig(merged);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    entryProblems.push(...e.problems.map((p) => relocate(p, i, entryKeys)));
  }
  problems.push(...entryProblems);
  if (!parsed || typeof name !== "string") return;
  const h = parsed.connection.host;
  const address = `${h.includes(":") && !h.startsWith("[") ? `[${h}]` : h}:${parsed.connection.port}`;
  const key = `${canonicalAddress(parsed.connection.host)} port ${parsed.connection.port}`;
  const first = addresses.get(key);
  if (first) {
    const spelling = first.host === parsed.connection.host ? "" : `, written ${first.host} there`;
    problems.push(`${at}.host: ${address} is already hosts[${first.index}]${spelling} (two entries cannot share a server)`);
  } else addresses.set(key, { index: i, host: parsed.connection.host });
  problems.push(...providedCoverageProblems(parsed.site, provided));
  lineages.push(...lineageNames(parsed.site));
  for (const d of allDomains(parsed.site)) {
    const hubPath = d === parsed.site.hub.domain ? parsed.site.hub.path : undefined;
    const first = domains.get(d);
    if (first) {
      const message = sharedDomainProblem(d, first, { hubPath, nameFor: (domain) => ownName(domain, name) });
      problems.push(`${at}${hubPath !== undefined ? ".hubDomain" : `.extraSites[${parsed.site.extraSites.findIndex((s) => s.domain === d)}].domain`}: ${message}`);
    } else domains.set(d, { where: `hosts[${i}]`, hubPath });
  }
  try {
    hosts.push({
      name,
      ...parsed,
      privateKey: privateKeyFor(parsed.connection, secretKey, baseDir, own.sshPrivateKeyFile !== undefined ? `hosts[${i}].` : ""),
      ...secretOutputs(secrets),
    });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.problems);
  }
}

/** The fleet form: `hosts` entries over the shared keys. */
function loadFleet(strings: Record<string, string>, entries: unknown, secretKey: pulumi.Output<string> | undefined, baseDir: string): LoadedStack {
  const problems: string[] = [];
  const { hosts: _hosts, removeServers: removeText, ...sharedStrings } = strings;
  const removeServers = parseRemoveServers(removeText, problems);
  const { raw: shared, problems: sharedProblems } = coerceRaw(sharedStrings);
  problems.push(...sharedProblems);
  for (const key of perHostKeys) {
    if (shared[key] !== undefined && !(key === "extraSites" && Array.isArray(shared[key]) && (shared[key] as unknown[]).length === 0)) {
      problems.push(`${ns}:${key}: belongs to one server: with hosts, set it in each entry (hosts[N].${key})`);
    }
    delete shared[key];
  }
  resolveFileKeys(shared, baseDir, problems);
  // Shared by every server: the same certificates, split auth users and passwords, carried-over
  // bundles, TSIG and EAB keys (one DNS zone, one ACME account's binding).
  const secrets = readSecretBlocks(strings, shared, problems);
  const { providedDomains, carried } = secrets;

  if (!Array.isArray(entries)) {
    throw new ConfigError([`${ns}:hosts: must be a list of {name, host, hubDomain, …} (set it with \`pulumi config set --path 'hosts[0].name' …\`)`]);
  }
  if (entries.length > MAX_HOSTS) {
    throw new ConfigError([`${ns}:hosts: has ${entries.length} entries; at most ${MAX_HOSTS} (split the servers over several stacks)`]);
  }
  const f: FleetRead = { problems, shared, secrets, secretKey, baseDir, hosts: [], names: new Map(), addresses: new Map(), domains: new Map(), lineages: [] };
  entries.forEach((entry, i) => readEntry(entry, i, f));
  const { hosts, domains, lineages } = f;
  if (entries.length === 0) problems.push(`${ns}:hosts: is empty`);
  // Certificates and carried-over bundles are shared: checked against every server's domains, once
  // every entry is known (a domain of an entry that did not parse is not "unserved").
  const warnings: string[] = [];
  if (hosts.length === entries.length) {
    problems.push(...unservedDomainProblems([...domains.keys()], providedDomains));
    warnings.push(...unservedCarryOverWarnings(lineages, carried ? Object.keys(carried) : undefined));
  }
  // A problem with a shared key shows up once per host: report it once.
  if (problems.length) throw new ConfigError([...new Set(problems)]);
  return { implicit: false, hosts, removeServers, warnings: [...new Set(warnings)] };
}

/** A name for the entry's own hub beside `domain`: its first label replaced by the entry's name. */
function ownName(domain: string, entryName: string): string {
  const rest = domain.split(".").slice(1).join(".");
  const candidate = `${entryName}.${rest}`;
  return candidate === domain ? `${entryName}-hub.${rest}` : candidate;
}

/** `removeServers`: a list of server names (hosts[N].name, or "edge" for a single-host stack's). */
function parseRemoveServers(text: string | undefined, problems: string[]): string[] {
  if (text === undefined || ["", "[]"].includes(text.trim())) return [];
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    list = undefined;
  }
  if (!Array.isArray(list) || list.length > 100 || !list.every((n) => typeof n === "string" && hostNamePattern.test(n))) {
    problems.push(`${ns}:removeServers: must be a list of server names (hosts[N].name, e.g. room3; "edge" for a single-host stack's server), set with \`pulumi config set --path '${ns}:removeServers[0]' room3\``);
    return [];
  }
  return list as string[];
}

/** Validates the stack's config strings into its servers. Throws ConfigError listing every problem. */
export function loadStackFromStrings(strings: Record<string, string>, secretKey: pulumi.Output<string> | undefined, baseDir: string): LoadedStack {
  try {
    return loadStackFromStringsAsGiven(strings, secretKey, baseDir);
  } catch (e) {
    // A secret value given in a wrong place too stays a secret in every message (config/secrets.ts).
    if (e instanceof ConfigError) throw new ConfigError(e.problems.map((p) => withoutSecretValues(p, secretValues(strings))));
    throw e;
  }
}

function loadStackFromStringsAsGiven(strings: Record<string, string>, secretKey: pulumi.Output<string> | undefined, baseDir: string): LoadedStack {
  const text = (strings.hosts ?? "").trim();
  let entries: unknown = [];
  if (text !== "") {
    try {
      entries = JSON.parse(text);
    } catch {
      throw new ConfigError([`${ns}:hosts: is not a valid list (set it with \`pulumi config set --path 'hosts[0].name' room1\` …)`]);
    }
  }
  if (Array.isArray(entries) && entries.length === 0) {
    // removeServers confirms removing servers from a fleet: a single-host stack has none to remove.
    if (!["", "[]"].includes((strings.removeServers ?? "").trim())) {
      throw new ConfigError([`${ns}:removeServers: only applies with hosts (a fleet); remove it`]);
    }
    const { removeServers: _none, ...single } = strings;
    const warnings: string[] = [];
    return { implicit: true, hosts: [{ name: "edge", ...loadFromStrings(single, secretKey, baseDir, warnings) }], removeServers: [], warnings };
  }
  return loadFleet(strings, entries, secretKey, baseDir);
}

/** The running stack's servers. */
export function loadStack(): LoadedStack {
  const { strings, secretKey } = stackConfigStrings();
  const stack = loadStackFromStrings(strings, secretKey, process.cwd());
  // Said once per run, as a warning diagnostic of the stack (shown by preview and up).
  for (const w of stack.warnings ?? []) pulumi.log.warn(w);
  return stack;
}

/** Config keys a hosts entry may set (documentation and tests). */
export const hostEntryKeys: string[] = [HOST_NAME_FIELD, ...Object.keys(configKeys).filter((k) => !(notPerHostKeys as readonly string[]).includes(k))];
