/**
 * fast-check generators of stack configs as `pulumi config` holds them (every `jupyterhub-edge:` key
 * as a string; lists and objects as JSON text), for the config property test
 * (test/render/config-property.test.ts).
 *
 * Every generated config starts from a valid one — the dev stack (Pulumi.dev.yaml), the render
 * tier's variants (test/render/variants.ts), or a fleet (`hosts`) — and is then edited the way users
 * edit configs: valid values of every key (proxies, platforms, certificate modes, split auth with
 * allowFrom, sub-paths, other ports, extra sites, IPv6 upstreams), and breakage: typos in keys and
 * fields, values in the wrong key, wrong shapes, out-of-range numbers, empty and huge strings,
 * unicode/whitespace/newlines/quotes/semicolons/braces/`$` and other config-syntax fragments in
 * domains, paths and realms, `..` in paths, wildcard and public addresses, port clashes, web roots
 * over system trees, and recognisable fake secrets planted in secret keys and in wrong keys.
 *
 * A config is described by data (a base index and a list of edits) and built by `buildStrings`, so
 * fast-check shrinks a failure to the fewest, simplest edits.
 */
import fc from "fast-check";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { configKeys } from "../../config/keys";
import { platformIds } from "../../model/platforms";
import { variants } from "../render/variants";
import { CertFixtures, makeCertFixtures } from "./cert-fixtures";

// ---------------------------------------------------------------------------------------------
// Fake secrets: recognisable, so a message that echoes one is caught.

/** A split-auth password (8–72 bytes, so it is accepted where it belongs), token-like. */
export const FAKE_PASSWORD = "Pw-SECRET-7f3a9c-do-not-echo";
/** One that looks like words (no secret-looking token in it): only known-secret scrubbing hides it. */
export const FAKE_PLAIN_PASSWORD = "violet harbour 29";
/** The first body characters of the fake SSH key: within the 60 characters a message may show. */
export const FAKE_KEY_MARKER = "SECRETKEYb3BlbnNzaC1rZXk";
export const FAKE_PRIVATE_KEY =
  `-----BEGIN OPENSSH PRIVATE KEY-----\n${FAKE_KEY_MARKER}tdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n` +
  "QyNTUxOQAAACBzZWNyZXQtbm90LWEtcmVhbC1rZXktZm9yLXRlc3Rz\n-----END OPENSSH PRIVATE KEY-----\n";
/** An acmeCarryOver bundle (base64 characters only, as the output gives it). */
export const FAKE_BUNDLE = "SECRETBUNDLEQUJDREVGR0hJSktMTU5PUFFS";

export interface Fixtures {
  dir: string;
  certs: CertFixtures;
  hostKey: string;
  hostKeyFile: string;
  caBundleFile: string;
  /** Substrings that must never appear in a message: the fake secrets and the provided keys' bodies. */
  secretMarkers: string[];
}

const keyBody = (pem: string): string => pem.split("\n")[1].slice(0, 24);

/** Files the generated configs name (host key, CA bundle) and the provided certificates. */
export function makeFixtures(): Fixtures {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-property-"));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  const certs = makeCertFixtures();
  const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJlbmRlci10aWVyLXByb3BlcnR5LXRlc3QtaG9zdA root@lab";
  fs.writeFileSync(path.join(dir, "host_ed25519.pub"), `${hostKey}\n`);
  fs.writeFileSync(path.join(dir, "acme-ca.pem"), certs.root);
  return {
    dir,
    certs,
    hostKey,
    hostKeyFile: path.join(dir, "host_ed25519.pub"),
    caBundleFile: path.join(dir, "acme-ca.pem"),
    secretMarkers: [FAKE_PASSWORD, FAKE_PLAIN_PASSWORD, FAKE_KEY_MARKER, FAKE_BUNDLE, keyBody(certs.leafKey), keyBody(certs.wildcardKey)],
  };
}

// ---------------------------------------------------------------------------------------------
// The config as a document: top-level keys; lists and objects kept structured until the end.

export type Doc = Record<string, unknown>;

/** What `pulumi config` gives the program: strings; structured values as JSON text. */
export function docToStrings(doc: Doc): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (v === undefined) continue;
    out[k] = typeof v === "string" ? v : JSON.stringify(v) ?? String(v);
  }
  return out;
}

/** The provided certificates for the given domains: the fixture wildcard covers `<label>.example.org`. */
function providedFor(domains: string[], f: Fixtures): string {
  const doc: Record<string, unknown> = {};
  for (const d of domains) {
    const exact = d === "hub.example.org";
    doc[d] = { certificate: exact ? f.certs.leaf + f.certs.intermediate : f.certs.wildcard + f.certs.intermediate, privateKey: exact ? f.certs.leafKey : f.certs.wildcardKey };
  }
  return JSON.stringify(doc);
}

/** A render-tier variant (raw schema shape) as config strings would hold it. */
function variantToDoc(raw: Record<string, unknown>, f: Fixtures): Doc {
  const doc: Doc = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k === "providedDomains") doc.providedCertificates = providedFor(v as string[], f);
    else if (k === "splitAuth") {
      const block = v as { users: { name: string; passwordGiven: boolean }[] };
      doc.splitAuth = { ...block, users: block.users.map((u) => (u.passwordGiven ? { name: u.name, password: FAKE_PASSWORD } : u.name)) };
    } else doc[k] = typeof v === "string" ? v : Array.isArray(v) || (v && typeof v === "object") ? v : String(v);
  }
  return doc;
}

