/**
 * SiteSpec → the ordered remote steps that realise it. Pure: no Pulumi, no I/O but reading the
 * committed scripts. The components turn each step into a remote.Command; the host test tier runs the
 * very same steps over SSH without the engine.
 */
import * as fs from "fs";
import * as path from "path";
import { SiteSpec, allDomains, hubBindUrl } from "../model/site";
import { hostPaths } from "../model/platforms";
import { renderNginx } from "../render/nginx";
import { apacheModules, renderApache } from "../render/apache";
import { renderHubBlock } from "../render/hub-config";
import { RenderedFile, filesPayload } from "../render/files";

export type ScriptName = "preflight" | "packages" | "files" | "web-roots" | "hub-managed-block" | "apache-modules";

export interface Step<P = string> {
  /** Unique, stable: becomes the resource name suffix and the record name on the host. */
  name: string;
  script: ScriptName;
  /** What the script reads on stdin; a secret payload stays secret in state and preview. */
  payload: string | P;
  secret: boolean;
  /** Names of steps that must be applied before this one (and undone after it). */
  after: string[];
  /**
   * When this value changes the step is replaced, undo first (delete-before-replace): switching
   * proxies must take the old one's files and ports away before the new one starts.
   */
  replaceOn?: string;
}

/** PEM material of one domain's certificate, as pushed to the host. */
export interface CertificateMaterial {
  domain: string;
  /** Leaf first, then intermediates (what the proxies call the full chain). */
  fullchainPem: string;
  privateKeyPem: string;
}

const scriptsDir = path.join(__dirname, "..", "scripts", "remote");

/** The shell text of a step: the shared prelude, then the step's own script. Committed text only. */
export function scriptText(name: ScriptName): string {
  const lib = fs.readFileSync(path.join(scriptsDir, "lib.sh"), "utf8");
  const body = fs.readFileSync(path.join(scriptsDir, `${name}.sh`), "utf8");
  return `${lib}\n${body}`;
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The command line run over SSH. `sudo -n` for non-root users: no tty, so no password prompts. */
export function remoteCommand(step: Pick<Step, "name" | "script">, mode: "apply" | "undo", user: string): string {
  const cmd = `bash -c ${shellQuote(scriptText(step.script))} jhe-${step.name} ${mode}`;
  return user === "root" ? cmd : `sudo -n ${cmd}`;
}

export function proxyFiles(site: SiteSpec): RenderedFile[] {
  return site.proxy === "nginx" ? renderNginx(site) : renderApache(site);
}

function proxyFacts(site: SiteSpec) {
  return site.proxy === "nginx" ? site.platform.nginx : site.platform.apache;
}

/** The key + certificate files of every domain; keys 0600. This payload is secret. */
export function certificateFiles(site: SiteSpec, material: CertificateMaterial[]): RenderedFile[] {
  const byDomain = new Map(material.map((m) => [m.domain, m]));
  const tlsOf = (domain: string) => (domain === site.hub.domain ? site.hub.tls : site.extraSites.find((s) => s.domain === domain)!.tls);
  return allDomains(site).flatMap((domain) => {
    const m = byDomain.get(domain);
    if (!m) throw new Error(`no certificate material for ${domain}`);
    const tls = tlsOf(domain);
    const pem = (s: string) => (s.endsWith("\n") ? s : `${s}\n`);
    return [
      { path: tls.certificateFile, mode: "0644", content: pem(m.fullchainPem) },
      { path: tls.keyFile, mode: "0600", content: pem(m.privateKeyPem) },
    ];
  });
}

export function kvPayload(entries: Record<string, string>): string {
  return Object.entries(entries)
    .map(([k, v]) => {
      if (/[\n\r]/.test(v)) throw new Error(`payload value for ${k} must be one line`);
      return `${k} ${v}\n`;
    })
    .join("");
}

export function hubHealthUrl(site: SiteSpec): { url: string; socket?: string } {
  const up = site.hub.upstream;
  return up.kind === "tcp"
    ? { url: `${up.origin}${site.hub.path}hub/health` }
    : { url: `http://localhost${site.hub.path}hub/health`, socket: up.socketPath };
}

/**
 * The steps for a site, in dependency order. `certificatePayload` is the (secret) files payload of
 * the certificates — built by `filesPayload(certificateFiles(...))` from Pulumi outputs or test PEMs.
 */
export function planSteps<P>(site: SiteSpec, certificatePayload: string | P): Step<P>[] {
  const facts = proxyFacts(site);
  const other = site.proxy === "nginx" ? site.platform.apache : site.platform.nginx;
  const steps: Step<P>[] = [
    {
      name: "preflight",
      script: "preflight",
      payload: kvPayload({
        platform: site.platform.id,
        os_id: site.platform.osRelease.id,
        os_version: site.platform.osRelease.versionId,
      }),
      secret: false,
      after: [],
    },
    {
      name: "proxy-packages",
      script: "packages",
      payload: kvPayload({
        set: site.proxy,
        packages: facts.packages.join(" "),
        service: facts.service,
        leftovers: facts.purgeLeftovers.join(" "),
        // The other proxy, if it runs, holds 80/443: stopped while ours serves, started on undo.
        conflicts: other.service,
      }),
      secret: false,
      after: ["preflight"],
      replaceOn: site.proxy,
    },
    { name: "tls-files", script: "files", payload: certificatePayload, secret: true, after: ["preflight"] },
  ];
  steps.push({
    name: "web-roots",
    script: "web-roots",
    // The ACME webroot (answered on port 80 for every domain) and each extra site's root.
    payload: [`acme ${hostPaths.acmeWebroot}`, ...site.extraSites.map((s) => `root ${s.root} ${s.domain}`)].join("\n") + "\n",
    secret: false,
    // After the packages: a web root under /var/www must not race the package creating /var/www,
    // or neither would know to remove it on destroy.
    after: ["proxy-packages"],
  });
  if (site.proxy === "apache") {
    steps.push({
      name: "apache-modules",
      script: "apache-modules",
      payload: kvPayload({ modules: apacheModules(site).join(" ") }),
      secret: false,
      after: ["proxy-packages"],
    });
  }
  steps.push({
    name: "proxy-config",
    script: "files",
    // `handshake`: after the reload, a real TLS handshake on the public port (Apache's configtest
    // does not load certificates, so a passing test can still leave HTTPS broken).
    payload: `set proxy\nafter ${facts.service}\nhandshake ${site.httpsPort} ${site.hub.domain}\n` + filesPayload(proxyFiles(site)),
    secret: false,
    after: steps.filter((s) => s.name !== "preflight").map((s) => s.name),
    replaceOn: site.proxy,
  });
  if (site.hubConfig.manage) {
    const health = hubHealthUrl(site);
    const block = renderHubBlock(site);
    steps.push({
      name: "hub-bind-url",
      script: "hub-managed-block",
      payload:
        kvPayload({
          config: site.hubConfig.path,
          service: site.hubConfig.service,
          health: health.url,
          ...(health.socket ? { health_socket: health.socket } : {}),
        }) + block.slice(0, -1).split("\n").map((l) => `|${l}\n`).join(""),
      secret: false,
      after: ["proxy-config"],
    });
  }
  return steps;
}

/** The files payload with its set header, for the certificate step. */
export function certificatePayload(site: SiteSpec, material: CertificateMaterial[]): string {
  return "set tls\nafter none\n" + filesPayload(certificateFiles(site, material));
}

export { hubBindUrl };
