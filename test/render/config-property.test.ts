/**
 * Render tier, property: valid configs mutated the way users break them (test/support/config-arbitraries.ts).
 * Every generated config is either
 *  (a) refused by `loadStackFromStrings` — before anything could reach a host — with a ConfigError
 *      whose every line starts with `jupyterhub-edge:` and names a key, on one line, without any
 *      planted secret (nothing else may be thrown); or
 *  (b) rendered, for every site of the stack, into files that keep the hub behind the proxy — the
 *      hub's bind URL on loopback, a unix socket or a private address (never a served domain, the
 *      SSH address, a public address, or a port the proxy or SSH uses), vhosts that listen on the
 *      HTTPS port with TLS and proxy only to the hub's upstream, no config-syntax fragment from the
 *      config in any directive (the directive tree equals that of the same site with neutral
 *      values), no web root over system trees or the hub's config — and that pass the real
 *      `nginx -t` / `apachectl -t` of the site's platform release (Debian 12/13 checker roots; the
 *      other platforms are rendered and checked structurally only, as test/render/rhel-layout.test.ts
 *      explains).
 * The real checks run in batches (one chroot per ~100 configs); a failure found there is replayed by
 * fast-check with the real check per config, so it shrinks like any other.
 *
 *   JHE_PROPERTY_SEED (default fixed), JHE_PROPERTY_RUNS (default 1000: ~35 s): reproducible in CI, longer on demand.
 *   JHE_PROPERTY_EXPLORE=1: count every violation by class instead of failing (report: JHE_PROPERTY_REPORT).
 *   JHE_PROPERTY_ONLY=<class>: fail on that class only (to let fast-check shrink one class).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { isIPv4, isIPv6 } from "net";
import fc from "fast-check";
import { ConfigError } from "../../config/schema";
import { configKeys } from "../../config/keys";
import { LoadedHost, loadStackFromStrings } from "../../config/fleet";
import { SiteSpec, allDomains, certificateName, hubBindUrl, isWildcard, tlsFilesFor } from "../../model/site";
import { hostPaths } from "../../model/platforms";
import { renderNginx } from "../../render/nginx";
import { apacheModules, renderApache } from "../../render/apache";
import { renderCapacity } from "../../render/capacity";
import { renderHubBlock } from "../../render/hub-config";
import { RenderedFile } from "../../render/files";
import { planSteps } from "../../steps/plan";
import { FAKE_BUNDLE, FAKE_KEY_MARKER, FAKE_PASSWORD, FAKE_PLAIN_PASSWORD, FAKE_PRIVATE_KEY, Fixtures, Generated, baseDocs, buildStrings, generatedArb, makeFixtures } from "../support/config-arbitraries";

const seed = Number(process.env.JHE_PROPERTY_SEED ?? 190_2026);
const numRuns = Number(process.env.JHE_PROPERTY_RUNS ?? 1000);
const explore = process.env.JHE_PROPERTY_EXPLORE === "1";
const only = process.env.JHE_PROPERTY_ONLY;
const sandboxDir = process.env.JHE_SANDBOX_DIR ?? "/var/lib/jupyterhub-edge-sandbox";
const suites: Record<string, string> = { "debian-13": "trixie", "debian-12": "bookworm" };

/** A property violation of one class (the class names what broke; the detail says how). */
class Violation extends Error {
  constructor(public readonly kind: string, detail: string) {
    super(`${kind}: ${detail}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Config syntax as trees: enough of nginx's and Apache's grammar to see where a directive ends.

interface CNode {
  name: string;
  args: string[];
  children?: CNode[];
}

export function parseNginx(text: string): CNode[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) i++;
    else if (c === "#") while (i < text.length && text[i] !== "\n") i++;
    else if (c === ";" || c === "{" || c === "}") tokens.push(text[i++]);
    else if (c === '"' || c === "'") {
      let j = i + 1, s = "";
      while (j < text.length && text[j] !== c) s += text[j] === "\\" ? text[++j] : text[j], j++;
      if (j >= text.length) throw new Error("unterminated quote");
      tokens.push(`\u0001${s}`);
      i = j + 1;
    } else {
      let s = "";
      while (i < text.length && !/[\s;{}]/.test(text[i])) s += text[i++];
      tokens.push(s);
    }
  }
  let p = 0;
  const level = (): CNode[] => {
    const nodes: CNode[] = [];
    let words: string[] = [];
    while (p < tokens.length) {
      const t = tokens[p++];
      // A quoted first word (a map's key) is data, not a directive name: it shapes as "<q>".
      const name = () => (words[0]?.startsWith("\u0001") ? "<q>" : words[0] ?? "");
      const args = () => words.slice(1).map((w) => w.replace(/^\u0001/, ""));
      if (t === ";") nodes.push({ name: name(), args: args() }), (words = []);
      else if (t === "{") nodes.push({ name: name(), args: args(), children: level() }), (words = []);
      else if (t === "}") {
        if (words.length) throw new Error(`directive without ';' before '}': ${words.join(" ")}`);
        return nodes;
      } else words.push(t);
    }
    if (words.length) throw new Error(`directive without ';' at the end: ${words.join(" ")}`);
    return nodes;
  };
  return level();
}

export function parseApache(text: string): CNode[] {
  const root: CNode[] = [];
  const stack: CNode[][] = [root];
  const open: string[] = [];
  const words = (s: string) => [...s.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
  for (const raw of text.replace(/\\\n/g, " ").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const close = /^<\/([^\s>]+)>$/.exec(line);
    const start = /^<([^\s/>][^\s>]*)(.*)>$/.exec(line);
    if (close) {
      if (open.pop()?.toLowerCase() !== close[1].toLowerCase()) throw new Error(`unbalanced </${close[1]}>`);
      stack.pop();
    } else if (start) {
      const node: CNode = { name: start[1], args: words(start[2]), children: [] };
      stack[stack.length - 1].push(node);
      stack.push(node.children!);
      open.push(start[1]);
    } else {
      const [name, ...args] = words(line);
      stack[stack.length - 1].push({ name, args });
    }
  }
  if (open.length) throw new Error(`unclosed <${open.join(", ")}>`);
  return root;
}

const shape = (nodes: CNode[]): string => nodes.map((n) => `${n.name}/${n.args.length}${n.children ? `{${shape(n.children)}}` : ""}`).join(" ");
const walk = (nodes: CNode[]): CNode[] => nodes.flatMap((n) => [n, ...(n.children ? walk(n.children) : [])]);
const named = (nodes: CNode[], name: string) => nodes.filter((n) => n.name.toLowerCase() === name.toLowerCase());

// ---------------------------------------------------------------------------------------------
// Addresses.

function v6Bits(a: string): bigint {
  let text = a;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = v4[1].split(".").map(Number);
    text = text.slice(0, -v4[1].length) + `${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [h, t] = text.split("::");
  const head = h ? h.split(":") : [];
  const tail = t ? t.split(":") : [];
  const groups = text.includes("::") ? [...head, ...Array(8 - head.length - tail.length).fill("0"), ...tail] : head;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}
const v4Bits = (a: string): bigint => a.split(".").reduce((acc, o) => (acc << 8n) | BigInt(o), 0n);
const inNet = (bits: bigint, width: number, net: bigint, len: number) => bits >> BigInt(width - len) === net >> BigInt(width - len);

/** Where an address of the hub's host would be reachable from. */
export function addressClass(host: string): "loopback" | "private" | "public" | "wildcard" | "name" {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (isIPv4(h)) {
    const b = v4Bits(h);
    if (b === 0n) return "wildcard";
    if (inNet(b, 32, v4Bits("127.0.0.0"), 8)) return "loopback";
    for (const [n, l] of [["10.0.0.0", 8], ["172.16.0.0", 12], ["192.168.0.0", 16], ["100.64.0.0", 10], ["169.254.0.0", 16]] as const) {
      if (inNet(b, 32, v4Bits(n), l)) return "private";
    }
    return "public";
  }
  if (isIPv6(h)) {
    const b = v6Bits(h.replace(/%.*$/, ""));
    if (b === 0n) return "wildcard";
    if (b === 1n) return "loopback";
    if (inNet(b, 128, v6Bits("::ffff:0:0"), 96)) return addressClass([0, 1, 2, 3].map((k) => String((b >> BigInt(24 - 8 * k)) & 255n)).join("."));
    if (inNet(b, 128, v6Bits("fc00::"), 7) || inNet(b, 128, v6Bits("fe80::"), 10)) return "private";
    return "public";
  }
  return h === "localhost" ? "loopback" : "name";
}

/** The same address or name however spelt (brackets, case, trailing dot, IPv6 zeros). */
function canonicalHost(h: string): string {
  const bare = h.replace(/^\[(.*)\]$/, "$1").toLowerCase().replace(/\.$/, "");
  if (isIPv6(bare)) return v6Bits(bare).toString(16);
  return bare;
}

/** True when the allow-list admits every IPv4 or every IPv6 address. */
function coversEverything(allowFrom: string[]): string | undefined {
  for (const [family, width] of [["IPv4", 32], ["IPv6", 128]] as const) {
    const ranges: [bigint, bigint][] = [];
    for (const entry of allowFrom) {
      const [a, l] = entry.split("/");
      if ((width === 32) !== isIPv4(a)) continue;
      const len = l === undefined ? width : Number(l);
      const bits = width === 32 ? v4Bits(a) : v6Bits(a);
      const size = 1n << BigInt(width - len);
      const start = (bits >> BigInt(width - len)) << BigInt(width - len);
      ranges.push([start, start + size - 1n]);
    }
    ranges.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    let next = 0n;
    for (const [s, e] of ranges) if (s <= next && e + 1n > next) next = e + 1n;
    if (ranges.length && next >= 1n << BigInt(width)) return family;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The property for one config.

/** Every key name the config used, at any depth (a message may name a typo the user wrote). */
function keysUsed(strings: Record<string, string>): Set<string> {
  const out = new Set<string>([...Object.keys(configKeys), "name", "hosts"]);
  const visit = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) out.add(k), visit(x);
  };
  for (const [k, v] of Object.entries(strings)) {
    out.add(k);
    try {
      visit(JSON.parse(v));
    } catch {
      // not JSON: a plain value
    }
  }
  return out;
}

/**
 * The planted secrets this config holds as secrets: PEM private keys always (recognisable by shape,
 * wherever they are pasted); the password and the carry-over bundle when a secret key holds them
 * (elsewhere they are indistinguishable from, say, a domain name that happens to look like one).
 */
function secretsIn(strings: Record<string, string>, f: Fixtures): string[] {
  const held = [strings.sshPrivateKey ?? "", strings.providedCertificates ?? "", strings.acmeCarryOver ?? "", ...(strings.splitAuth ?? "").matchAll(/"password"\s*:\s*"[^"]*"/g)].join("\n");
  return f.secretMarkers.filter((m) => m === FAKE_KEY_MARKER || ![FAKE_PASSWORD, FAKE_PLAIN_PASSWORD, FAKE_BUNDLE].includes(m) || held.includes(m));
}

function checkRefusal(e: ConfigError, strings: Record<string, string>, f: Fixtures): void {
  if (e.problems.length === 0) throw new Violation("refusal-without-problem", "ConfigError with no problem line");
  const keys = keysUsed(strings);
  for (const p of e.problems) {
    if (typeof p !== "string") throw new Violation("problem-format", `problem is not a string: ${String(p)}`);
    if (/[\n\r\u2028\u2029]/.test(p)) throw new Violation("problem-format", `problem spans lines (a value can forge message lines): ${JSON.stringify(p)}`);
    // `jupyterhub-edge:` then a key the config used (or a known one), as written, then `:`, `.` or `[`;
    // a fleet entry's key after `hosts[N].`, or the entry itself (`hosts[N]:`).
    const rest = p.startsWith("jupyterhub-edge:") ? p.slice("jupyterhub-edge:".length) : undefined;
    if (rest === undefined) throw new Violation("problem-format", `problem does not start with jupyterhub-edge: ${JSON.stringify(p)}`);
    const inEntry = /^hosts\[\d+\](?=[.:])/.exec(rest);
    const tail = inEntry ? rest.slice(inEntry[0].length) : rest;
    const named = (inEntry && tail.startsWith(":")) || [...keys].some((k) => [":", ".", "["].some((c) => tail.startsWith(`${inEntry ? "." : ""}${k}${c}`)));
    if (!named) throw new Violation("problem-format", `problem names no key of the config: ${JSON.stringify(p)}`);
    for (const secret of secretsIn(strings, f)) {
      if (p.toLowerCase().includes(secret.toLowerCase())) throw new Violation("secret-echo", `a planted secret is echoed: ${JSON.stringify(p)}`);
    }
  }
}

/** Characters that mean something in nginx or Apache syntax, a regex, an ap_expr, a shell line or a terminal. */
const unsafeAnywhere = /[\x00-\x1f\x7f;{}"'\\#$`<>%]|[^\x00-\x7e]/;
const unsafeInRegex = /[()*+?[\]|^]/;

/** Every config-derived string of the model, with what it may not contain. */
function modelStrings(site: SiteSpec): [string, string, RegExp[]][] {
  const plain = [unsafeAnywhere, / /];
  const out: [string, string, RegExp[]][] = [
    ["hub.domain", site.hub.domain, plain],
    ["hub.path", site.hub.path, [...plain, unsafeInRegex]],
    ["hubConfig.path", site.hubConfig.path, plain],
    ["hubConfig.service", site.hubConfig.service, plain],
  ];
  if (site.hub.upstream.kind === "tcp") out.push(["hub.upstream", site.hub.upstream.origin, plain]);
  else out.push(["hub.upstream", site.hub.upstream.socketPath, plain]);
  if (site.hub.outsidePath.kind === "webRoot") out.push(["hub.outsidePath", site.hub.outsidePath.root, plain]);
  site.extraSites.forEach((s, i) => out.push([`extraSites[${i}].domain`, s.domain, plain], [`extraSites[${i}].root`, s.root, plain]));
  if (site.acme) out.push(["acme.email", site.acme.email, plain], ["acme.directoryUrl", site.acme.directoryUrl, plain]);
  if (site.splitAuth) {
    out.push(["splitAuth.realm", site.splitAuth.realm, [unsafeAnywhere]]);
    site.splitAuth.allowFrom.forEach((c, i) => out.push([`splitAuth.allowFrom[${i}]`, c, plain]));
    site.splitAuth.users.forEach((u, i) => out.push([`splitAuth.users[${i}]`, u.name, [...plain, /:/]]));
  }
  return out;
}

/** The same site with every config-derived string replaced by a neutral one of the same role. */
function neutral(site: SiteSpec): SiteSpec {
  const s: SiteSpec = { ...site, hub: { ...site.hub }, extraSites: site.extraSites.map((x) => ({ ...x })) };
  // Same length and dots (the length decides nginx's server_names_hash_bucket_size), no other character.
  const plainLabels = (name: string) => name.replace(/[^.]/g, "n");
  const plain = (name: string) => (isWildcard(name) ? `*.${plainLabels(name.slice(2))}` : plainLabels(name));
  s.hub.domain = plain(site.hub.domain);
  s.hub.names = site.hub.names.map(plain);
  s.hub.certificateName = certificateName(s.hub.domain);
  s.hub.tls = tlsFilesFor(s.hub.domain, s.hub.certificate);
  if (s.hub.path !== "/") s.hub.path = "/p/";
  s.hub.upstream = s.hub.upstream.kind === "tcp" ? { kind: "tcp", origin: "http://127.0.0.1:1" } : { kind: "unix", socketPath: "/run/n.sock" };
  if (s.hub.outsidePath.kind === "webRoot") s.hub.outsidePath = { kind: "webRoot", root: "/srv/n" };
  s.extraSites.forEach((x, i) =>
    Object.assign(x, { domain: plain(x.domain), names: x.names.map(plain), certificateName: certificateName(plain(x.domain)), root: `/srv/e${i}`, tls: tlsFilesFor(plain(x.domain), x.certificate) }),
  );
  if (s.splitAuth) s.splitAuth = { ...s.splitAuth, realm: "R", allowFrom: s.splitAuth.allowFrom.map(() => "192.0.2.0/24") };
  return s;
}

/** Paths a web root must not publish (be, or be above). */
function sensitivePaths(site: SiteSpec): string[] {
  return [
    site.hubConfig.path, hostPaths.htpasswd, `${hostPaths.tlsDir}/x/privkey.pem`, `${hostPaths.letsencryptLive}/x/privkey.pem`, "/etc/shadow",
    "/home/user/.ssh/id_ed25519", "/root/.ssh/id_ed25519", "/var/lib/jupyterhub/jupyterhub_cookie_secret", "/var/log/auth.log", "/proc/self/environ",
    "/sys/kernel", "/dev/mem", "/boot/grub", "/usr/bin", "/run/secrets",
  ];
}
const above = (root: string, p: string) => {
  const r = root.replace(/\/+$/, "");
  return r === "" || p === r || p.startsWith(`${r}/`);
};

interface CheckItem {
  label: string;
  proxy: "nginx" | "apache";
  platformId: string;
  files: RenderedFile[];
  mainFiles: RenderedFile[];
  strings: Record<string, string>;
  /** The hub's upstream host when it is a name, not an address. */
  upstreamName?: string;
  /** Apache: the modules the apache-modules step would enable (loaded for the check if the root does not). */
  modules?: string[];
}

/** The files of one site, and everything the property says about them. Returns the real-check item. */
function checkSite(h: LoadedHost, strings: Record<string, string>): CheckItem {
  const site = h.site;
  const where = `host ${h.name} (${site.proxy}, ${site.platform.id})`;
  for (const [name, value, rules] of modelStrings(site)) {
    for (const re of rules) if (re.test(value)) throw new Violation("injection-model", `${where}: ${name} ${JSON.stringify(value)} holds ${JSON.stringify(re.exec(value)![0])}, special in proxy config syntax`);
  }

  // The hub behind the proxy: where the hub listens.
  const bind = hubBindUrl(site);
  if (!bind.endsWith(site.hub.path)) throw new Violation("structure", `${where}: bind URL ${bind} does not carry hubPath ${site.hub.path}`);
  if (site.hub.upstream.kind === "tcp") {
    const u = new URL(bind);
    const cls = addressClass(u.hostname);
    const port = Number(u.port || 80);
    if (cls === "wildcard" || cls === "public") throw new Violation("bind-not-private", `${where}: the hub binds to ${bind} (${cls}): reachable around the proxy`);
    const own = [...allDomains(site), h.connection.host].map(canonicalHost);
    if (own.includes(canonicalHost(u.hostname))) throw new Violation("bind-own-address", `${where}: the hub binds to ${bind}, a name/address users or SSH reach (${u.hostname})`);
    if (port === 80 || port === site.httpsPort) throw new Violation("port-clash", `${where}: the hub binds to port ${port}, which the proxy listens on`);
    if (port === h.connection.port) throw new Violation("port-clash", `${where}: the hub binds to port ${port}, SSH's port`);
  }
  if (site.httpsPort === h.connection.port || h.connection.port === 80) throw new Violation("port-clash", `${where}: SSH port ${h.connection.port} is a port the proxy listens on (80, ${site.httpsPort})`);
  for (const [name, root] of [...site.extraSites.map((s) => [s.domain, s.root]), ...(site.hub.outsidePath.kind === "webRoot" ? [["hubOutsidePath", site.hub.outsidePath.root]] : [])]) {
    const hit = sensitivePaths(site).find((p) => above(root, p));
    if (hit) throw new Violation("web-root-publishes", `${where}: ${name} serves ${root}, which holds ${hit}`);
  }
  if (site.splitAuth) {
    const all = coversEverything(site.splitAuth.allowFrom);
    if (all) throw new Violation("allow-all", `${where}: splitAuth.allowFrom ${JSON.stringify(site.splitAuth.allowFrom)} admits every ${all} address without a password`);
  }

  // Render (and plan: every step's payload is built, as `pulumi up` would).
  const files = site.proxy === "nginx" ? renderNginx(site) : renderApache(site);
  const capacity = renderCapacity(site);
  renderHubBlock(site);
  planSteps(site, "after none\n", site.splitAuth ? "after none\n" : undefined);

  // No fragment of the config changed the directive tree.
  const parse = site.proxy === "nginx" ? parseNginx : parseApache;
  const twin = site.proxy === "nginx" ? renderNginx(neutral(site)) : renderApache(neutral(site));
  for (const which of ["http", "https"] as const) {
    let tree: CNode[], twinTree: CNode[];
    try {
      tree = parse(files[which].content);
      twinTree = parse(twin[which].content);
    } catch (e) {
      throw new Violation("injection-shape", `${where}: the ${which} file does not parse: ${(e as Error).message}`);
    }
    if (shape(tree) !== shape(twinTree)) {
      const a = shape(tree).split(" "), b = shape(twinTree).split(" ");
      const k = a.findIndex((x, n) => x !== b[n]);
      throw new Violation("injection-shape", `${where}: the ${which} file's directives differ from the same site with neutral values at ${a.slice(Math.max(0, k - 2), k + 3).join(" ")} vs ${b.slice(Math.max(0, k - 2), k + 3).join(" ")}`);
    }
  }

  // Listening and proxying: HTTPS on the HTTPS port with TLS, to the hub's upstream only.
  const http = parse(files.http.content), https = parse(files.https.content);
  const up = site.hub.upstream;
  const fail = (m: string) => {
    throw new Violation("structure", `${where}: ${m}`);
  };
  const sites = allDomains(site);
  if (site.proxy === "nginx") {
    const expected = up.kind === "tcp" ? up.origin : `http://unix:${up.socketPath}:`;
    if (!bind.startsWith(up.kind === "tcp" ? `${up.origin}/` : "unix+http://")) fail(`bind URL ${bind} is not the upstream ${expected}`);
    if (walk(http).some((n) => n.name === "proxy_pass")) fail("the port-80 file proxies");
    for (const l of named(walk(http), "listen")) if (!["80", "[::]:80"].includes(l.args[0]) || l.args.includes("ssl")) fail(`port-80 listen ${l.args.join(" ")}`);
    const servers = named(https, "server");
    if (servers.length !== sites.length) fail(`${servers.length} HTTPS servers for ${sites.length} domains`);
    for (const s of servers) {
      const name = named(s.children!, "server_name")[0]?.args;
      const listens = named(s.children!, "listen");
      if (listens.length !== (site.ipv6 ? 2 : 1)) fail(`server ${name} has ${listens.length} listen directives`);
      for (const l of listens) if (![String(site.httpsPort), `[::]:${site.httpsPort}`].includes(l.args[0]) || !l.args.includes("ssl")) fail(`server ${name} listens on ${l.args.join(" ")}`);
      for (const dname of ["ssl_certificate", "ssl_certificate_key", "ssl_protocols"]) if (!named(s.children!, dname).length) fail(`server ${name} has no ${dname}`);
      const passes = named(walk(s.children!), "proxy_pass");
      for (const p of passes) if (p.args.length !== 1 || p.args[0] !== expected) fail(`server ${name} proxies to ${p.args.join(" ")}, not the hub's ${expected}`);
      // The hub's server answers its names only: the domain, and *.<domain> with per-user subdomains.
      const isHub = name?.join(" ") === site.hub.names.join(" ");
      if (isHub && !named(s.children!, "location").some((loc) => loc.args.length === 1 && loc.args[0] === site.hub.path && named(loc.children!, "proxy_pass").length === 1)) fail(`hub server has no location ${site.hub.path} proxying to the hub`);
      if (!isHub && passes.length) fail(`static site ${name} proxies`);
    }
  } else {
    const target = up.kind === "tcp" ? `${up.origin}${site.hub.path}` : `unix:${up.socketPath}|http://localhost${site.hub.path}`;
    if (up.kind === "tcp" && target !== bind) fail(`ProxyPass target ${target} is not the bind URL ${bind}`);
    if (walk(http).some((n) => /^Proxy/i.test(n.name))) fail("the port-80 file proxies");
    if (named(http, "VirtualHost").some((v) => v.args.join(" ") !== "*:80")) fail("port-80 vhost not on *:80");
    const vhosts = named(https, "VirtualHost");
    if (vhosts.length !== sites.length) fail(`${vhosts.length} HTTPS vhosts for ${sites.length} domains`);
    if (site.httpsPort !== 443 && !named(https, "Listen").some((l) => l.args.join(" ") === `${site.httpsPort} https`)) fail(`no Listen ${site.httpsPort} https`);
    for (const v of vhosts) {
      const name = named(v.children!, "ServerName")[0]?.args[0];
      if (v.args.join(" ") !== `*:${site.httpsPort}`) fail(`vhost ${name} on ${v.args.join(" ")}`);
      if (named(v.children!, "SSLEngine")[0]?.args[0] !== "on" || !named(v.children!, "SSLCertificateFile").length) fail(`vhost ${name} without TLS`);
      const passes = named(walk(v.children!), "ProxyPass");
      const rewrites = named(walk(v.children!), "RewriteRule").filter((r) => /\bP\b/.test(r.args[2] ?? ""));
      for (const p of passes) if (p.args[0] !== site.hub.path || p.args[1] !== target) fail(`vhost ${name} proxies ${p.args.slice(0, 2).join(" ")}, not ${site.hub.path} to ${target}`);
      for (const r of rewrites) if (r.args[1] !== `${target.replace(/^http:/, "ws:")}$1`) fail(`vhost ${name} tunnels to ${r.args[1]}`);
      if (named(walk(v.children!), "ProxyRequests").some((r) => r.args[0] !== "off")) fail(`vhost ${name} is a forward proxy`);
      const isHub = name === site.hub.domain;
      if (isHub && passes.length !== 1) fail(`hub vhost has ${passes.length} ProxyPass`);
      if (!isHub && (passes.length || rewrites.length)) fail(`static site ${name} proxies`);
    }
  }
  const proxyFiles = [files.http, files.https];
  const upstreamHost = up.kind === "tcp" ? new URL(up.origin).hostname : undefined;
  const upstreamName = upstreamHost && addressClass(upstreamHost) !== "private" && !/^[\d.]+$|^\[/.test(upstreamHost) ? upstreamHost : undefined;
  return site.proxy === "nginx"
    ? { label: where, proxy: "nginx", platformId: site.platform.id, files: proxyFiles, mainFiles: [capacity.proxy], strings, upstreamName }
    : { label: where, proxy: "apache", platformId: site.platform.id, files: [capacity.proxy, ...proxyFiles], mainFiles: [], strings, upstreamName, modules: apacheModules(site) };
}

type Outcome = { refused: string[] } | { items: CheckItem[]; hosts: LoadedHost[] };

/** The property, short of the real checker: refused properly, or rendered safely. */
function evaluate(strings: Record<string, string>, f: Fixtures): Outcome {
  let stack;
  try {
    stack = loadStackFromStrings(strings, undefined, f.dir);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw new Violation("exception", `${(e as Error)?.stack ?? String(e)}`);
    checkRefusal(e, strings, f);
    return { refused: e.problems };
  }
  const items: CheckItem[] = [];
  for (const h of stack.hosts) {
    try {
      items.push(checkSite(h, strings));
    } catch (e) {
      if (e instanceof Violation) throw e;
      throw new Violation("exception", `host ${h.name}: ${(e as Error)?.stack ?? String(e)}`);
    }
  }
  return { items, hosts: stack.hosts };
}

// ---------------------------------------------------------------------------------------------
// The real nginx -t / apachectl -t, many configs per chroot.

function checkerRoot(platformId: string, proxy: "nginx" | "apache"): string | undefined {
  const suite = suites[platformId];
  if (!suite) return undefined;
  const root = path.join(sandboxDir, "checkers", suite);
  return fs.existsSync(path.join(root, proxy === "nginx" ? "usr/sbin/nginx" : "usr/sbin/apache2")) ? root : undefined;
}

interface RealResult {
  ok: boolean;
  output: string;
}

/** Certificate, key and DH group the checks load in place of the real ones. */
function makeCheckFiles(dir: string): { cert: string; key: string; dh: string } {
  const cert = path.join(dir, "cert.pem"), key = path.join(dir, "key.pem"), dh = path.join(dir, "dhparam.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=check.invalid", "-keyout", key, "-out", cert], { stdio: "ignore" });
  execFileSync("openssl", ["genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "dh_param:ffdhe2048", "-out", dh], { stdio: "ignore" });
  return { cert, key, dh };
}

/**
 * As test/support/proxy-check.ts does it: certificate paths pointed at the check's own files. And an
 * upstream given by name (`http://localhost:8000`) as 127.0.0.1: nginx resolves upstream names when
 * it reads its config, and the checker roots have no /etc/hosts (every real host resolves localhost).
 */
function withCheckFiles(text: string, c: { cert: string; key: string; dh: string }, inRoot: (p: string) => string, upstreamName?: string): string {
  if (upstreamName) text = text.split(`http://${upstreamName}:`).join("http://127.0.0.1:");
  return text
    .replace(/\/\S+\/fullchain\.pem/g, inRoot(c.cert))
    .replace(/\/\S+\/privkey\.pem/g, inRoot(c.key))
    .split(hostPaths.dhparam).join(inRoot(c.dh));
}

/**
 * nginx.conf as on a fresh Debian host after our steps: the release's stock nginx.conf with its
 * default site (`listen 80 default_server`: our port-80 server shares the port with it), its
 * worker_processes and events{} commented out and the capacity file included in their place (as
 * scripts/remote/capacity.sh does), and our files where conf.d's are included; pid and error log
 * in the check's directory.
 */
function hostNginxConf(stock: string, dir: string, mains: string[], includes: string[]): string {
  let depth = 0, inEvents = false;
  const out: string[] = [];
  for (const line of stock.split("\n")) {
    const code = line.replace(/#.*/, "");
    const opens = (code.match(/{/g) ?? []).length, closes = (code.match(/}/g) ?? []).length;
    if (depth === 0 && /^\s*events\s*{/.test(code)) inEvents = true;
    if (inEvents) {
      out.push(`#jhe-capacity# ${line}`);
      depth += opens - closes;
      if (depth === 0) inEvents = false;
      continue;
    }
    if (depth === 0 && /^\s*(worker_processes|worker_rlimit_nofile|pid|error_log)\s/.test(code)) {
      out.push(`#jhe-capacity# ${line}`);
      continue;
    }
    if (/^\s*include\s+\/etc\/nginx\/conf\.d\/\*\.conf;/.test(code)) out.push(line, ...includes.map((i) => `\t${i}`));
    else out.push(line);
    depth += opens - closes;
  }
  if (!includes.every((i) => out.includes(`\t${i}`))) throw new Error("the stock nginx.conf no longer includes /etc/nginx/conf.d/*.conf as expected");
  return [`pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log;`, ...mains, ...out].join("\n");
}

/**
 * Runs the platform's own `nginx -t` (hostNginxConf) or `apache2ctl -t` (Debian's apache2.conf
 * with its default site and our files included last, as sites-enabled would, but without what
 * other tests put into sites-enabled) on each item, one chroot invocation per batch.
 */
function realCheck(items: CheckItem[]): RealResult[] {
  const results: RealResult[] = new Array(items.length);
  const groups = new Map<string, number[]>();
  items.forEach((it, n) => {
    const k = `${it.proxy} ${it.platformId}`;
    groups.set(k, [...(groups.get(k) ?? []), n]);
  });
  for (const [k, all] of groups) {
    const [proxy, platformId] = k.split(" ") as ["nginx" | "apache", string];
    const root = checkerRoot(platformId, proxy)!;
    const inRoot = (p: string) => p.slice(root.length);
    for (let start = 0; start < all.length; start += 120) {
      const chunk = all.slice(start, start + 120);
      const base = fs.mkdtempSync(path.join(root, "tmp", "jhe-property-"));
      try {
        const c = makeCheckFiles(base);
        const dirs = chunk.map((n, m) => {
          const it = items[n];
          const dir = path.join(base, String(m));
          fs.mkdirSync(path.join(dir, "tmp"), { recursive: true });
          const place = (f: RenderedFile, name: string) => {
            fs.writeFileSync(path.join(dir, name), withCheckFiles(f.content, c, inRoot, it.upstreamName));
            return inRoot(path.join(dir, name));
          };
          if (proxy === "nginx") {
            const includes = it.files.map((f, i) => `include ${place(f, `site-${i}.conf`)};`);
            const mains = it.mainFiles.map((f, i) => `include ${place(f, `main-${i}.conf`)};`);
            fs.writeFileSync(path.join(dir, "nginx.conf"), hostNginxConf(fs.readFileSync(path.join(root, "etc/nginx/nginx.conf"), "utf8"), inRoot(dir), mains, includes));
          } else {
            const stock = fs.readFileSync(path.join(root, "etc/apache2/apache2.conf"), "utf8");
            // Modules the apache-modules step would enable that the root does not (mod_qos), as a2enmod would.
            const loads = (it.modules ?? [])
              .filter((m) => !fs.existsSync(path.join(root, "etc/apache2/mods-enabled", `${m}.load`)))
              .map((m) => fs.readFileSync(path.join(root, "etc/apache2/mods-available", `${m}.load`), "utf8").trim());
            const ours = [...loads, ...it.files.map((f, i) => `Include ${place(f, `zz-jhe-check-${i}.conf`)}`)].join("\n");
            const conf = stock.replace(/^IncludeOptional sites-enabled\/\*\.conf$/m, `IncludeOptional sites-enabled/000-default.conf\n${ours}`);
            if (conf === stock) throw new Error("Debian's apache2.conf no longer includes sites-enabled/*.conf as expected");
            fs.writeFileSync(path.join(dir, "apache2.conf"), conf);
          }
          return inRoot(dir);
        });
        const script = proxy === "nginx"
          ? 'for d; do /usr/sbin/nginx -t -c "$d/nginx.conf" -p "$d/" >"$d/out" 2>&1; echo $? >"$d/rc"; done'
          // apache2ctl passes APACHE_ARGUMENTS to apache2 (Debian's apache2ctl: `$HTTPD ${APACHE_ARGUMENTS} -t`).
          : 'for d; do APACHE_ARGUMENTS="-f $d/apache2.conf" /usr/sbin/apache2ctl -t >"$d/out" 2>&1; echo $? >"$d/rc"; done';
        const r = spawnSync("chroot", [root, "/bin/sh", "-c", script, "sh", ...dirs], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`checker batch failed: ${r.stderr}`);
        chunk.forEach((n, m) => {
          const dir = path.join(base, String(m));
          const output = fs.readFileSync(path.join(dir, "out"), "utf8");
          // A warning fails too (e.g. a conflicting server name: one site would not be served), except
          // the one the check's own self-signed certificate causes (no issuer to staple OCSP for).
          const warnings = output.split("\n").filter((l) => /\[warn\]|AH\d+: WARNING/.test(l) && !/"ssl_stapling" ignored, issuer certificate not found/.test(l));
          results[n] = { ok: fs.readFileSync(path.join(dir, "rc"), "utf8").trim() === "0" && warnings.length === 0, output };
        });
      } finally {
        fs.rmSync(base, { recursive: true, force: true });
      }
    }
  }
  return results;
}

// ---------------------------------------------------------------------------------------------

const oneLine = (s: string) => s.replace(/\s+/g, " ").slice(0, 400);
/** The config strings of a counterexample, long values (certificates) cut. */
const shown = (strings: Record<string, string>) =>
  JSON.stringify(Object.fromEntries(Object.entries(strings).map(([k, v]) => [k, v.length > 300 ? `${v.slice(0, 120)}…(${v.length} characters)` : v])));

test("config property: every mutated config is refused naming a key, or renders files that keep the hub behind the proxy and pass the real nginx -t / apachectl -t", { timeout: 30 * 60_000 }, (t) => {
  const f = makeFixtures();
  const bases = baseDocs(f);
  const arb = generatedArb(bases.length);
  const stats = { tried: 0, refused: 0, rendered: 0, fleets: 0, sites: { nginx: 0, apache: 0 }, real: { nginx: 0, apache: 0 }, renderOnly: { nginx: 0, apache: 0 } };
  const byClass = new Map<string, { count: number; example: string; strings: Record<string, string> }>();
  const realItems: { run: number; item: CheckItem }[] = [];
  const record = (v: Violation, strings: Record<string, string>) => {
    const c = byClass.get(v.kind) ?? { count: 0, example: v.message, strings };
    c.count++;
    byClass.set(v.kind, c);
  };
  /** One run of the property; `real`: run the real checker now (replay/shrink of a batch failure). */
  const property = (g: Generated, real: boolean, run?: number) => {
    const strings = buildStrings(g, bases, f);
    if (run !== undefined) stats.tried++;
    let outcome: Outcome;
    try {
      outcome = evaluate(strings, f);
    } catch (e) {
      if (!(e instanceof Violation)) throw e;
      if (explore) return record(e, strings);
      if (only && e.kind !== only) return;
      throw new Violation(e.kind, `${e.message.slice(e.kind.length + 2)}\n    config: ${shown(strings)}`);
    }
    if (run === undefined) {
      if (real && "items" in outcome) {
        const items = outcome.items.filter((it) => checkerRoot(it.platformId, it.proxy));
        realCheck(items).forEach((r, n) => {
          if (!r.ok) throw new Violation("real-check", `${items[n].label}: ${oneLine(r.output)}\n    config: ${shown(strings)}`);
        });
      }
      return;
    }
    if ("refused" in outcome) {
      stats.refused++;
      return;
    }
    stats.rendered++;
    if (outcome.hosts.length > 1 || strings.hosts) stats.fleets++;
    for (const it of outcome.items) {
      stats.sites[it.proxy]++;
      if (checkerRoot(it.platformId, it.proxy)) realItems.push({ run, item: it });
      else stats.renderOnly[it.proxy]++;
    }
  };

  let run = 0;
  fc.assert(fc.property(arb, (g) => property(g, false, run++)), { seed, numRuns, includeErrorInReport: true });

  const results = realCheck(realItems.map((r) => r.item));
  const failedRuns: number[] = [];
  results.forEach((r, n) => {
    const { run: at, item } = realItems[n];
    stats.real[item.proxy]++;
    if (r.ok) return;
    const v = new Violation("real-check", `${item.label}: ${oneLine(r.output)}`);
    const gist = oneLine(r.output).replace(/.*?(\[emerg\]|\[warn\]|AH\d+)/, "$1").replace(/\d+\\?#\d+: /g, "").replace(/\/tmp\/\S+/g, "…").slice(0, 110);
    if (explore) record(new Violation(`real-check ${item.proxy}: ${gist}`, v.message), item.strings);
    failedRuns.push(at);
  });

  t.diagnostic(`seed ${seed}, ${numRuns} runs: ${stats.tried} configs tried, ${stats.refused} refused naming a key, ${stats.rendered} rendered (${stats.fleets} with hosts)`);
  t.diagnostic(`sites rendered: nginx ${stats.sites.nginx}, apache ${stats.sites.apache}; through the real nginx -t ${stats.real.nginx}, apachectl -t ${stats.real.apache}; render-only (no checker root for the platform): nginx ${stats.renderOnly.nginx}, apache ${stats.renderOnly.apache}`);
  if (explore) {
    for (const [k, c] of [...byClass].sort((a, b) => b[1].count - a[1].count)) t.diagnostic(`violation ${k}: ${c.count} × e.g. ${oneLine(c.example)}`);
    if (process.env.JHE_PROPERTY_REPORT) fs.writeFileSync(process.env.JHE_PROPERTY_REPORT, JSON.stringify([...byClass].map(([k, c]) => ({ kind: k, ...c })), null, 2));
    return;
  }
  if (failedRuns.length && (!only || only === "real-check")) {
    // Replay the first failing config with the real checker in the loop, and let fast-check shrink it.
    fc.assert(fc.property(arb, (g) => property(g, true)), { seed, numRuns, path: String(failedRuns[0]), includeErrorInReport: true });
    assert.fail(`the real checker refused ${failedRuns.length} rendered config(s), but the replay of run ${failedRuns[0]} passed`);
  }
});

test("config property: its checks can fail (each class on a config or site made to break it)", () => {
  const f = makeFixtures();
  const strings = { host: "203.0.113.10", sshPrivateKeyFile: "/dev/null", hubDomain: "hub.example.org", extraSites: JSON.stringify([{ domain: "www.example.org" }]) };
  const [h] = loadStackFromStrings(strings, undefined, f.dir).hosts;
  const kind = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      if (e instanceof Violation) return e.kind;
      throw e;
    }
    return "none";
  };
  const withSite = (change: Partial<SiteSpec>, hub: Partial<SiteSpec["hub"]> = {}) => ({ ...h, site: { ...h.site, ...change, hub: { ...h.site.hub, ...hub } } });
  assert.equal(kind(() => checkSite(h, strings)), "none");
  assert.equal(kind(() => checkSite(withSite({}, { upstream: { kind: "tcp", origin: "http://203.0.113.7:8000" } }), strings)), "bind-not-private");
  assert.equal(kind(() => checkSite(withSite({}, { upstream: { kind: "tcp", origin: "http://[::]:8000" } }), strings)), "bind-not-private");
  assert.equal(kind(() => checkSite(withSite({}, { upstream: { kind: "tcp", origin: "http://hub.example.org:8000" } }), strings)), "bind-own-address");
  assert.equal(kind(() => checkSite(withSite({}, { upstream: { kind: "tcp", origin: "http://127.0.0.1:443" } }), strings)), "port-clash");
  assert.equal(kind(() => checkSite({ ...h, connection: { ...h.connection, port: 443 } }, strings)), "port-clash");
  assert.equal(kind(() => checkSite(withSite({}, { domain: "hub.example.org;" }), strings)), "injection-model");
  assert.equal(kind(() => checkSite(withSite({}, { path: "/a b/" }), strings)), "injection-model");
  assert.equal(kind(() => checkSite(withSite({ extraSites: [{ ...h.site.extraSites[0], root: "/home" }] }), strings)), "web-root-publishes");
  assert.equal(kind(() => checkSite(withSite({ splitAuth: { users: [{ name: "a", passwordGiven: false }], allowFrom: ["0.0.0.0/1", "128.0.0.0/1"], realm: "R", userFile: "/x" } }), strings)), "allow-all");

  const refusal = (problems: string[]) => kind(() => checkRefusal(new ConfigError(problems), { ...strings, sshPrivateKey: "x" }, f));
  assert.equal(refusal(["jupyterhub-edge:hubDomain: must be a DNS name"]), "none");
  assert.equal(refusal(["hubDomain: must be a DNS name"]), "problem-format");
  assert.equal(refusal(["jupyterhub-edge:nosuchkey: bad"]), "problem-format");
  assert.equal(refusal([]), "refusal-without-problem");
  const held = { ...strings, splitAuth: JSON.stringify({ users: [{ name: "a", password: FAKE_PASSWORD }] }) };
  // As if ConfigError had not redacted it (it does: this password is token-like).
  const unredacted = (p: string) => Object.assign(Object.create(ConfigError.prototype) as ConfigError, { problems: [p] });
  assert.equal(kind(() => checkRefusal(unredacted(`jupyterhub-edge:sshUser: bad (got "${FAKE_PASSWORD}")`), held, f)), "secret-echo");
  assert.equal(kind(() => checkRefusal(unredacted(`jupyterhub-edge:sshUser: bad (got "${FAKE_PASSWORD}")`), strings, f)), "none", "a password held by no secret key is just a value");

  assert.equal(parseApache("<VirtualHost *:443>\nServerName a\n</VirtualHost>").length, 1);
  assert.throws(() => parseApache("<VirtualHost *:443>\nServerName a"));
  assert.throws(() => parseNginx("server { listen 443 }"));
  assert.notEqual(shape(parseNginx("server_name a;b;")), shape(parseNginx("server_name a;")));
});

test("config property: the batched real checkers refuse a broken file, and see Debian's default site on port 80", { skip: !checkerRoot("debian-13", "nginx") && "no checker roots (scripts/sandbox/checker-root.sh)" }, () => {
  const f = makeFixtures();
  const items = ["nginx", "apache"].flatMap((proxy) => ["debian-13", "debian-12"].map((platform) => {
    // A 60-character name: with the default site also on port 80, nginx needs larger hash buckets.
    const strings = { host: "203.0.113.10", sshPrivateKeyFile: "/dev/null", hubDomain: `${"h".repeat(48)}.example.org`, proxy, platform };
    return checkSite(loadStackFromStrings(strings, undefined, f.dir).hosts[0], strings);
  }));
  assert.deepEqual(realCheck(items).map((r) => r.ok), [true, true, true, true], "the long name renders and passes");
  const broken = items.map((it) => ({ ...it, files: it.files.map((file) => ({ ...file, content: file.content.replace(/^(\s*)server_names_hash_bucket_size .*$/m, "").replace("ProxyPreserveHost on", "ProxyPreserveHost sideways") })) }));
  const results = realCheck(broken);
  assert.deepEqual(results.map((r) => r.ok), [false, false, false, false]);
  assert.match(results[0].output, /could not build server_names_hash/, "the port-80 server shares the port with the stock default site");
  assert.match(results[2].output, /ProxyPreserveHost/);
});

test("config property: the counterexamples it found stay fixed (secrets in wrong places, as shrunk)", () => {
  const f = makeFixtures();
  const base = { host: "203.0.113.10", sshPrivateKeyFile: "/dev/null", hubDomain: "hub.example.org" };
  const cases: Record<string, string>[] = [
    // A PEM key appended to the hub's domain: the domain rule lowercases it, the certificate rule quoted it.
    { ...base, hubDomain: `hub.example.org${FAKE_PRIVATE_KEY}`, certificateMode: "provided" },
    // A carry-over bundle (a secret key's value) pasted into an extra site's domain: lowercased, quoted.
    { ...base, hubDomain: ";hub.example.org", extraSites: JSON.stringify([{ domain: `www.example.org${FAKE_BUNDLE}` }]), certificateMode: "provided", acmeCarryOver: FAKE_BUNDLE },
    // The users list (with a password) moved into allowFrom: quoted as JSON.
    { ...base, splitAuth: JSON.stringify({ users: ["tutor"], allowFrom: ["192.0.2.0/24", [{ name: "tutor", password: FAKE_PLAIN_PASSWORD }]] }) },
  ];
  for (const strings of cases) {
    assert.throws(() => loadStackFromStrings(strings, undefined, f.dir), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      checkRefusal(e, strings, f);
      return true;
    });
  }
});