/** Pulumi.dev.yaml's keys, with its per-machine key files replaced by the fixtures. */
function devStackDoc(f: Fixtures): Doc {
  const text = fs.readFileSync(path.join(__dirname, "..", "..", "Pulumi.dev.yaml"), "utf8");
  const config = (yaml.load(text) as { config: Record<string, unknown> }).config;
  const doc: Doc = {};
  for (const [k, v] of Object.entries(config)) doc[k.replace(/^jupyterhub-edge:/, "")] = typeof v === "string" ? v : v;
  doc.sshPrivateKeyFile = "/dev/null";
  if (doc.hostKeyFile !== undefined) doc.hostKeyFile = f.hostKeyFile;
  return doc;
}

/** The valid configs every generated one starts from. */
export function baseDocs(f: Fixtures): { name: string; doc: Doc }[] {
  const bases: { name: string; doc: Doc }[] = [{ name: "dev-stack", doc: devStackDoc(f) }];
  for (const [name, raw] of Object.entries(variants)) bases.push({ name: `variant:${name}`, doc: variantToDoc(raw, f) });
  bases.push({
    name: "fleet-two",
    doc: {
      sshPrivateKeyFile: "/dev/null",
      hosts: [
        { name: "room1", host: "203.0.113.1", hubDomain: "room1.example.org" },
        { name: "room2", host: "203.0.113.2", hubDomain: "room2.example.org", proxy: "apache", platform: "debian-12", extraSites: [{ domain: "www.example.org" }] },
      ],
    },
  });
  bases.push({
    name: "fleet-three-split-auth",
    doc: {
      sshPrivateKey: FAKE_PRIVATE_KEY,
      proxy: "apache",
      hubPath: "/jhub/",
      splitAuth: { users: ["tutor", { name: "workshop", password: FAKE_PASSWORD }], allowFrom: ["192.0.2.0/24"] },
      hosts: [
        { name: "a", host: "203.0.113.1", hubDomain: "a.example.org", hostKey: f.hostKey },
        { name: "b", host: "2001:db8::2", hubDomain: "b.example.org", proxy: "nginx", httpsPort: 8443 },
        { name: "c", host: "lab-c", hubDomain: "c.example.org", platform: "debian-12", sshPort: "2222" },
      ],
    },
  });
  bases.push({ name: "single-secret-key", doc: { host: "2001:db8::10", sshPrivateKey: FAKE_PRIVATE_KEY, hostKey: f.hostKey, hubDomain: "hub.example.org", acmeCarryOver: JSON.stringify({ "hub.example.org": FAKE_BUNDLE }), certificateMode: "acme", acmeEmail: "admin@example.org" } });
  return bases;
}

// ---------------------------------------------------------------------------------------------
// Value pools: valid values per key, and the ways users break each kind of value.

const long = (unit: string, n: number) => unit.repeat(n);

const validTop: Record<string, string[]> = {
  host: ["203.0.113.10", "198.51.100.7", "lab-server", "server1.example.net", "2001:db8::10", "[2001:db8::10]", "10.213.200.2"],
  sshPort: ["22", "2222", "65535", "1"],
  sshUser: ["root", "ubuntu", "deploy_user", "admin$", "_svc"],
  sshPrivateKeyFile: ["/dev/null"],
  proxy: ["nginx", "apache"],
  hubDomain: [
    "hub.example.org", "jupyter.example.org", "a.example.org", "hub.uni-example.de", "xn--hb-xka.example.org", "HUB.Example.org",
    "h-1.sub.example.co.uk", " hub.example.org ", `x${long("l", 62)}.example.org`, `${long("a", 40)}.${long("b", 40)}.example.org`,
    `jupyterhub.department-of-computing.example.org`,
  ],
  hubPath: ["/", "/jhub/", "/course.2026/", "/a/b/c/", "/~user-x_y/", "/JHub/", "/x/", `/${long("seg", 30)}/`, "/hub-2/", "/.well-known/"],
  hubOutsidePath: ["redirect", "notFound", "/var/www/landing", "/srv/landing", "/srv/a@b+c_d.e-f"],
  hubUpstream: [
    "http://127.0.0.1:8000", "http://127.0.0.1:8081", "http://[::1]:8000", "unix:/run/jupyterhub/hub.sock", "http://localhost:8000",
    "http://10.0.0.5:8000", "http://[fd00::5]:8000", "http://127.0.0.2:65535", "http://192.168.1.10:8000", "http://LOCALHOST:8000",
    "http://[0:0:0:0:0:0:0:1]:8000", "http://172.16.5.4:1", "unix:/run/jupyterhub/a@b+c_d.e-f.sock",
  ],
  httpsPort: ["443", "8443", "4443", "10443", "65535", "1"],
  ipv6: ["true", "false"],
  certificateMode: ["selfSigned", "acme", "provided"],
  acmeServer: ["letsencrypt", "letsencrypt-staging", "https://acme.internal:14000/dir", "https://ca.example.org/acme/directory"],
  acmeEmail: ["admin@example.org", "a.b+c@sub.example.co.uk"],
  acmeRevokeOnDestroy: ["true", "false"],
  acmeCarryOver: ["{}", JSON.stringify({ "hub.example.org": FAKE_BUNDLE })],
  tlsProfile: ["intermediate", "modern"],
  dhe: ["true", "false"],
  dhparamBits: ["2048", "3072", "4096"],
  ocspStapling: ["true", "false"],
  hstsMaxAge: ["0", "86400", "15552000", "63072000", "2147483647"],
  hstsIncludeSubdomains: ["true", "false"],
  maxUploadMb: ["1", "512", "2048", "1048576"],
  websocketIdleTimeout: ["0", "60", "3600", "604800"],
  hubIdleCullTimeout: ["0", "60", "3600", "2592000"],
  expectedParticipants: ["1", "30", "100", "300", "3000"],
  maxConnections: ["0", "100", "40000"],
  openFilesLimit: ["1024", "16384", "65536", "1048576"],
  hostMemoryMb: ["0", "2048", "16384", "65536"],
  manageHubConfig: ["true", "false"],
  hubConfigPath: ["/etc/jupyterhub/jupyterhub_config.py", "/srv/jupyterhub/jupyterhub_config.py", "/opt/tljh/config/jupyterhub_config.d/jhe.py"],
  hubService: ["jupyterhub", "jupyterhub.service", "jupyterhub@main", "tljh-jupyterhub"],
  selinux: ["auto", "on", "off"],
};

