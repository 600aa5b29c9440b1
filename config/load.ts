/**
 * Reads the stack's config (every key under `jupyterhub-edge:`) into the raw shape the schema
 * validates, reading the key and host-key files named there. No host is contacted here.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, configKeys, keysHoldingSecrets } from "./keys";
import { ConfigError, parseConfig } from "./schema";
import { CertificateMaterial, ConnectionSpec, SiteSpec, allDomains, allSites } from "../model/site";
import { certificateProblems } from "./certificates";
import { misplacedKeyLines } from "./messages";
import { readSplitAuth } from "./split-auth";
import { fileContentProblem } from "./secrets";
import { maxLengths, siteNameProblem } from "./rules";

/** What each file-path key's file holds, for "looks like <what> contents, not a path". */
const fileKeyContents: Record<string, string> = {
  sshPrivateKeyFile: "the key's",
  hostKeyFile: "the host key's",
  acmeCaBundleFile: "the CA bundle's",
};

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
      const example = (doc as { items?: string }).items === "string" ? `${key}[0]' VALUE` : `${key}[0].domain' …`;
      problems.push(`${label}: is not a valid list (set it with \`pulumi config set --path '${example}\` or as JSON)`);
      return undefined;
    }
  }
  if (doc.type === "object") {
    if (["", "{}"].includes(text.trim())) return undefined; // the declared default: not set
    try {
      return JSON.parse(text);
    } catch {
      problems.push(`${label}: is not a valid object (set its fields with \`pulumi config set --path '${key}.FIELD' …\` or as JSON)`);
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
    if ((keysHoldingSecrets as readonly string[]).includes(key)) continue;
    if (doc?.default === "" && text === "") continue; // optional key left at its "not set" default
    const value = coerceValue(key, text, `${CONFIG_NAMESPACE}:${key}`, problems);
    if (value !== undefined) raw[key] = value;
  }
  raw.sshPrivateKeyGiven = (strings.sshPrivateKey ?? "") !== "";
  return { raw, problems };
}

/** The ACME secrets: the TSIG key of acmeDns and the External Account Binding HMAC key. */
export interface AcmeSecrets {
  tsigSecret?: string;
  eabHmacKey?: string;
}

/**
 * Reads the ACME secrets by shape only (their values never appear in a message) and notes in `raw`
 * whether each was given, which is all the schema sees of them.
 */
export function readAcmeSecrets(strings: Record<string, string>, raw: Record<string, unknown>, problems: string[]): AcmeSecrets {
  const out: AcmeSecrets = {};
  const tsig = (strings.acmeDnsTsigSecret ?? "").trim();
  if (tsig !== "") {
    const key = `${CONFIG_NAMESPACE}:acmeDnsTsigSecret`;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(tsig) || tsig.length % 4 !== 0) {
      problems.push(`${key}: must be the key's secret in base64, as tsig-keygen or keymgr print it (the part between the quotes of \`secret "…";\`); the value is not shown`);
    } else if (Buffer.from(tsig, "base64").length < 16) {
      problems.push(`${key}: is a ${Buffer.from(tsig, "base64").length}-byte key; a TSIG key has at least 16 bytes (tsig-keygen makes 32)`);
    } else out.tsigSecret = tsig;
  }
  raw.acmeDnsTsigSecretGiven = tsig !== "";
  const eab = (strings.acmeEabHmacKey ?? "").trim();
  if (eab !== "") {
    const key = `${CONFIG_NAMESPACE}:acmeEabHmacKey`;
    if (/[+/]/.test(eab) && /^[A-Za-z0-9+/_-]+=*$/.test(eab)) {
      problems.push(`${key}: is base64 with '+' or '/'; an EAB HMAC key is base64url (RFC 8555): check you copied the right value (the value is not shown)`);
    } else if (!/^[A-Za-z0-9_-]+=*$/.test(eab)) {
      problems.push(`${key}: must be the HMAC key your ACME CA gave you, in base64url (letters, digits, '-' and '_'); the value is not shown`);
    } else if (eab.length > 1024) {
      problems.push(`${key}: is ${eab.length} characters long; an HMAC key has at most 1024`);
    } else out.eabHmacKey = eab;
  }
  raw.acmeEabHmacKeyGiven = eab !== "";
  return out;
}

