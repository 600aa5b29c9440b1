/**
 * Reads the stack's config (every key under `jupyterhub-edge:`) into the raw shape the schema
 * validates, reading the key and host-key files named there. No host is contacted here.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, configKeys } from "./keys";
import { ConfigError, parseConfig } from "./schema";
import { ConnectionSpec, SiteSpec } from "../model/site";
import { CertificateMaterial } from "../steps/plan";
import { certificateProblems } from "./certificates";
import { misplacedKeyLines } from "./messages";
import { readSplitAuth } from "./split-auth";

/**
 * One value by its key's declared type: integers and booleans as such, lists as parsed JSON. Values
 * that already have a type (inside structured config such as a `hosts` entry) are kept as they are.
 */
function coerceValue(key: string, value: unknown, label: string, problems: string[]): unknown {
  const doc = (configKeys as Record<string, { type: string; default?: unknown } | undefined>)[key];
  if (!doc || typeof value !== "string") return value; // the schema reports unknown keys by name
  const text = value;
  if (doc.type === "integer") return /^-?\d+$/.test(text.trim()) ? Number(text) : text;
  if (doc.type === "boolean") return text === "true" ? true : text === "false" ? false : text;
  if (doc.type === "array") {
    try {
      return JSON.parse(text);
    } catch {
      problems.push(`${label}: is not a valid list (set it with \`pulumi config set --path '${key}[0].domain' …\` or as JSON)`);
      return undefined;
    }
  }
  return text;
}

/** Typed view of string config values: integers and booleans as such, lists as parsed JSON. */
export function coerceRaw(strings: Record<string, string>): { raw: Record<string, unknown>; problems: string[] } {
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, text] of Object.entries(strings)) {
    const doc = (configKeys as Record<string, { type: string; default?: unknown } | undefined>)[key];
    // Secrets (or blocks holding them): handled apart, never echoed.
    if (key === "sshPrivateKey" || key === "providedCertificates" || key === "splitAuth" || key === "acmeCarryOver") continue;
    if (doc?.default === "" && text === "") continue; // optional key left at its "not set" default
    const value = coerceValue(key, text, `${CONFIG_NAMESPACE}:${key}`, problems);
    if (value !== undefined) raw[key] = value;
  }
  raw.sshPrivateKeyGiven = (strings.sshPrivateKey ?? "") !== "";
  return { raw, problems };
}

/** `label` names the key in the error: `hostKeyFile`, or `hosts[1].hostKeyFile` for a fleet entry. */
function readFileFor(label: string, file: string, baseDir: string): string {
  const full = path.resolve(baseDir, file);
  try {
    return fs.readFileSync(full, "utf8");
  } catch (e) {
    throw new ConfigError([`${CONFIG_NAMESPACE}:${label}: cannot read ${full}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`]);
  }
}

export interface LoadedConfig {
  site: SiteSpec;
  connection: ConnectionSpec;
  privateKey: pulumi.Output<string>;
  /** PEMs of certificateMode "provided" domains (secret). */
  providedCertificates: pulumi.Output<CertificateMaterial[]>;
  /** Split auth passwords given in config, by user name (secret); the others are generated. */
  splitAuthPasswords: pulumi.Output<Record<string, string>>;
  /** Carried-over ACME bundles by domain (secret; empty unless acmeCarryOver is set). */
  acmeCarryOver: pulumi.Output<Record<string, string>>;
}

/**
 * Parses the secret acmeCarryOver JSON ({domain: base64 bundle}) by shape only: its values are
 * private keys and never appear in a message. Returns undefined when the key is not set.
 */
export function parseCarryOver(text: string | undefined, problems: string[]): Record<string, string> | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  const key = `${CONFIG_NAMESPACE}:acmeCarryOver`;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    problems.push(`${key}: is not valid JSON (expected {"<domain>": "<bundle>"}, as \`pulumi stack output --show-secrets acmeCarryOver\` prints it)`);
    return {};
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    problems.push(`${key}: must be a JSON object keyed by domain`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [domain, bundle] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof bundle !== "string" || !/^[A-Za-z0-9+/=]+$/.test(bundle)) problems.push(`${key}.${domain}: must be a bundle as the acmeCarryOver stack output gives it (base64 text)`);
    else out[domain] = bundle;
  }
  return out;
}

/**
 * Parses the secret providedCertificates JSON. Problems are described by shape only: the value is a
 * secret and must not appear in an error message.
 */
export function parseProvided(text: string, problems: string[], domains: string[] = []): CertificateMaterial[] {
  if (text.trim() === "") return [];
  const key = `${CONFIG_NAMESPACE}:providedCertificates`;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    problems.push(`${key}: is not valid JSON (expected {"<domain>": {"certificate": "<PEM>", "privateKey": "<PEM>"}})`);
    return [];
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    problems.push(`${key}: must be a JSON object keyed by domain`);
    return [];
  }
  const out: CertificateMaterial[] = [];
  for (const [domain, v] of Object.entries(doc as Record<string, unknown>)) {
    domains.push(domain); // has an entry (its problems, if any, are reported here)
    const entry = v as { certificate?: unknown; privateKey?: unknown } | null;
    const cert = entry?.certificate, pk = entry?.privateKey;
    if (typeof cert !== "string" || !/-----BEGIN CERTIFICATE-----/.test(cert)) problems.push(`${key}.${domain}.certificate: must be a PEM certificate chain`);
    else if (typeof pk !== "string" || !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pk)) problems.push(`${key}.${domain}.privateKey: must be a PEM private key`);
    else {
      const found = certificateProblems(domain, cert, pk);
      problems.push(...found.map((p) => `${key}.${domain}.${p.field}: ${p.reason}`));
      if (found.length === 0) out.push({ domain, fullchainPem: cert, privateKeyPem: pk });
    }
  }
  return out;
}