/** Debian 12/13 have checker roots (real nginx -t / apachectl -t): pick them more often. */
const platformArb = fc.oneof(
  { arbitrary: fc.constantFrom("debian-13", "debian-12"), weight: 5 },
  { arbitrary: fc.constantFrom(...platformIds.filter((p) => !p.startsWith("debian-"))), weight: 2 },
);

const extraDomains = ["www.example.org", "docs.example.org", "static.example.org", "landing.example.net", "b.example.org"];
const extraRoots = [undefined, "/srv/docs", "/var/www/x", "/opt/site", "/srv/a.b_c@d+e-f/", "/srv/jupyterhub/www"];
const cidrs = ["192.0.2.0/24", "198.51.100.7", "2001:db8:42::/48", "10.0.0.0/8", "::1", "203.0.113.128/25", "2001:DB8::/32"];
const realms = ["Workshop (ask the tutor)", "JupyterHub", "a", long("R", 64), "Course: Intro/Python, 2026 @ Uni+"];
const userNames = ["workshop", "tutor", "t.a-1_b", "T2", long("u", 64)];

const extraSiteArb = fc.record(
  { domain: fc.constantFrom(...extraDomains), root: fc.constantFrom(...extraRoots), certificateMode: fc.constantFrom(undefined, "selfSigned", "acme", "provided") },
  { requiredKeys: ["domain"] },
).map((s) => Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)));

const splitAuthArb = fc.record(
  {
    users: fc.array(fc.oneof(fc.constantFrom(...userNames), fc.tuple(fc.constantFrom(...userNames), fc.constantFrom(FAKE_PASSWORD, FAKE_PLAIN_PASSWORD)).map(([name, password]) => ({ name, password }))), { minLength: 1, maxLength: 3 }),
    allowFrom: fc.array(fc.constantFrom(...cidrs), { maxLength: 3 }),
    realm: fc.constantFrom(...realms),
  },
  { requiredKeys: ["users"] },
);

/** A valid value of a top-level key (structured keys as objects). */
function validValueArb(key: string): fc.Arbitrary<unknown> {
  if (key === "platform") return platformArb;
  if (key === "extraSites") return fc.array(extraSiteArb, { maxLength: 3 });
  if (key === "splitAuth") return splitAuthArb;
  const pool = validTop[key];
  return pool ? fc.constantFrom(...pool) : fc.constant("");
}

// ---- how values break

/** Fragments that mean something to nginx, Apache, a shell, a URL parser or a terminal. */
export const fragments = [
  ";", "}", "{", '"', "'", "\n", "\r\n", "\t", " ", "$", "$host", "${x}", "#", "\\", "<", ">", "</VirtualHost>", "%{ENV:X}", "%", "`id`", "$(id)",
  "|", "&", "*", "?", "%2e", "%0a", "..", "/../", "//", "/./", "\u0000", "\u00a0", "\u200b", "\u202e", "\u2028", "\ufeff", "ü", "；", "＄", "🙂",
  "~", "=", ",", "(", ")", "@", "+", ":", "[", "]", "!", "^", "\\n", "\x1b[31m", "\r", "\v", "\f", "}\nserver {", "\"; return 200 \"x",
];

const shapes: unknown[] = [5, -1, 1.5, 0, true, false, null, [], ["a"], {}, { a: 1 }, [{ domain: "www.example.org" }], "[1,2]", "{}", "null", "true", "[]", '{"a":'];

const numberStrings = [
  "0", "-1", "65536", "70000", "1e3", "0x1bb", "443.0", " 443", "443 ", "NaN", "Infinity", "-Infinity", "9007199254740993", "-0", "+443", "٤٤٣",
  "4 43", "1_000", "99999999999999999999", "2147483648", "4294967296", "-2147483649", "59", "86399", "604801", "1023", "1048577", "100001",
];

