/**
 * Runs the real `nginx -t` on rendered files. A platform's files are checked by that platform's own
 * nginx: the machine's when it is the same release, otherwise the one installed in a checker root
 * (a Debian root of that release, prepared by scripts/sandbox/checker-root.sh) through chroot.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PlatformFacts, hostPaths } from "../../model/platforms";
import { RenderedFile } from "../../render/files";

const sandboxDir = process.env.JHE_SANDBOX_DIR ?? "/var/lib/jupyterhub-edge-sandbox";

function machineNginxVersion(): string | null {
  const r = spawnSync("nginx", ["-v"], { encoding: "utf8" });
  if (r.error) return null;
  return /nginx\/(\S+)/.exec(r.stderr)?.[1] ?? null;
}

/** Root directory whose nginx matches the platform's version, "" for the machine itself, or null. */
export function nginxRootFor(platform: PlatformFacts): string | null {
  if (machineNginxVersion() === platform.nginx.version) return "";
  const suite = { "debian-13": "trixie", "debian-12": "bookworm" }[platform.id as string];
  if (!suite) return null;
  const root = path.join(sandboxDir, "checkers", suite);
  return fs.existsSync(path.join(root, "usr/sbin/nginx")) ? root : null;
}

/** A self-signed certificate (and DH group) the checks load in place of the real ones (nginx -t reads them). */
function makeCert(dir: string): { cert: string; key: string; dh: string } {
  const cert = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  const dh = path.join(dir, "dhparam.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
    "-subj", "/CN=check.invalid", "-keyout", key, "-out", cert], { stdio: "ignore" });
  execFileSync("openssl", ["genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "dh_param:ffdhe2048", "-out", dh], { stdio: "ignore" });
  return { cert, key, dh };
}

/** The rendered text with certificate, key and dhparam paths pointed at the check's own files. */
function withCheckFiles(text: string, files: { cert: string; key: string; dh: string }, inRoot: (p: string) => string): string {
  return text
    .replace(/\/\S+\/fullchain\.pem/g, inRoot(files.cert))
    .replace(/\/\S+\/privkey\.pem/g, inRoot(files.key))
    .replace(new RegExp(hostPaths.dhparam, "g"), inRoot(files.dh));
}

/**
 * `mainFiles` go into the main context in place of the stock `events {}` (the capacity file holds
 * worker_processes, worker_rlimit_nofile and events{}), as the host's nginx.conf includes it.
 */
export function nginxTest(files: RenderedFile[], platform: PlatformFacts, mainFiles: RenderedFile[] = []): { ok: boolean; output: string; version: string } {
  const root = nginxRootFor(platform);
  if (root === null) throw new Error(`no nginx ${platform.nginx.version} to check ${platform.id} files (run scripts/sandbox/checker-root.sh)`);
  const base = fs.mkdtempSync(path.join(root ? path.join(root, "tmp") : os.tmpdir(), "jhe-nginx-check-"));
  const inRoot = (p: string) => (root ? p.slice(root.length) : p);
  try {
    const checkFiles = makeCert(base);
    const includes = files.map((f, i) => {
      const target = path.join(base, `site-${i}.conf`);
      fs.writeFileSync(target, withCheckFiles(f.content, checkFiles, inRoot));
      return `    include ${inRoot(target)};`;
    });
    const mainIncludes = mainFiles.map((f, i) => {
      const target = path.join(base, `main-${i}.conf`);
      fs.writeFileSync(target, f.content);
      return `include ${inRoot(target)};`;
    });
    const conf = path.join(base, "nginx.conf");
    fs.writeFileSync(conf, [
      `pid ${inRoot(base)}/nginx.pid;`,
      `error_log ${inRoot(base)}/error.log;`,
      ...(mainFiles.length ? mainIncludes : ["events {}"]),
      "http {",
      `    access_log off;`,
      `    client_body_temp_path ${inRoot(base)}/tmp;`,
      ...includes,
      "}",
      "",
    ].join("\n"));
    const args = ["-t", "-c", inRoot(conf), "-p", inRoot(base)];
    const r = root ? spawnSync("chroot", [root, "/usr/sbin/nginx", ...args], { encoding: "utf8" }) : spawnSync("nginx", args, { encoding: "utf8" });
    const v = root ? spawnSync("chroot", [root, "/usr/sbin/nginx", "-v"], { encoding: "utf8" }).stderr : spawnSync("nginx", ["-v"], { encoding: "utf8" }).stderr;
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`, version: /nginx\/(\S+)/.exec(v)?.[1] ?? "?" };
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

/** The checker root for a platform (Apache is checked in it always: the machine has no Apache). */
function checkerRoot(platform: PlatformFacts): string {
  const suite = { "debian-13": "trixie", "debian-12": "bookworm" }[platform.id as string];
  const root = suite ? path.join(sandboxDir, "checkers", suite) : "";
  if (!root || !fs.existsSync(path.join(root, "usr/sbin/apache2"))) {
    throw new Error(`no Apache ${platform.apache.version} root to check ${platform.id} files (run scripts/sandbox/checker-root.sh)`);
  }
  return root;
}

/**
 * `apache2ctl -t` of the platform's own Apache on rendered files, in its checker root. `modules`:
 * what the apache-modules step would enable (render/apache.ts apacheModules); any the root does
 * not enable (mod_qos: installed in the root, not enabled) is loaded for this check from its
 * package's own `.load` file, as a2enmod would.
 */
export function apacheTest(files: RenderedFile[], platform: PlatformFacts, modules: string[] = []): { ok: boolean; output: string; version: string } {
  const root = checkerRoot(platform);
  const loads = modules
    .filter((m) => !fs.existsSync(path.join(root, "etc/apache2/mods-enabled", `${m}.load`)))
    .map((m) => {
      const load = path.join(root, "etc/apache2/mods-available", `${m}.load`);
      if (!fs.existsSync(load)) throw new Error(`the ${platform.id} checker root lacks Apache module ${m} (run scripts/sandbox/checker-root.sh with its suite)`);
      return fs.readFileSync(load, "utf8");
    });
  const base = fs.mkdtempSync(path.join(root, "tmp", "jhe-apache-check-"));
  const inRoot = (p: string) => p.slice(root.length);
  const placed: string[] = [];
  try {
    const checkFiles = makeCert(base);
    files.forEach((f, i) => {
      const target = path.join(root, "etc/apache2/sites-enabled", `zz-jhe-check-${i}.conf`);
      fs.writeFileSync(target, (i === 0 ? loads.join("") : "") + withCheckFiles(f.content, checkFiles, inRoot));
      placed.push(target);
    });
    const r = spawnSync("chroot", [root, "/usr/sbin/apache2ctl", "-t"], { encoding: "utf8" });
    const v = spawnSync("chroot", [root, "/usr/sbin/apache2", "-v"], { encoding: "utf8" }).stdout;
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`, version: /Apache\/(\S+)/.exec(v)?.[1] ?? "?" };
  } finally {
    placed.forEach((p) => fs.rmSync(p, { force: true }));
    fs.rmSync(base, { recursive: true, force: true });
  }
}