/**
 * Replaces the file keys of raw config by what they name: hostKeyFile → hostKey (first line),
 * acmeCaBundleFile → acmeCaBundlePem. `where` prefixes the key in messages ("" or "hosts[1].").
 */
export function resolveFileKeys(raw: Record<string, unknown>, baseDir: string, problems: string[], where = ""): void {
  if (typeof raw.hostKeyFile === "string") {
    if (raw.hostKey !== undefined) problems.push(`${CONFIG_NAMESPACE}:${where}hostKeyFile: set only one of hostKey and hostKeyFile`);
    else raw.hostKey = readFileFor(`${where}hostKeyFile`, raw.hostKeyFile, baseDir).split("\n")[0].trim();
  }
  delete raw.hostKeyFile;
  if (typeof raw.acmeCaBundleFile === "string") raw.acmeCaBundlePem = readFileFor(`${where}acmeCaBundleFile`, raw.acmeCaBundleFile, baseDir);
  delete raw.acmeCaBundleFile;
}

/** The SSH key of a validated connection: the file it names, or the shared secret key. */
export function privateKeyFor(connection: ConnectionSpec, secretKey: pulumi.Output<string> | undefined, baseDir: string, where = ""): pulumi.Output<string> {
  return connection.privateKeyFile ? pulumi.secret(readFileFor(`${where}sshPrivateKeyFile`, connection.privateKeyFile, baseDir)) : secretKey!;
}

/** Validates the given string config (as `pulumi config` holds it) and resolves files. */
export function loadFromStrings(strings: Record<string, string>, secretKey: pulumi.Output<string> | undefined, baseDir: string): LoadedConfig {
  // An empty `hosts` list is the single-host form: the top-level keys are the one server.
  if (["", "[]"].includes((strings.hosts ?? "").trim())) {
    const { hosts: _none, ...single } = strings;
    strings = single;
  }
  const { raw, problems } = coerceRaw(strings);
  resolveFileKeys(raw, baseDir, problems);
  const providedDomains: string[] = [];
  const provided = parseProvided(strings.providedCertificates ?? "", problems, providedDomains);
  raw.providedDomains = providedDomains;
  const splitAuth = readSplitAuth(strings.splitAuth ?? "", problems);
  if (splitAuth.raw !== undefined) raw.splitAuth = splitAuth.raw;
  const carried = parseCarryOver(strings.acmeCarryOver, problems);
  if (carried) raw.acmeCarryOverDomains = Object.keys(carried);
  let parsed: ReturnType<typeof parseConfig> | undefined;
  try {
    parsed = parseConfig(raw);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.problems);
  }
  if (problems.length || !parsed) throw new ConfigError(problems);
  const { site, connection } = parsed;
  return {
    site,
    connection,
    privateKey: privateKeyFor(connection, secretKey, baseDir),
    providedCertificates: pulumi.secret(provided),
    splitAuthPasswords: pulumi.secret(splitAuth.passwords),
    acmeCarryOver: pulumi.secret(carried ?? {}),
  };
}

/** The stack's config strings (every `jupyterhub-edge:` key), with secrets checked for encryption. */
export function stackConfigStrings(): { strings: Record<string, string>; secretKey: pulumi.Output<string> | undefined } {
  const prefix = `${CONFIG_NAMESPACE}:`;
  const strings: Record<string, string> = {};
  for (const [k, v] of Object.entries(pulumi.runtime.allConfig())) {
    if (k.startsWith(prefix)) strings[k.slice(prefix.length)] = v;
  }
  // Pulumi cannot declare an optional secret (a declared secret must be set in every stack), so
  // the program itself refuses a private key stored in plaintext.
  const isSecret = (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
  for (const key of ["sshPrivateKey", "providedCertificates", "splitAuth", "acmeCarryOver"]) {
    // splitAuth is secret as a whole once any password in it was set with --secret.
    const holdsSecret = key === "splitAuth" ? /"password"\s*:\s*"[^"]/.test(strings[key] ?? "") : (strings[key] ?? "") !== "";
    if (holdsSecret && isSecret && !isSecret(`${CONFIG_NAMESPACE}:${key}`)) {
      throw new ConfigError([`${CONFIG_NAMESPACE}:${key}: is stored in plaintext; set it with \`pulumi config set --secret\``]);
    }
  }
  // A key in a misspelt namespace would be silently ignored: refuse it, naming the key meant.
  const misplaced = misplacedKeyLines(Object.keys(pulumi.runtime.allConfig()));
  if (misplaced.length) throw new ConfigError(misplaced);
  return { strings, secretKey: new pulumi.Config(CONFIG_NAMESPACE).getSecret("sshPrivateKey") };
}

/** The stack's own config, from the running Pulumi program (single-host form). */
export function loadStackConfig(): LoadedConfig {
  const { strings, secretKey } = stackConfigStrings();
  return loadFromStrings(strings, secretKey, process.cwd());
}