const nastyByKind: Record<string, string[]> = {
  domain: [
    "localhost", "hub", "hub.example.org.", "hub..example.org", "-hub.example.org", "hub-.example.org", "hüb.example.org", "*.example.org", "203.0.113.10",
    "[::1]", "hub.example.org:443", "hub.example.org/jhub", `${long("a", 64)}.example.org`, `${Array(5).fill(long("a", 60)).join(".")}.org`, "hub.example.org\n",
    "hub.example.org;", "hub.example.org}", "hub.$host.org", "hub.example.org default_server", "hub.example.org\nserver_name evil.org", "xn--.example.org",
    "_dmarc.example.org", "hub.example.org\u0000", "HUB.EXAMPLE.ORG", "www.example.org", "room2.example.org", "1.2.3.4.example.org", "a.b",
  ],
  path: [
    "", "/", "jhub", "/jhub", "jhub/", "/jhub//", "/j hub/", "/j%20hub/", "/hub/", "/jhub/hub/", "/user/", "/services/", "/../", "/a/../b/", "/./",
    "/jhub/;/", "/jhub/{/", "/j$x/", "/j\"/", "/j'/", "/j\\/", "/j#/", "/j?x/", "/j*/", "/j(x)/", "/j+/", "/j|/", "/j^/", "/j[x]/", "/j@/",
    `/${long("a", 5000)}/`, "/\u202e/", "/ü/", "/j\n/", "/j\t/", "/.well-known/acme-challenge/",
  ],
  root: [
    "/", "/var", "/var/", "/home", "/srv", "/etc/jupyterhub", "/var/www", "/var/lib/jupyterhub", "/var/log", "/opt", "/tmp", "/srv/../etc", "relative/x",
    "/srv/a b", "/srv/a;b", "/srv/a{b}", "/srv/$x", "/srv/~x", "/proc/self", "/etc/passwd", "/etc/jupyterhub-edge", "/root", "/mnt", "//", "/srv//x",
    "/srv/./x", "/usr/share", "/var/lib", "/var/spool/mail", "/home/student", "/srv/jupyterhub", "/opt/tljh/config", "/boot", "/srv/\n", `/${long("d", 5000)}`,
  ],
  upstream: [
    "http://[::ffff:127.0.0.1]:8000", "http://[fe80::1%25eth0]:8000", "http://[::]:8000", "http://[0::0]:8000", "http://0x7f000001:8000", "http://2130706433:8000",
    "http://127.0.0.1:8000/", "http://127.0.0.1:8000/jhub/", "http://127.0.0.1", "http://[2001:db8::1]:8000", "http://203.0.113.7:8000", "http://8.8.8.8:8000",
    "http://hub.example.org:8000", "http://203.0.113.10:8000", "http://[2001:db8::10]:8000", "http://lab-server:8000", "http://127.0.0.1:443", "http://127.0.0.1:80",
    "http://127.0.0.1:22", "http://127.0.0.1:8443", `unix:/run/${long("s", 200)}.sock`, "unix:relative.sock", "unix:/run/hub sock", "unix:/run/hub;.sock",
    "http://user:pw@127.0.0.1:8000", "http://127.0.0.1:8000?x", "http://127.0.0.1:8000#f", "HTTP://127.0.0.1:8000", "http://localhost.:8000", "http://127.0.0.1.:8000",
    "http://100.64.0.1:8000", "http://169.254.0.1:8000", "http://[::ffff:0.0.0.0]:8000", "http://0:8000", "http://[::ffff:203.0.113.7]:8000", "http://www.example.org:8000",
    "http://127.0.0.1:08000", "http://127.0.0.1:65536", "http://127.0.0.1:0", "http://[::1]:8000;", "http://127.0.0.1:8000 ", "ws://127.0.0.1:8000", "http://[fd00::1]:80",
    "http://HUB.EXAMPLE.ORG:8000", "http://hub.example.org.:8000", "http://room1.example.org:8000", "http://10.213.200.2:8000", "http://198.51.100.7:9000",
  ],
  cidr: [
    "0.0.0.0/0", "::/0", "0.0.0.0/1", "128.0.0.0/1", "::/1", "8000::/1", "192.0.2.1/24", "192.0.2.0/33", "::ffff:192.0.2.0/120", "fe80::1%eth0", "192.0.2.0/24 ",
    "1.2.3.4/32", "0.0.0.0", "::", "192.0.2.0/024", "192.0.2.0/24;", "192.0.2.0/24 all", "all", "10.0.0.0/8\n", "::ffff:0:0/96", "0.0.0.0/2", "64.0.0.0/2",
  ],
  service: ["nginx", "apache2", "httpd", "sshd", "ssh.service", "systemd-journald", "-x", "a b", "dbus", "nginx.service", "jupyterhub;reboot", "", "init.scope", "multi-user.target"],
  configPath: ["/etc/passwd", "/etc/jupyterhub", "/etc/jupyterhub/", "/etc/nginx/nginx.conf", "/etc/jupyterhub-edge/htpasswd", "relative.py", "/srv/x/../y.py", "/", "/etc/ssh/sshd_config", "/dev/null"],
  realm: ["", "a\"b", "a\\b", "a$b", "a%{ENV}b", "a;b", "a}b", "a\nb", "ü", long("r", 65), "a'b", "a#b", "a<b>", " "],
  user: ["", "-x", "a b", "a:b", "a;b", "ü", long("u", 65), "root\n", ".x"],
  email: ["-admin@example.org", "admin", "admin@", "a b@example.org", "admin@example.org\n", "admin@example.org;", "admin@[127.0.0.1]", "\"a\"@example.org"],
  acmeServer: ["http://acme.example.org/dir", "https://", "https://acme.example.org:99999/dir", "https://acme example.org", "ftp://x", "https://acme.example.org/d;ir", "https://acme.example.org/$x"],
  host: ["-oProxyCommand=x", "", " ", "203.0.113.10:22", "[2001:db8::10", "ssh://203.0.113.10", "a b", "host;reboot", "203.0.113.256", "203.0.113.010", "2001:db8::10%eth0", "LAB-SERVER", "203.0.113.1"],
  hostKey: ["ssh-ed25519", "ssh-dss AAAA", "ssh-ed25519 AAAA;x", "AAAAC3NzaC1lZDI1NTE5", "ssh-ed25519 AAAA\nssh-rsa BBBB", "ecdsa-sha2-nistp256 AAAA", "ssh-ed25519  AAAA"],
};