/**
 * Why a file-path key's value cannot be read as a path (it is the file's contents, or too long), or
 * undefined. `label` ends in the key's name. The value is never part of the reason.
 */
export function filePathProblem(label: string, file: string): string | undefined {
  const key = label.replace(/^.*\./, "");
  const content = fileContentProblem(file, fileKeyContents[key] ?? "the file's");
  if (content) return `${CONFIG_NAMESPACE}:${label}: ${content}`;
  if (file.length > maxLengths.path) return `${CONFIG_NAMESPACE}:${label}: is ${file.length} characters long; a path has at most ${maxLengths.path}`;
  return undefined;
}

/** `label` names the key in the error: `hostKeyFile`, or `hosts[1].hostKeyFile` for a fleet entry. */
function readFileFor(label: string, file: string, baseDir: string): string {
  const notAPath = filePathProblem(label, file);
  if (notAPath) throw new ConfigError([notAPath]);
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
  /** The TSIG and EAB keys (secret; each absent unless set). */
  acmeSecrets: pulumi.Output<AcmeSecrets>;
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
    if (lineageNameProblem(domain)) problems.push(notADomainLine(key));
    else if (typeof bundle !== "string" || !/^[A-Za-z0-9+/=]+$/.test(bundle)) problems.push(`${key}.${domain}: must be a bundle as the acmeCarryOver stack output gives it (base64 text)`);
    else if (bundle.length > MAX_SECRET_ENTRY) problems.push(`${key}.${domain}: is ${bundle.length} characters long; a bundle has at most ${MAX_SECRET_ENTRY}`);
    else out[domain] = bundle;
  }
  return out;
}

/** Why a carried-over bundle's name is not a lineage name (a domain, or `_wildcard.<domain>`). */
function lineageNameProblem(name: string): string | undefined {
  return siteNameProblem(name.replace(/^_wildcard\./, "*."));
}

/** Largest bundle or PEM a secret block's entry may hold (a chain, a key, an ACME lineage: a few KB). */
const MAX_SECRET_ENTRY = 1024 * 1024;

/** The line for an entry of a secret block keyed by something that is not a domain: not echoed. */
function notADomainLine(key: string): string {
  return `${key}: an entry's name is not a domain name (not shown: the block is secret); the names are the domains, e.g. {"hub.example.org": …}`;
}

/** " (domains are written in lower case: x)" when `d` is a served domain in another case. */
function caseHint(d: string, known: ReadonlySet<string>): string {
  const lower = d.toLowerCase();
  return lower !== d && known.has(lower) ? ` (domains are written in lower case: ${lower})` : "";
}

/**
 * Provided certificates for domains no site of the stack serves: they would be ignored in silence
 * (a typo, or a site removed since). Refused. `served` is every domain of every server.
 */
export function unservedDomainProblems(served: readonly string[], providedDomains: readonly string[]): string[] {
  const known = new Set(served);
  return providedDomains
    .filter((d) => !known.has(d))
    .map((d) => `${CONFIG_NAMESPACE}:providedCertificates.${d}: no site of this stack serves ${d} (hubDomain, extraSites[].domain)${caseHint(d, known)}; remove its entry, or add the site`);
}

/**
 * Carried-over ACME bundles for domains no site serves. A warning, not a refusal: the acmeCarryOver
 * output keeps the bundles of servers no longer in the stack on purpose (a server removed for a
 * while takes its certificate back when it returns), and the documented way to set this key is to
 * copy that output, so such entries are expected; they are said, not refused.
 */
