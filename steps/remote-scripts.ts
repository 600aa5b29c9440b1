/**
 * How the remote scripts reach a host and how a step names the one it runs. Pure: reads only the
 * committed scripts in scripts/remote/.
 *
 * The scripts are installed once per host by the plan's first step (`scripts`, script install.sh),
 * each under the hash of its own text: /usr/local/lib/jupyterhub-edge/<hash>/<script>.sh. A step's
 * command line is then a short identity — `bash /usr/local/lib/jupyterhub-edge/<hash>/files.sh
 * proxy-http apply` — so previews, state and error messages carry no script text.
 *
 * What the hash covers decides what a program upgrade re-runs. It is the installed text: lib.sh and
 * the step's script with full-line comments, trailing comments on plain lines and blank lines
 * removed (outside here-documents). Editing a comment changes nothing on the host and re-runs
 * nothing; any change bash would see changes that script's hash, so exactly the steps using it
 * (every step, for lib.sh) re-run — and the preview names them. The render tier checks with bash
 * itself that stripping never changes what bash parses.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { hostPaths, platforms, proxyConfigTest } from "../model/platforms";
import { HUB_BLOCK_BEGIN, HUB_BLOCK_END } from "../render/hub-config";

/**
 * The repository's scripts/remote: next to steps/ when run from source, two levels up when run from
 * the compiled package (dist/steps/, see tsconfig.build.json: the scripts are shipped, not copied).
 */
export const scriptsDir = [path.join(__dirname, "..", "scripts", "remote"), path.join(__dirname, "..", "..", "scripts", "remote")].find((d) => fs.existsSync(path.join(d, "lib.sh"))) ?? path.join(__dirname, "..", "scripts", "remote");
/** Where the scripts live on a host (install.sh reads it from the constants below). */
export const installRoot = hostPaths.installRoot;

/**
 * What the scripts share with the program, defined once here and in model/platforms.ts and shipped
 * to the host as the first lines of every installed script (so its hash covers them). Committed
 * values only: no stack value is in it.
 */
export interface HostConstants {
  stateDir: string;
  installRoot: string;
  stepLock: string;
  /** The hub config's managed block: the BEGIN line starts with the first, the END line is the second. */
  hubBlockBegin: string;
  hubBlockEnd: string;
  /** Each unit's config test, as an argv (every platform's proxies and fail2ban). */
  configTests: Record<string, string[]>;
  /**
   * Records written by versions before the scripts kept what undo needs: those versions ran on the
   * Debian family only, so undo reads that row's facts.
   */
  legacy: { apacheModulesFacts: string; certbotRenewalDropIn: string };
}

/** Every platform's units and their config tests; one unit name never means two commands. */
function configTests(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const add = (unit: string, argv: string[]) => {
    const known = out[unit];
    if (known && known.join(" ") !== argv.join(" ")) throw new Error(`unit ${unit}: two config tests (${known.join(" ")} / ${argv.join(" ")})`);
    out[unit] = argv;
  };
  for (const p of Object.values(platforms)) {
    add(p.nginx.service, proxyConfigTest(p, "nginx"));
    add(p.apache.service, proxyConfigTest(p, "apache"));
    add(p.fail2ban.service, p.fail2ban.configTestCommand);
  }
  return out;
}

/** Where certbot's renewal service reads the private ACME CA's trust (a systemd drop-in of ours). */
export const certbotRenewalDropIn = (platform: (typeof platforms)[keyof typeof platforms]): string =>
  `${platform.capacity.systemdDropInDir}/${platform.certbot.renewalService}.d/jupyterhub-edge.conf`;

const legacyPlatform = platforms["debian-12"];
export const hostConstants: HostConstants = {
  stateDir: hostPaths.stateDir,
  installRoot: hostPaths.installRoot,
  stepLock: hostPaths.stepLock,
  hubBlockBegin: HUB_BLOCK_BEGIN.replace(/:.*$/, ""),
  hubBlockEnd: HUB_BLOCK_END,
  configTests: configTests(),
  legacy: {
    apacheModulesFacts: `${legacyPlatform.apache.modules.kind} ${legacyPlatform.apache.service} ${legacyPlatform.apache.configTest} -`,
    certbotRenewalDropIn: certbotRenewalDropIn(legacyPlatform),
  },
};