/** Which kind of value each key (top-level or field) holds. */
const kindOf: Record<string, string> = {
  hubDomain: "domain", domain: "domain", hubPath: "path", hubOutsidePath: "root", root: "root", hubUpstream: "upstream", allowFrom: "cidr", hubService: "service",
  hubConfigPath: "configPath", realm: "realm", users: "user", name: "user", acmeEmail: "email", acmeServer: "acmeServer", host: "host", hostKey: "hostKey",
  sshUser: "user", sshPrivateKeyFile: "configPath", hostKeyFile: "configPath", acmeCaBundleFile: "configPath",
};

/** A broken value for `key`: its kind's breakage, a fragment spliced into a valid value, or a generic one. */
function nastyValueArb(key: string): fc.Arbitrary<unknown> {
  const valid = validTop[key] ?? (kindOf[key] === "domain" ? validTop.hubDomain : kindOf[key] === "root" ? ["/srv/docs"] : ["x"]);
  const spliced = fc.tuple(fc.constantFrom(...valid), fc.constantFrom(...fragments), fc.nat()).map(([v, frag, at]) => {
    const i = at % (v.length + 1);
    return v.slice(0, i) + frag + v.slice(i);
  });
  const kind = kindOf[key];
  const arbs: fc.WeightedArbitrary<unknown>[] = [
    { arbitrary: spliced, weight: 4 },
    { arbitrary: fc.constantFrom("", " ", "\n", "\t", "null", "undefined"), weight: 1 },
    { arbitrary: fc.constantFrom(...numberStrings), weight: configKeys[key as keyof typeof configKeys]?.type === "integer" ? 4 : 1 },
    { arbitrary: fc.constantFrom(...shapes), weight: 1 },
    { arbitrary: fc.tuple(fc.constantFrom(...valid), fc.constantFrom(2, 40, 1000, 20000)).map(([v, n]) => v.repeat(n)), weight: 1 },
    { arbitrary: fc.string({ unit: "binary", maxLength: 12 }), weight: 1 },
    { arbitrary: fc.string({ unit: fc.constantFrom(..."abz09-.:/[]_~@+%$;{}\"' \n\\"), minLength: 1, maxLength: 24 }), weight: 2 },
  ];
  if (kind) arbs.push({ arbitrary: fc.constantFrom(...nastyByKind[kind]), weight: 6 });
  return fc.oneof(...arbs);
}

// ---------------------------------------------------------------------------------------------
// Edits: where (a target) and what.

const topKeys = Object.keys(configKeys);
const extraSiteFields = ["domain", "root", "certificateMode"];
const splitAuthFields = ["users", "allowFrom", "realm"];
const hostFields = ["name", "host", "hubDomain", "extraSites", "sshPort", "sshUser", "hostKey", "proxy", "platform", "certificateMode", "hubPath", "hubUpstream", "httpsPort", "hubOutsidePath", "ipv6", "hubService", "hubConfigPath"];

export type Scope = "top" | "entry" | "extraSite" | "splitAuth" | "user" | "allowFrom";
export interface Target {
  scope: Scope;
  /** Index of the hosts entry / extra site / user / allowFrom entry (modulo the list's length). */
  i: number;
  j: number;
  key: string;
}

export type Edit =
  | { kind: "set"; target: Target; value: unknown }
  | { kind: "splice"; target: Target; fragment: string; at: number }
  | { kind: "typo"; target: Target; how: number; at: number }
  | { kind: "move"; from: Target; to: Target; copy: boolean }
  | { kind: "delete"; target: Target }
  | { kind: "unknown"; scope: Scope; i: number; key: string; value: unknown }
  | { kind: "plant"; target: Target; secret: "password" | "plainPassword" | "key" | "bundle"; whole: boolean }
  | { kind: "provided" }
  | { kind: "fleet"; count: number };

const fieldsOf: Record<Scope, string[]> = {
  top: topKeys,
  entry: hostFields,
  extraSite: extraSiteFields,
  splitAuth: splitAuthFields,
  user: ["name", "password"],
  allowFrom: ["value"],
};

