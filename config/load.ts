/**
 * Reads the stack's config (every key under `jupyterhub-edge:`) into the raw shape the schema
 * validates, reading the key and host-key files named there. No host is contacted here.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, ConfigKey, configKeys } from "./keys";
import { ConfigError, parseConfig } from "./schema";
import { ConnectionSpec, SiteSpec } from "../model/site";
import { CertificateMaterial } from "../steps/plan";
import { certificateProblems } from "./certificates";

/** Typed view of string config values: integers and booleans as such, lists as parsed JSON. */
export function coerceRaw(strings: Record<string, string>): { raw: Record<string, unknown>; problems: string[] } {
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, text] of Object.entries(strings)) {
    const doc = (configKeys as Record<string, { type: string; default?: unknown } | undefined>)[key];
    if (key === "sshPrivateKey" || key === "providedCertificates") continue; // secrets: handled apart, never echoed
    if (doc?.default === "" && text === "") continue; // optional key left at its "not set" default
    if (!doc) {
      raw[key] = text; // the schema reports unknown keys by name
      continue;
    }
    if (doc.type === "integer") raw[key] = /^-?\d+$/.test(text.trim()) ? Number(text) : text;
    else if (doc.type === "boolean") raw[key] = text === "true" ? true : text === "false" ? false : text;
    else if (doc.type === "array") {
      try {
        raw[key] = JSON.parse(text);
      } catch {
        problems.push(`${CONFIG_NAMESPACE}:${key}: is not a valid list (set it with \`pulumi config set --path '${key}[0].domain' …\` or as JSON)`);
      }
    } else raw[key] = text;
  }
  raw.sshPrivateKeyGiven = (strings.sshPrivateKey ?? "") !== "";
  return { raw, problems };
}

function readFileFor(key: ConfigKey, file: string, baseDir: string): string {
  const full = path.resolve(baseDir, file);
  try {
    return fs.readFileSync(full, "utf8");
  } catch (e) {
    throw new ConfigError([`${CONFIG_NAMESPACE}:${key}: cannot read ${full}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`]);
  }
}

export interface LoadedConfig {
  site: SiteSpec;
  connection: ConnectionSpec;
  privateKey: pulumi.Output<string>;
  /** PEMs of certificateMode "provided" domains (secret). */
  providedCertificates: pulumi.Output<CertificateMaterial[]>;
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

/** Validates the given string config (as `pulumi config` holds it) and resolves files. */
export function loadFromStrings(strings: Record<string, string>, secretKey: pulumi.Output<string> | undefined, baseDir: string): LoadedConfig {
  const { raw, problems } = coerceRaw(strings);
  if (typeof raw.hostKeyFile === "string") {
    if (raw.hostKey !== undefined) problems.push(`${CONFIG_NAMESPACE}:hostKeyFile: set only one of hostKey and hostKeyFile`);
    else raw.hostKey = readFileFor("hostKeyFile", raw.hostKeyFile, baseDir).split("\n")[0].trim();
  }
  delete raw.hostKeyFile;
  if (typeof raw.acmeCaBundleFile === "string") raw.acmeCaBundlePem = readFileFor("acmeCaBundleFile", raw.acmeCaBundleFile, baseDir);
  delete raw.acmeCaBundleFile;
  const providedDomains: string[] = [];
  const provided = parseProvided(strings.providedCertificates ?? "", problems, providedDomains);
  raw.providedDomains = providedDomains;
  let parsed: ReturnType<typeof parseConfig> | undefined;
  try {
    parsed = parseConfig(raw);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.problems);
  }
  if (problems.length || !parsed) throw new ConfigError(problems);
  const { site, connection } = parsed;
  const privateKey = connection.privateKeyFile
    ? pulumi.secret(readFileFor("sshPrivateKeyFile", connection.privateKeyFile, baseDir))
    : secretKey!;
  return { site, connection, privateKey, providedCertificates: pulumi.secret(provided) };
}

/** The stack's own config, from the running Pulumi program. */
export function loadStackConfig(): LoadedConfig {
  const prefix = `${CONFIG_NAMESPACE}:`;
  const strings: Record<string, string> = {};
  for (const [k, v] of Object.entries(pulumi.runtime.allConfig())) {
    if (k.startsWith(prefix)) strings[k.slice(prefix.length)] = v;
  }
  // Pulumi cannot declare an optional secret (a declared secret must be set in every stack), so
  // the program itself refuses a private key stored in plaintext.
  const isSecret = (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
  for (const key of ["sshPrivateKey", "providedCertificates"]) {
    if ((strings[key] ?? "") !== "" && isSecret && !isSecret(`${CONFIG_NAMESPACE}:${key}`)) {
      throw new ConfigError([`${CONFIG_NAMESPACE}:${key}: is stored in plaintext; set it with \`pulumi config set --secret\``]);
    }
  }
  const secretKey = new pulumi.Config(CONFIG_NAMESPACE).getSecret("sshPrivateKey");
  return loadFromStrings(strings, secretKey, process.cwd());
}