/** A committed value as a single-quoted shell word. */
function word(value: string): string {
  if (/['\n\r]/.test(value)) throw new Error(`host constant ${JSON.stringify(value)} cannot be a single-quoted word`);
  return `'${value}'`;
}

/** The constants as bash: the first lines of every installed script, before lib.sh. */
export function constantsPrelude(c: HostConstants = hostConstants): string {
  for (const argv of Object.values(c.configTests)) if (argv.some((a) => !/^[A-Za-z0-9._=-]+$/.test(a))) throw new Error(`config test ${argv.join(" ")}: words of [A-Za-z0-9._=-] only`);
  for (const marker of [c.hubBlockBegin, c.hubBlockEnd]) if (/[\\^$.*+?()[\]{}|/]/.test(marker)) throw new Error(`hub block marker ${marker}: no regex characters (the script matches it as a regex)`);
  const tests = Object.entries(c.configTests).map(([unit, argv]) => `[${word(unit)}]=${word(argv.join(" "))}`).join(" ");
  return [
    "# Generated by steps/remote-scripts.ts from model/platforms.ts (not a file of its own). Each script uses some.",
    "# shellcheck disable=SC2034",
    `readonly JHE_STATE=${word(c.stateDir)} JHE_INSTALL_ROOT=${word(c.installRoot)} JHE_LOCK=${word(c.stepLock)}`,
    "# shellcheck disable=SC2034",
    `readonly JHE_HUB_BLOCK_BEGIN=${word(c.hubBlockBegin)} JHE_HUB_BLOCK_END=${word(c.hubBlockEnd)}`,
    `declare -rA JHE_CONFIG_TEST=(${tests})`,
    "# shellcheck disable=SC2034",
    `readonly JHE_LEGACY_APACHE_MODULES_FACTS=${word(c.legacy.apacheModulesFacts)} JHE_LEGACY_CERTBOT_DROPIN=${word(c.legacy.certbotRenewalDropIn)}`,
    "",
  ].join("\n");
}
/** The prelude every script starts with, and the installer (not itself an installed step script). */
const PRELUDE = "lib.sh";
const INSTALLER = "install.sh";
const HEREDOC_END = "JHE_END_OF_SCRIPT";

const sha = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex").slice(0, 16);

/**
 * A shell script without what bash ignores: full-line comments (not the `#!` line), blank lines,
 * and ` # …` at the end of lines with no quoting or expansion before it. Here-document bodies are
 * kept verbatim. Conservative: a line it cannot judge is kept as it is.
 */
export function stripComments(text: string): string {
  const out: string[] = [];
  let heredocEnd: { word: string; tabs: boolean } | undefined;
  for (const line of text.split("\n")) {
    if (heredocEnd) {
      out.push(line);
      if ((heredocEnd.tabs ? line.replace(/^\t+/, "") : line) === heredocEnd.word) heredocEnd = undefined;
      continue;
    }
    if (/^\s*$/.test(line) || (/^\s*#/.test(line) && !line.startsWith("#!"))) continue;
    let code = line;
    const trailing = /^(.*?\S)\s+#.*$/.exec(line);
    if (trailing && !/['"`\\]|\$[({]|<</.test(trailing[1])) code = trailing[1];
    out.push(code);
    const here = /<<(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\2/.exec(code.replace(/<<</g, ""));
    if (here) heredocEnd = { word: here[3], tabs: here[1] === "-" };
  }
  return out.join("\n") + "\n";
}

const read = (dir: string, file: string): string => fs.readFileSync(path.join(dir, file), "utf8");

/** Names of the step scripts: every scripts/remote/*.sh but the prelude and the installer. */
export function stepScriptNames(dir = scriptsDir): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith(".sh") && f !== PRELUDE && f !== INSTALLER).map((f) => f.slice(0, -3)).sort();
}

export interface InstalledScript {
  name: string;
  /** First 16 hex digits of the SHA-256 of `text`: the script's identity. */
  hash: string;
  /** Absolute path on the host. */
  path: string;
  /** The file as installed: a one-line header, the prelude, the script, comments stripped. */
  text: string;
}

const cache = new Map<string, InstalledScript>();

/** The installed form of one step script (scripts/remote/<name>.sh; `dir` for tests). */
export function installedScript(name: string, dir = scriptsDir): InstalledScript {
  const hit = cache.get(`${dir}/${name}`);
  if (hit) return hit;
  const text =
    `# jupyterhub-edge remote script '${name}' (constants, scripts/remote/lib.sh + ${name}.sh, comments stripped)\n` +
    constantsPrelude() +
    stripComments(read(dir, PRELUDE)) +
    stripComments(read(dir, `${name}.sh`));
  if (text.split("\n").includes(HEREDOC_END)) throw new Error(`scripts/remote/${name}.sh must not contain a line '${HEREDOC_END}'`);
  const hash = sha(text);
  const script = { name, hash, path: `${installRoot}/${hash}/${name}.sh`, text };
  cache.set(`${dir}/${name}`, script);
  return script;
}

export interface ScriptBundle {
  /** Identity of this set of scripts and of the installer (changes iff anything installed changes). */
  id: string;
  scripts: InstalledScript[];
  /** What the install step runs as `bash -s scripts apply|undo`: prelude, installer, then the scripts as quoted here-documents. */
  text: string;
}

const bundles = new Map<string, ScriptBundle>();

/**
 * Every step script, always (not only those a site uses), so that changing the site never touches
 * the install step. Only committed text and hashes: no stack value is in it.
 */
export function scriptBundle(dir = scriptsDir): ScriptBundle {
  const hit = bundles.get(dir);
  if (hit) return hit;
  const scripts = stepScriptNames(dir).map((name) => installedScript(name, dir));
  const installer = constantsPrelude() + stripComments(read(dir, PRELUDE)) + stripComments(read(dir, INSTALLER));
  const id = sha(installer + scripts.map((s) => `${s.hash} ${s.name}\n`).join(""));
  const text =
    `# jupyterhub-edge: installs its remote scripts in ${installRoot} (bundle ${id})\n` +
    installer +
    `bundle_begin ${id}\n` +
    scripts.map((s) => `install_script ${s.hash} ${s.name} <<'${HEREDOC_END}'\n${s.text}${HEREDOC_END}\n`).join("") +
    `bundle_end\n`;
  const bundle = { id, scripts, text };
  bundles.set(dir, bundle);
  return bundle;
}