/** Keys whose values reach the proxy's files, the hub or a host's command line: broken more often. */
const riskyKeys = [
  "hubDomain", "hubPath", "hubUpstream", "hubOutsidePath", "httpsPort", "sshPort", "host", "hostKey", "sshUser", "hubService", "hubConfigPath",
  "acmeEmail", "acmeServer", "extraSites", "splitAuth", "sshPrivateKeyFile", "hostKeyFile",
];
const keyArb = (scope: Scope): fc.Arbitrary<string> =>
  scope === "top" ? fc.oneof({ arbitrary: fc.constantFrom(...riskyKeys), weight: 2 }, { arbitrary: fc.constantFrom(...topKeys), weight: 1 })
    : scope === "entry" ? fc.oneof({ arbitrary: fc.constantFrom("host", "hubDomain", "hubUpstream", "hubPath", "sshPort", "httpsPort", "extraSites"), weight: 2 }, { arbitrary: fc.constantFrom(...hostFields), weight: 1 })
      : fc.constantFrom(...fieldsOf[scope]);

const targetArb = (scopes: Scope[] = ["top", "top", "top", "top", "entry", "extraSite", "extraSite", "splitAuth", "user", "allowFrom"]): fc.Arbitrary<Target> =>
  fc.constantFrom(...scopes).chain((scope) => fc.record({ scope: fc.constant(scope), i: fc.nat(3), j: fc.nat(3), key: keyArb(scope) }));

/** A valid value where the target is: what a user setting a feature writes. */
/** The keys that change what is rendered most: set more often than the rest. */
const featureKeys = ["proxy", "platform", "hubPath", "httpsPort", "hubUpstream", "certificateMode", "extraSites", "splitAuth", "ipv6", "hubDomain", "hubOutsidePath", "tlsProfile"];
const featureTargetArb: fc.Arbitrary<Target> = fc.oneof(
  { arbitrary: fc.record({ scope: fc.constant<Scope>("top"), i: fc.nat(3), j: fc.nat(3), key: fc.constantFrom(...featureKeys) }), weight: 4 },
  { arbitrary: fc.record({ scope: fc.constant<Scope>("entry"), i: fc.nat(3), j: fc.nat(3), key: fc.constantFrom("proxy", "platform", "hubPath", "httpsPort", "hubUpstream", "extraSites") }), weight: 1 },
  { arbitrary: targetArb(["top", "top", "top", "entry", "extraSite", "splitAuth"]), weight: 3 },
);

const validSetArb: fc.Arbitrary<Edit> = featureTargetArb.chain((target) => {
  let value: fc.Arbitrary<unknown>;
  if (target.scope === "extraSite") value = target.key === "domain" ? fc.constantFrom(...extraDomains) : target.key === "root" ? fc.constantFrom(...extraRoots.filter(Boolean)) : fc.constantFrom("selfSigned", "acme", "provided");
  else if (target.scope === "splitAuth") value = target.key === "users" ? splitAuthArb.map((s) => s.users) : target.key === "allowFrom" ? fc.array(fc.constantFrom(...cidrs), { maxLength: 3 }) : fc.constantFrom(...realms);
  else if (target.key === "name") value = fc.constantFrom("room9", "x", "lab-1");
  else if (target.key === "hosts" || target.key === "sshPrivateKey" || target.key === "providedCertificates") value = fc.constant(undefined);
  else if (target.scope === "entry" && target.key === "httpsPort") value = fc.oneof(fc.constantFrom(...validTop.httpsPort), fc.constantFrom(443, 8443));
  else value = validValueArb(target.key);
  return value.map((v): Edit => (v === undefined ? { kind: "delete", target } : { kind: "set", target, value: v }));
});

const typoKeyNames = ["hubDomian", "hubdomain", "httpsport", "extraSite", "splitauth", "certificate", "hubPaht", "hubUpstrem", "sshKey", "allowfrom", "realms", "user", "roots"];

/** The edits that break things, as users do. */
const breakingArb: fc.Arbitrary<Edit> = fc.oneof(
  { arbitrary: targetArb().chain((target) => nastyValueArb(target.key).map((value): Edit => ({ kind: "set", target, value }))), weight: 8 },
  { arbitrary: fc.record({ kind: fc.constant("splice" as const), target: targetArb(), fragment: fc.constantFrom(...fragments), at: fc.nat() }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant("typo" as const), target: targetArb(), how: fc.nat(5), at: fc.nat() }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant("move" as const), from: targetArb(), to: targetArb(), copy: fc.boolean() }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant("delete" as const), target: targetArb() }), weight: 2 },
  {
    arbitrary: fc.record({
      kind: fc.constant("unknown" as const),
      scope: fc.constantFrom<Scope>("top", "entry", "extraSite", "splitAuth", "user"),
      i: fc.nat(3),
      key: fc.oneof(fc.constantFrom(...typoKeyNames), fc.string({ unit: fc.constantFrom(..."abcXYZ-_.0"), minLength: 1, maxLength: 10 })),
      value: fc.oneof(fc.constantFrom<unknown>("hub.example.org", FAKE_PASSWORD, FAKE_PLAIN_PASSWORD, FAKE_PRIVATE_KEY, "1"), fc.constantFrom(...shapes)),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("plant" as const),
      target: targetArb(["top", "top", "entry", "extraSite", "user", "splitAuth", "allowFrom"]),
      secret: fc.constantFrom<"password" | "plainPassword" | "key" | "bundle">("password", "plainPassword", "plainPassword", "key", "bundle"),
      whole: fc.boolean(),
    }),
    weight: 3,
  },
);

export interface Generated {
  base: number;
  /** The stack's proxy (half of the configs each), before the edits. */
  proxy: "nginx" | "apache";
  /** Valid feature edits (proxies, platforms, certificate modes, split auth, sub-path, port, extra sites …). */
  features: Edit[];
  /** Edits that may break the config. */
  breaks: Edit[];
}