export function unservedCarryOverWarnings(served: readonly string[], carriedDomains: readonly string[] | undefined): string[] {
  const known = new Set(served);
  return (carriedDomains ?? [])
    .filter((d) => !known.has(d))
    .map(
      (d) =>
        `${CONFIG_NAMESPACE}:acmeCarryOver.${d}: no site of this stack serves ${d}${caseHint(d, known)}: its bundle is pushed to no server (it stays in the acmeCarryOver output); remove it from the config if the site is gone for good`,
    );
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
    if (siteNameProblem(domain)) {
      problems.push(notADomainLine(key));
      continue;
    }
    domains.push(domain); // has an entry (its problems, if any, are reported here)
    const entry = v as { certificate?: unknown; privateKey?: unknown } | null;
    const cert = entry?.certificate, pk = entry?.privateKey;
    if ([cert, pk].some((t) => typeof t === "string" && t.length > MAX_SECRET_ENTRY)) problems.push(`${key}.${domain}: a PEM is longer than ${MAX_SECRET_ENTRY} characters`);
    else if (typeof cert !== "string" || !/-----BEGIN CERTIFICATE-----/.test(cert)) problems.push(`${key}.${domain}.certificate: must be a PEM certificate chain`);
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
  // A value that is the file's contents is reported (without it) and not read as a path.
  for (const key of ["hostKeyFile", "acmeCaBundleFile"]) {
    const notAPath = typeof raw[key] === "string" ? filePathProblem(`${where}${key}`, raw[key] as string) : undefined;
    if (notAPath) {
      problems.push(notAPath);
      delete raw[key];
    }
  }
  if (typeof raw.hostKeyFile === "string") {
    if (raw.hostKey !== undefined) problems.push(`${CONFIG_NAMESPACE}:${where}hostKeyFile: set only one of hostKey and hostKeyFile`);
    else {
      const first = readFileFor(`${where}hostKeyFile`, raw.hostKeyFile, baseDir).split("\n")[0].trim();
      // The private host key (ssh_host_ed25519_key instead of its .pub): never read further.
      if (/^-----\s*BEGIN/.test(first)) problems.push(`${CONFIG_NAMESPACE}:${where}hostKeyFile: names a private key file; give the public key (the .pub file, or ssh-keyscan's output)`);
      else raw.hostKey = first;
    }
  }
  delete raw.hostKeyFile;
  if (typeof raw.acmeCaBundleFile === "string") raw.acmeCaBundlePem = readFileFor(`${where}acmeCaBundleFile`, raw.acmeCaBundleFile, baseDir);
  delete raw.acmeCaBundleFile;
}

/** The SSH key of a validated connection: the file it names, or the shared secret key. */
export function privateKeyFor(connection: ConnectionSpec, secretKey: pulumi.Output<string> | undefined, baseDir: string, where = ""): pulumi.Output<string> {
  return connection.privateKeyFile ? pulumi.secret(readFileFor(`${where}sshPrivateKeyFile`, connection.privateKeyFile, baseDir)) : secretKey!;
}

/** The config's secret blocks, read by shape only; one set for the stack (every server of a fleet shares them). */
export interface SecretBlocks {
  provided: CertificateMaterial[];
  /** Domains providedCertificates has an entry for (valid or not). */
  providedDomains: string[];
  splitAuthPasswords: Record<string, string>;
  /** undefined: acmeCarryOver not set. */
  carried?: Record<string, string>;
  acmeSecrets: AcmeSecrets;
}

/**
 * Reads the secret blocks (provided certificates, split auth's passwords, carried-over bundles, the
 * ACME keys) and notes in `raw` what the schema sees of them: the domains, the split auth block
 * without its passwords, whether each key was given.
 */