export function generatedArb(baseCount: number): fc.Arbitrary<Generated> {
  return fc.record({
    base: fc.nat(baseCount - 1),
    proxy: fc.constantFrom<"nginx" | "apache">("nginx", "apache"),
    features: fc.array(
      fc.oneof(
        { arbitrary: validSetArb, weight: 12 },
        { arbitrary: fc.constant<Edit>({ kind: "provided" }), weight: 1 },
        { arbitrary: fc.integer({ min: 1, max: 3 }).map((count): Edit => ({ kind: "fleet", count })), weight: 1 },
      ),
      { maxLength: 8 },
    ),
    breaks: fc.oneof({ arbitrary: fc.constant<Edit[]>([]), weight: 4 }, { arbitrary: fc.array(breakingArb, { minLength: 1, maxLength: 3 }), weight: 6 }),
  });
}

// ---------------------------------------------------------------------------------------------
// Applying edits to a document.

type Container = Record<string, unknown> | unknown[];
interface Slot {
  container: Container;
  key: string | number;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const clone = <T>(v: T): T => (v === undefined ? v : JSON.parse(JSON.stringify(v)));

/** A structured top-level value as an object/array (JSON text is parsed; anything else as is). */
function structured(doc: Doc, key: string): unknown {
  const v = doc[key];
  if (typeof v !== "string") return v;
  try {
    const parsed = JSON.parse(v);
    doc[key] = parsed;
    return parsed;
  } catch {
    return v;
  }
}

function entries(doc: Doc): Record<string, unknown>[] {
  const hosts = structured(doc, "hosts");
  return Array.isArray(hosts) ? (hosts.filter(isObject) as Record<string, unknown>[]) : [];
}

/** The object that holds `extraSites` for target i: a hosts entry in a fleet, else the top level. */
function siteHolder(doc: Doc, i: number): Record<string, unknown> {
  const es = entries(doc);
  return es.length ? es[i % es.length] : doc;
}

function resolve(doc: Doc, t: Target): Slot | undefined {
  switch (t.scope) {
    case "top":
      return { container: doc, key: t.key };
    case "entry": {
      const es = entries(doc);
      return es.length ? { container: es[t.i % es.length], key: t.key } : { container: doc, key: t.key };
    }
    case "extraSite": {
      const holder = siteHolder(doc, t.j);
      const list = holder === doc ? structured(doc, "extraSites") : holder.extraSites;
      if (!Array.isArray(list) || list.length === 0) return undefined;
      const site = list[t.i % list.length];
      return isObject(site) ? { container: site, key: t.key } : { container: list, key: t.i % list.length };
    }
    case "splitAuth": {
      const block = structured(doc, "splitAuth");
      return isObject(block) ? { container: block, key: t.key } : undefined;
    }
    case "user": {
      const block = structured(doc, "splitAuth");
      const users = isObject(block) ? block.users : undefined;
      if (!Array.isArray(users) || users.length === 0) return undefined;
      const at = t.i % users.length;
      const u = users[at];
      if (isObject(u)) return { container: u, key: t.key };
      if (t.key === "password") {
        users[at] = { name: u, password: FAKE_PASSWORD };
        return { container: users[at] as Record<string, unknown>, key: "password" };
      }
      return { container: users, key: at };
    }
    case "allowFrom": {
      const block = structured(doc, "splitAuth");
      const list = isObject(block) ? block.allowFrom : undefined;
      if (!Array.isArray(list) || list.length === 0) return isObject(block) ? { container: block, key: "allowFrom" } : undefined;
      return { container: list, key: t.i % list.length };
    }
  }
}

const getSlot = (s: Slot): unknown => (s.container as Record<string | number, unknown>)[s.key as string];
function setSlot(s: Slot, v: unknown): void {
  if (s.container === undefined) return;
  if (Array.isArray(s.container) && typeof s.key === "number") s.container[s.key] = v;
  else (s.container as Record<string, unknown>)[String(s.key)] = v;
}
function deleteSlot(s: Slot): void {
  if (Array.isArray(s.container) && typeof s.key === "number") s.container.splice(s.key, 1);
  else delete (s.container as Record<string, unknown>)[String(s.key)];
}

function typo(key: string, how: number, at: number): string {
  if (key.length < 2) return `${key}x`;
  const i = at % (key.length - 1);
  switch (how) {
    case 0: return key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2); // swap
    case 1: return key.slice(0, i) + key.slice(i + 1); // drop
    case 2: return key.slice(0, i) + key[i] + key.slice(i); // double
    case 3: return key.slice(0, i) + (key[i] === key[i].toLowerCase() ? key[i].toUpperCase() : key[i].toLowerCase()) + key.slice(i + 1); // case
    case 4: return `${key}s`;
    default: return key.toLowerCase() === key ? key.toUpperCase() : key.toLowerCase();
  }
}

const secretOf = { password: FAKE_PASSWORD, plainPassword: FAKE_PLAIN_PASSWORD, key: FAKE_PRIVATE_KEY, bundle: FAKE_BUNDLE };

/** All served domains of the document (hub and extra sites, every host), for provided certificates. */
function docDomains(doc: Doc): string[] {
  const out: string[] = [];
  const holders = entries(doc).length ? entries(doc) : [doc];
  for (const h of holders) {
    if (typeof h.hubDomain === "string") out.push(h.hubDomain);
    const list = h === doc ? structured(doc, "extraSites") : h.extraSites;
    if (Array.isArray(list)) for (const s of list) if (isObject(s) && typeof s.domain === "string") out.push(s.domain);
  }
  return out;
}

function apply(doc: Doc, e: Edit, f: Fixtures): void {
  switch (e.kind) {
    case "set": {
      const slot = resolve(doc, e.target);
      if (!slot) return;
      let value = clone(e.value);
      // A valid certificateMode acme usually comes with its contact address.
      if (e.target.key === "certificateMode" && value === "acme" && doc.acmeEmail === undefined) doc.acmeEmail = "admin@example.org";
      if (e.target.scope === "allowFrom" && !Array.isArray(slot.container)) value = [value];
      setSlot(slot, value);
      return;
    }
    case "splice": {
      const slot = resolve(doc, e.target);
      if (!slot) return;
      const v = getSlot(slot);
      const text = typeof v === "string" ? v : JSON.stringify(v) ?? "";
      const i = e.at % (text.length + 1);
      setSlot(slot, text.slice(0, i) + e.fragment + text.slice(i));
      return;
    }
    case "typo": {
      const slot = resolve(doc, e.target);
      if (!slot || Array.isArray(slot.container)) return;
      const v = getSlot(slot);
      if (v === undefined) return;
      deleteSlot(slot);
      setSlot({ container: slot.container, key: typo(String(slot.key), e.how, e.at) }, v);
      return;
    }
    case "move": {
      const from = resolve(doc, e.from);
      const v = from ? clone(getSlot(from)) : undefined;
      if (!from || v === undefined) return;
      if (!e.copy) deleteSlot(from);
      const to = resolve(doc, e.to);
      if (to) setSlot(to, v);
      return;
    }
    case "delete": {
      const slot = resolve(doc, e.target);
      if (slot) deleteSlot(slot);
      return;
    }
    case "unknown": {
      const slot = resolve(doc, { scope: e.scope, i: e.i, j: 0, key: e.key });
      if (slot && !Array.isArray(slot.container)) setSlot(slot, clone(e.value));
      return;
    }
    case "plant": {
      const slot = resolve(doc, e.target);
      if (!slot) return;
      const secret = secretOf[e.secret];
      const v = getSlot(slot);
      setSlot(slot, e.whole || typeof v !== "string" ? secret : `${v}${secret}`);
      return;
    }
    case "provided": {
      doc.certificateMode = "provided";
      doc.providedCertificates = providedFor(docDomains(doc).map((d) => d.trim().toLowerCase()), f);
      return;
    }
    case "fleet": {
      // The single-host keys become `count` hosts entries (the first keeps the stack's own server).
      if (entries(doc).length) return;
      const own: Record<string, unknown> = {};
      for (const k of ["host", "hubDomain", "extraSites", "hostKey", "hostKeyFile"]) {
        if (doc[k] !== undefined) own[k] = k === "extraSites" ? structured(doc, k) : doc[k];
        delete doc[k];
      }
      const hosts: Record<string, unknown>[] = [{ name: "edge", ...own }];
      for (let n = 1; n < e.count; n++) hosts.push({ name: `room${n}`, host: `203.0.113.${100 + n}`, hubDomain: `room${n}.example.org`, ...(n === 2 ? { proxy: "apache" } : {}) });
      doc.hosts = hosts;
      return;
    }
  }
}

/**
 * What a user turning a feature on also sets: certificates for `provided` domains, a sub-path for a
 * web root outside the hub. (Leaving them out is a mistake of its own, which breaking edits make.)
 */
function consistent(doc: Doc, f: Fixtures): void {
  const holders = entries(doc).length ? [doc, ...entries(doc)] : [doc];
  const modes = holders.flatMap((h) => {
    const list = h === doc ? structured(doc, "extraSites") : h.extraSites;
    return [h.certificateMode, ...(Array.isArray(list) ? list.map((x) => (isObject(x) ? x.certificateMode : undefined)) : [])];
  });
  if (modes.includes("acme") && doc.acmeEmail === undefined) doc.acmeEmail = "admin@example.org";
  if (modes.includes("provided")) doc.providedCertificates = providedFor(docDomains(doc).map((d) => d.trim().toLowerCase()), f);
  for (const h of holders) {
    if (typeof h.hubOutsidePath === "string" && h.hubOutsidePath.startsWith("/") && (h.hubPath ?? doc.hubPath ?? "/") === "/") h.hubPath = "/jhub/";
  }
}

/** The config strings a generated description stands for. */
export function buildStrings(g: Generated, bases: { doc: Doc }[], f: Fixtures): Record<string, string> {
  const doc: Doc = clone(bases[g.base % bases.length].doc);
  doc.proxy = g.proxy;
  for (const e of g.features) {
    // A feature of one server, set on a fleet, goes into an entry (at the top level it is a mistake, made by breaking edits).
    const perHost = e.kind === "set" && e.target.scope === "top" && ["host", "hubDomain", "extraSites", "hostKey", "hostKeyFile"].includes(e.target.key);
    apply(doc, perHost && entries(doc).length ? { ...e, target: { ...e.target, scope: "entry" } } : e, f);
  }
  consistent(doc, f);
  for (const e of g.breaks) apply(doc, e, f);
  return docToStrings(doc);
}