export function readSecretBlocks(strings: Record<string, string>, raw: Record<string, unknown>, problems: string[]): SecretBlocks {
  const providedDomains: string[] = [];
  const provided = parseProvided(strings.providedCertificates ?? "", problems, providedDomains);
  raw.providedDomains = providedDomains;
  const splitAuth = readSplitAuth(strings.splitAuth ?? "", problems);
  if (splitAuth.raw !== undefined) raw.splitAuth = splitAuth.raw;
  const carried = parseCarryOver(strings.acmeCarryOver, problems);
  if (carried) raw.acmeCarryOverDomains = Object.keys(carried);
  const acmeSecrets = readAcmeSecrets(strings, raw, problems);
  return { provided, providedDomains, splitAuthPasswords: splitAuth.passwords, carried, acmeSecrets };
}

/** The secret blocks as a server's secret outputs. */
export function secretOutputs(b: SecretBlocks): Pick<LoadedConfig, "providedCertificates" | "splitAuthPasswords" | "acmeCarryOver" | "acmeSecrets"> {
  return {
    providedCertificates: pulumi.secret(b.provided),
    splitAuthPasswords: pulumi.secret(b.splitAuthPasswords),
    acmeCarryOver: pulumi.secret(b.carried ?? {}),
    acmeSecrets: pulumi.secret(b.acmeSecrets),
  };
}

/**
 * Validates the given string config (as `pulumi config` holds it) and resolves files. Things said
 * but not refused (config that does nothing) are added to `warnings` when given.
 */
export function loadFromStrings(strings: Record<string, string>, secretKey: pulumi.Output<string> | undefined, baseDir: string, warnings?: string[]): LoadedConfig {
  // An empty `hosts` list is the single-host form: the top-level keys are the one server.
  if (["", "[]"].includes((strings.hosts ?? "").trim())) {
    const { hosts: _none, ...single } = strings;
    strings = single;
  }
  const { raw, problems } = coerceRaw(strings);
  resolveFileKeys(raw, baseDir, problems);
  const secrets = readSecretBlocks(strings, raw, problems);
  const { provided, providedDomains, carried } = secrets;
  let parsed: ReturnType<typeof parseConfig> | undefined;
  try {
    parsed = parseConfig(raw);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.problems);
  }
  if (parsed) {
    problems.push(...unservedDomainProblems(allDomains(parsed.site), providedDomains));
    problems.push(...providedCoverageProblems(parsed.site, provided));
    warnings?.push(...unservedCarryOverWarnings(lineageNames(parsed.site), carried ? Object.keys(carried) : undefined));
  }
  if (problems.length || !parsed) throw new ConfigError(problems);
  const { site, connection } = parsed;
  return {
    site,
    connection,
    privateKey: privateKeyFor(connection, secretKey, baseDir),
    ...secretOutputs(secrets),
  };
}

/** The certificate names of a site's sites (what acmeCarryOver is keyed by: the domain, `_wildcard.<rest>` for `*.<rest>`). */
export function lineageNames(site: SiteSpec): string[] {
  return allSites(site).map((s) => s.certificateName);
}

/**
 * A provided certificate must cover every name its site answers: with hubSubdomains, the hub's
 * certificate must also cover *.<hubDomain> (the users' servers). Checked once the site is known.
 */
export function providedCoverageProblems(site: SiteSpec, provided: CertificateMaterial[]): string[] {
  const problems: string[] = [];
  for (const s of allSites(site)) {
    const m = s.certificate === "provided" ? provided.find((p) => p.domain === s.domain) : undefined;
    if (!m) continue;
    for (const name of s.names.filter((n) => n !== s.domain)) {
      for (const p of certificateProblems(name, m.fullchainPem, m.privateKeyPem).filter((p) => /does not cover/.test(p.reason))) {
        problems.push(`${CONFIG_NAMESPACE}:providedCertificates.${s.domain}.${p.field}: ${p.reason} (hubSubdomains serves the users' servers there)`);
      }
    }
  }
  return problems;
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
  for (const key of keysHoldingSecrets) {
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
