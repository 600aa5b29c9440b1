/**
 * Render tier: the validation classes of issue 19 that used to pass. Each class has refused cases
 * (the message names the key and the rule) and accepted neighbours (a value next to the refused one
 * that a user means and the program takes), as `pulumi config set` strings through the same entry
 * the program uses (`loadStackFromStrings`: single host and fleet alike). The secret cases check the
 * thrown message text as a whole: no planted secret, no PEM armour, no line break.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "crypto";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { ConfigError } from "../../config/schema";
import { LoadedStack, loadStackFromStrings } from "../../config/fleet";
import { redactSecrets } from "../../config/secrets";
import { canonicalAddress } from "../../config/addresses";
import { coversEverything } from "../../config/split-auth";
import { safePathPattern } from "../../config/rules";

const base: Record<string, string> = { host: "203.0.113.10", sshPrivateKeyFile: "/dev/null", hubDomain: "hub.example.org" };
const tmp = mkdtempSync(path.join(tmpdir(), "jhe-validation-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

/** Problems of a config (strings over `base`; a value of undefined removes the key), [] when accepted. */
function problemsOf(strings: Record<string, string | undefined>, baseDir = tmp): { problems: string[]; message: string; stack?: LoadedStack } {
  const merged = Object.fromEntries(Object.entries({ ...base, ...strings }).filter(([, v]) => v !== undefined)) as Record<string, string>;
  try {
    return { problems: [], message: "", stack: loadStackFromStrings(merged, undefined, baseDir) };
  } catch (e) {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${String(e)}`);
    return { problems: e.problems, message: e.message };
  }
}

const json = (v: unknown) => JSON.stringify(v);
const sites = (...roots: (string | undefined)[]) => json(roots.map((root, i) => ({ domain: `s${i}.example.org`, ...(root === undefined ? {} : { root }) })));
const fleet = (...hosts: Record<string, unknown>[]) => ({ host: undefined, hubDomain: undefined, hosts: json(hosts.map((h, i) => ({ name: `room${i + 1}`, hubDomain: `hub${i + 1}.example.org`, ...h }))) });
const split = (block: Record<string, unknown>) => ({ splitAuth: json({ users: ["workshop"], ...block }) });

// ---- SSH public-key blobs built by hand (RFC 4253 §6.6): label and content under the test's control.
const sshString = (b: Buffer | string) => {
  const data = Buffer.isBuffer(b) ? b : Buffer.from(b);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
};
const blob = (...fields: (Buffer | string)[]) => Buffer.concat(fields.map(sshString)).toString("base64");
const ed25519Blob = blob("ssh-ed25519", randomBytes(32));
const rsaBlob = blob("ssh-rsa", Buffer.from([1, 0, 1]), Buffer.concat([Buffer.from([0]), randomBytes(256)]));
const ecdsaBlob = (curve: string, label = curve) => blob(`ecdsa-sha2-${label}`, curve, Buffer.concat([Buffer.from([4]), randomBytes(64)]));

// ---- Planted secrets (never to appear in a message).
const pemKey = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const pemBody = pemKey.split("\n")[1];
const openSshKey = `-----BEGIN OPENSSH PRIVATE KEY-----\n${randomBytes(180).toString("base64").replace(/(.{70})/g, "$1\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
const openSshBody = openSshKey.split("\n")[1];
const tsig = randomBytes(32).toString("base64"); // a TSIG / EAB HMAC key as dig and ACME CAs print it
const tsigUrl = randomBytes(32).toString("base64url");
const password = "Hunter2-Sup3r-Secret";
const privateKeyFile = path.join(tmp, "ssh_host_ed25519_key");
writeFileSync(privateKeyFile, openSshKey);
const publicKeyFile = path.join(tmp, "ssh_host_ed25519_key.pub");
writeFileSync(publicKeyFile, `ssh-ed25519 ${ed25519Blob} root@server\n`);

interface Case {
  what: string;
  strings: Record<string, string | undefined>;
  /** A problem line that must be among the problems (its key first). */
  refused?: RegExp;
  /** Substrings that must appear nowhere in the thrown message. */
  secrets?: string[];
}

const classes: Record<string, { refused: Case[]; accepted: Case[] }> = {
  "1 split-auth allow-lists that admit everyone": {
    refused: [
      { what: "0.0.0.0/1 + 128.0.0.0/1", strings: split({ allowFrom: ["0.0.0.0/1", "128.0.0.0/1"] }), refused: /^jupyterhub-edge:splitAuth\.allowFrom: together 0\.0\.0\.0\/1, 128\.0\.0\.0\/1 admit every IPv4 address, so no one would be asked for a password/ },
      { what: "::/1 + 8000::/1", strings: split({ allowFrom: ["::/1", "8000::/1"] }), refused: /^jupyterhub-edge:splitAuth\.allowFrom: together ::\/1, 8000::\/1 admit every IPv6 address/ },
      { what: "overlapping quarters and eighths", strings: split({ allowFrom: ["0.0.0.0/2", "64.0.0.0/2", "96.0.0.0/3", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/3", "192.0.2.0/24"] }), refused: /^jupyterhub-edge:splitAuth\.allowFrom: together .* admit every IPv4 address/ },
      { what: "0.0.0.0/0 alone", strings: split({ allowFrom: ["0.0.0.0/0"] }), refused: /^jupyterhub-edge:splitAuth\.allowFrom\[0\]: 0\.0\.0\.0\/0 admits every address/ },
      { what: "IPv4 everything beside a partial IPv6 list", strings: split({ allowFrom: ["2001:db8::/32", "0.0.0.0/1", "128.0.0.0/1"] }), refused: /^jupyterhub-edge:splitAuth\.allowFrom: together 0\.0\.0\.0\/1, 128\.0\.0\.0\/1 admit every IPv4/ },
    ],
    accepted: [
      { what: "half of IPv4", strings: split({ allowFrom: ["0.0.0.0/1"] }) },
      { what: "three quarters of IPv4", strings: split({ allowFrom: ["0.0.0.0/1", "192.0.0.0/2"] }) },
      { what: "half of each family", strings: split({ allowFrom: ["0.0.0.0/1", "::/1"] }) },
      { what: "a classroom", strings: split({ allowFrom: ["192.0.2.0/24", "2001:db8:42::/48"] }) },
    ],
  },
  "2 a hub upstream reachable from outside": {
    refused: [
      { what: "the SSH host's own public address", strings: { hubUpstream: "http://203.0.113.10:8000" }, refused: /^jupyterhub-edge:hubUpstream: 203\.0\.113\.10 is the server's own address \(host\): the hub would be reachable from outside on port 8000, around TLS and split auth/ },
      { what: "the host's IPv6 address in another spelling", strings: { host: "2001:db8::7", hubUpstream: "http://[2001:DB8:0:0::7]:8000" }, refused: /^jupyterhub-edge:hubUpstream: \[2001:db8::7\] is the server's own address \(host\)/ },
      { what: "the host's private address", strings: { host: "10.0.0.5", hubUpstream: "http://10.0.0.5:8000" }, refused: /^jupyterhub-edge:hubUpstream: 10\.0\.0\.5 is the server's own address \(host\)/ },
      { what: "another public address", strings: { hubUpstream: "http://198.51.100.20:8000" }, refused: /^jupyterhub-edge:hubUpstream: 198\.51\.100\.20 is a public address: the hub would be reachable from outside/ },
      { what: "a public IPv6 address", strings: { hubUpstream: "http://[2001:db8::99]:8000" }, refused: /^jupyterhub-edge:hubUpstream: \[2001:db8::99\] is a public address/ },
      { what: "the hub domain", strings: { hubUpstream: "http://hub.example.org:8000" }, refused: /^jupyterhub-edge:hubUpstream: hub\.example\.org is a domain this server serves publicly \(hubDomain\)/ },
      { what: "an extra site's domain, upper case", strings: { extraSites: sites(undefined), hubUpstream: "http://S0.Example.ORG:8000" }, refused: /^jupyterhub-edge:hubUpstream: s0\.example\.org is a domain this server serves publicly \(extraSites\[0\]\.domain\)/ },
      { what: "a host name that is the SSH host", strings: { host: "lab.example.org", hubUpstream: "http://LAB.example.org:8000" }, refused: /^jupyterhub-edge:hubUpstream: lab\.example\.org is the server's own address \(host\)/ },
      { what: "a fleet entry's own address", strings: fleet({ host: "203.0.113.11", hubUpstream: "http://203.0.113.11:8000" }), refused: /^jupyterhub-edge:hosts\[0\]\.hubUpstream: 203\.0\.113\.11 is the server's own address/ },
    ],
    accepted: [
      { what: "loopback", strings: { hubUpstream: "http://127.0.0.1:8001" } },
      { what: "IPv6 loopback", strings: { hubUpstream: "http://[::1]:8000" } },
      { what: "a unix socket", strings: { hubUpstream: "unix:/run/jupyterhub/hub.sock" } },
      { what: "another private address of the host", strings: { host: "10.0.0.5", hubUpstream: "http://10.0.0.6:8000" } },
      { what: "a private address on a public host", strings: { hubUpstream: "http://192.168.1.20:8000" } },
      { what: "a ULA address", strings: { hubUpstream: "http://[fd00::5]:8000" } },
      { what: "a container name", strings: { hubUpstream: "http://hub-container:8081" } },
    ],
  },
  "3 port clashes": {
    refused: [
      { what: "the hub on 80", strings: { hubUpstream: "http://127.0.0.1:80" }, refused: /^jupyterhub-edge:hubUpstream: port 80 is the proxy's \(HTTP redirects and ACME challenges\): the hub cannot listen there too/ },
      { what: "the hub on 443", strings: { hubUpstream: "http://127.0.0.1:443" }, refused: /^jupyterhub-edge:hubUpstream: port 443 is httpsPort, where the proxy serves HTTPS/ },
      { what: "the hub on a custom HTTPS port", strings: { httpsPort: "8443", hubUpstream: "http://[::1]:8443" }, refused: /^jupyterhub-edge:hubUpstream: port 8443 is httpsPort/ },
      { what: "the hub on SSH's port", strings: { sshPort: "2222", hubUpstream: "http://127.0.0.1:2222" }, refused: /^jupyterhub-edge:hubUpstream: port 2222 is SSH's \(sshPort\)/ },
      { what: "HTTPS on SSH's port", strings: { httpsPort: "22" }, refused: /^jupyterhub-edge:httpsPort: must not be 22, SSH's port \(sshPort\)/ },
      { what: "HTTPS on a moved SSH port", strings: { sshPort: "2222", httpsPort: "2222" }, refused: /^jupyterhub-edge:httpsPort: must not be 2222, SSH's port/ },
      { what: "HTTPS on 80", strings: { httpsPort: "80" }, refused: /^jupyterhub-edge:httpsPort: must not be 80: port 80 serves the HTTP redirect/ },
    ],
    accepted: [
      { what: "HTTPS on 8443, hub on 8000, SSH on 2222", strings: { httpsPort: "8443", sshPort: "2222", hubUpstream: "http://127.0.0.1:8000" } },
      { what: "the hub on 8080", strings: { hubUpstream: "http://127.0.0.1:8080" } },
    ],
  },
  "4 web roots over system trees": {
    refused: [
      ...["/", "/var", "/usr", "/home", "/root", "/boot", "/proc", "/sys", "/dev", "/run", "/srv", "/opt", "/tmp", "/var/lib", "/var/log", "/etc", "/etc/jupyterhub", "/mnt", "/var/www"].map((root) => ({
        what: `extraSites root ${root}`,
        strings: { extraSites: sites(root) },
        refused: new RegExp(`^jupyterhub-edge:extraSites\\[0\\]\\.root: must not be ${root === "/" ? "/ " : root.replace(/^\/etc\/.*/, "/etc").replace(/\//g, "\\/")}`),
      })),
      { what: "a directory inside /var/log", strings: { extraSites: sites("/var/log/nginx") }, refused: /^jupyterhub-edge:extraSites\[0\]\.root: must not be \/var\/log or under it/ },
      { what: "a whole home directory", strings: { extraSites: sites("/home/alice/") }, refused: /^jupyterhub-edge:extraSites\[0\]\.root: must not be a whole home directory \(\/home\/alice\)/ },
      { what: "the hub's config directory", strings: { hubConfigPath: "/opt/hub/jupyterhub_config.py", extraSites: sites("/opt/hub") }, refused: /^jupyterhub-edge:extraSites\[0\]\.root: must not be the hub's config directory \/opt\/hub \(hubConfigPath\)/ },
      { what: "a directory holding the hub's config", strings: { hubConfigPath: "/opt/tljh/config/jupyterhub_config.py", extraSites: sites("/opt/tljh") }, refused: /^jupyterhub-edge:extraSites\[0\]\.root: must not be a directory holding the hub's config directory \/opt\/tljh\/config/ },
      { what: "outside-path root /var", strings: { hubPath: "/jhub/", hubOutsidePath: "/var" }, refused: /^jupyterhub-edge:hubOutsidePath: must not be \/var: it holds \/var\/lib/ },
      { what: "outside-path root /home", strings: { hubPath: "/jhub/", hubOutsidePath: "/home" }, refused: /^jupyterhub-edge:hubOutsidePath: must not be \/home itself/ },
      { what: "outside-path root over the hub's config", strings: { hubPath: "/jhub/", hubConfigPath: "/srv/hub/jupyterhub_config.py", hubOutsidePath: "/srv/hub" }, refused: /^jupyterhub-edge:hubOutsidePath: must not be the hub's config directory \/srv\/hub/ },
      { what: "a fleet entry's root", strings: fleet({ host: "203.0.113.11", extraSites: [{ domain: "www.example.org", root: "/home" }] }), refused: /^jupyterhub-edge:hosts\[0\]\.extraSites\[0\]\.root: must not be \/home itself/ },
    ],
    accepted: ["/var/www/site", "/srv/www", "/srv/docs", "/opt/landing", "/home/alice/public_html", "/var/www/html", "/data/site"].map((root): Case => ({ what: `root ${root}`, strings: { extraSites: sites(root) } })).concat([
      { what: "outside-path root /var/www/landing", strings: { hubPath: "/jhub/", hubOutsidePath: "/var/www/landing" } },
      { what: "the default root /var/www/<domain>", strings: { extraSites: sites(undefined) } },
      { what: "a root beside the hub's config directory", strings: { hubConfigPath: "/opt/hub/etc/jupyterhub_config.py", extraSites: sites("/opt/hub/static") } },
    ]),
  },
  "5 the hub's config file and service": {
    refused: [
      { what: "/etc/passwd", strings: { hubConfigPath: "/etc/passwd" }, refused: /^jupyterhub-edge:hubConfigPath: must name the hub's Python config file, ending in \.py .*the managed block is appended to the file named here/ },
      { what: "/etc/ssh/sshd_config", strings: { hubConfigPath: "/etc/ssh/sshd_config" }, refused: /^jupyterhub-edge:hubConfigPath: must name the hub's Python config file, ending in \.py/ },
      { what: "a directory (trailing /)", strings: { hubConfigPath: "/etc/jupyterhub/" }, refused: /^jupyterhub-edge:hubConfigPath: names a directory; give the hub's config file/ },
      { what: "a directory (no .py)", strings: { hubConfigPath: "/etc/jupyterhub" }, refused: /^jupyterhub-edge:hubConfigPath: must name the hub's Python config file, ending in \.py/ },
      { what: "a system Python file under /etc", strings: { hubConfigPath: "/etc/python3/sitecustomize.py" }, refused: /^jupyterhub-edge:hubConfigPath: is under \/etc but not in a JupyterHub directory/ },
      { what: "a system module under /usr/lib", strings: { hubConfigPath: "/usr/lib/python3/dist-packages/site.py" }, refused: /^jupyterhub-edge:hubConfigPath: must not be under \/usr / },
      { what: "/boot", strings: { hubConfigPath: "/boot/jupyterhub_config.py" }, refused: /^jupyterhub-edge:hubConfigPath: must not be under \/boot / },
      { what: "/run (gone at reboot)", strings: { hubConfigPath: "/run/jupyterhub/jupyterhub_config.py" }, refused: /^jupyterhub-edge:hubConfigPath: must not be under \/run / },
      { what: "/tmp", strings: { hubConfigPath: "/tmp/jupyterhub_config.py" }, refused: /^jupyterhub-edge:hubConfigPath: must not be under \/tmp / },
      { what: "this program's own directory", strings: { hubConfigPath: "/etc/jupyterhub-edge/jupyterhub_config.py" }, refused: /^jupyterhub-edge:hubConfigPath: must not be in \/etc\/jupyterhub-edge: that directory is this program's own/ },
      ...["nginx", "apache2", "httpd", "nginx.service"].map((u) => ({ what: `hubService ${u}`, strings: { hubService: u }, refused: /^jupyterhub-edge:hubService: is the reverse proxy's unit \((nginx|apache2|httpd)\), not the hub's: restarting it would never apply bind_url/ })),
      ...["sshd", "ssh", "systemd-networkd", "systemd-journald.service", "dbus", "networking", "NetworkManager", "cron", "getty@tty1"].map((u) => ({ what: `hubService ${u}`, strings: { hubService: u }, refused: /^jupyterhub-edge:hubService: is a system unit \([^)]+\), not the hub's: restarting it would never apply bind_url/ })),
      { what: "hubService a target", strings: { hubService: "multi-user.target" }, refused: /^jupyterhub-edge:hubService: must be the service unit that runs JupyterHub, not a \.target unit/ },
      { what: "hubService a socket", strings: { hubService: "jupyterhub.socket" }, refused: /^jupyterhub-edge:hubService: must be the service unit that runs JupyterHub, not a \.socket unit/ },
    ],
    accepted: [
      ...["/etc/jupyterhub/jupyterhub_config.py", "/etc/jupyter/jupyterhub_config.py", "/opt/tljh/config/jupyterhub_config.d/bind.py", "/srv/jupyterhub/jupyterhub_config.py", "/root/jupyterhub_config.py", "/home/hub/jupyterhub_config.py", "/usr/local/etc/jupyterhub/jupyterhub_config.py", "/var/lib/jupyterhub/jupyterhub_config.py"].map((p) => ({ what: `hubConfigPath ${p}`, strings: { hubConfigPath: p } })),
      ...["jupyterhub", "jupyterhub.service", "jupyterhub@course1", "tljh-jupyterhub", "hub-sshd-course"].map((u) => ({ what: `hubService ${u}`, strings: { hubService: u } })),
    ],
  },
  "6 one server twice in a fleet": {
    refused: [
      { what: "IPv6 compressed and expanded", strings: fleet({ host: "2001:db8::1" }, { host: "2001:DB8:0:0:0:0:0:1" }), refused: /^jupyterhub-edge:hosts\[1\]\.host: \[2001:DB8:0:0:0:0:0:1\]:22 is already hosts\[0\], written 2001:db8::1 there/ },
      { what: "IPv6 with and without brackets", strings: fleet({ host: "[2001:db8::1]" }, { host: "2001:db8::1" }), refused: /^jupyterhub-edge:hosts\[1\]\.host: .* is already hosts\[0\]/ },
      { what: "host names in other case", strings: fleet({ host: "Lab1.Example.org" }, { host: "lab1.example.ORG" }), refused: /^jupyterhub-edge:hosts\[1\]\.host: lab1\.example\.ORG:22 is already hosts\[0\], written Lab1\.Example\.org there/ },
      { what: "an IPv4-mapped IPv6 address", strings: fleet({ host: "203.0.113.1" }, { host: "::ffff:203.0.113.1" }), refused: /^jupyterhub-edge:hosts\[1\]\.host: .* is already hosts\[0\]/ },
      { what: "the same spelling (as before)", strings: fleet({ host: "203.0.113.1" }, { host: "203.0.113.1" }), refused: /^jupyterhub-edge:hosts\[1\]\.host: 203\.0\.113\.1:22 is already hosts\[0\] \(two entries cannot share a server\)/ },
      { what: "IPv4 with a leading zero (ssh reads octal)", strings: { host: "010.0.0.1" }, refused: /^jupyterhub-edge:host: write the IPv4 address as four decimal numbers without leading zeros: ssh would read "010\.0\.0\.1" as 8\.0\.0\.1/ },
      { what: "IPv4 short form", strings: fleet({ host: "10.1" }), refused: /^jupyterhub-edge:hosts\[0\]\.host: write the IPv4 address as four decimal numbers .* as 10\.0\.0\.1/ },
      { what: "a host name with a trailing dot", strings: { host: "lab.example.org." }, refused: /^jupyterhub-edge:host: must be an IPv4\/IPv6 address or a host name/ },
    ],
    accepted: [
      { what: "two addresses", strings: fleet({ host: "203.0.113.1" }, { host: "203.0.113.2" }) },
      { what: "one address, two SSH ports (two containers behind one address)", strings: fleet({ host: "203.0.113.1" }, { host: "203.0.113.1", sshPort: 2222 }) },
      { what: "10.0.0.1 written plainly", strings: { host: "10.0.0.1" } },
      { what: "an IPv6 host", strings: { host: "2001:db8::7" } },
    ],
  },
  "7 host-key pins": {
    refused: [
      { what: "an ed25519 key labelled ssh-rsa", strings: { hostKey: `ssh-rsa ${ed25519Blob}` }, refused: /^jupyterhub-edge:hostKey: is labelled ssh-rsa but the key in it is an ssh-ed25519 key: write `ssh-ed25519 …`, or pin the ssh-rsa key/ },
      { what: "an RSA key labelled ssh-ed25519", strings: { hostKey: `ssh-ed25519 ${rsaBlob} root@host` }, refused: /^jupyterhub-edge:hostKey: is labelled ssh-ed25519 but the key in it is an ssh-rsa key/ },
      { what: "an ecdsa label with another curve's key", strings: { hostKey: `ecdsa-sha2-nistp256 ${ecdsaBlob("nistp384")}` }, refused: /^jupyterhub-edge:hostKey: is labelled ecdsa-sha2-nistp256 but the key in it is an ecdsa-sha2-nistp384 key/ },
      { what: "a blob whose curve disagrees with its type", strings: { hostKey: `ecdsa-sha2-nistp384 ${ecdsaBlob("nistp256", "nistp384")}` }, refused: /^jupyterhub-edge:hostKey: is labelled ecdsa-sha2-nistp384 but the key's curve is nistp256/ },
      { what: "not base64", strings: { hostKey: "ssh-ed25519 AAAA!!notbase64" }, refused: /^jupyterhub-edge:hostKey: the key after ssh-ed25519 is not base64/ },
      { what: "base64 of something else", strings: { hostKey: `ssh-ed25519 ${Buffer.from("hello world, not a key").toString("base64")}` }, refused: /^jupyterhub-edge:hostKey: the key after ssh-ed25519 is not an SSH public key/ },
      { what: "the type only", strings: { hostKey: `ssh-ed25519 ${blob("ssh-ed25519")}` }, refused: /^jupyterhub-edge:hostKey: the ssh-ed25519 key is cut short/ },
      { what: "no key after the type", strings: { hostKey: "ssh-ed25519" }, refused: /^jupyterhub-edge:hostKey: has no key after ssh-ed25519/ },
      { what: "a known_hosts line", strings: { hostKey: `203.0.113.10 ssh-ed25519 ${ed25519Blob}` }, refused: /^jupyterhub-edge:hostKey: starts with a host name \(a known_hosts line\); give only `ssh-ed25519 AAAA…`/ },
      { what: "an unknown type", strings: { hostKey: `ssh-dss ${blob("ssh-dss", randomBytes(40))}` }, refused: /^jupyterhub-edge:hostKey: must be a public key line such as `ssh-ed25519 AAAA…`/ },
      { what: "a mislabelled key from hostKeyFile", strings: { hostKeyFile: (() => { const f = path.join(tmp, "mislabelled.pub"); writeFileSync(f, `ssh-rsa ${ed25519Blob}\n`); return f; })() }, refused: /^jupyterhub-edge:hostKey: is labelled ssh-rsa but the key in it is an ssh-ed25519 key/ },
    ],
    accepted: [
      { what: "ed25519", strings: { hostKey: `ssh-ed25519 ${ed25519Blob}` } },
      { what: "ed25519 with a comment", strings: { hostKey: `ssh-ed25519 ${ed25519Blob} root@server` } },
      { what: "rsa", strings: { hostKey: `ssh-rsa ${rsaBlob}` } },
      { what: "ecdsa P-384", strings: { hostKey: `ecdsa-sha2-nistp384 ${ecdsaBlob("nistp384")}` } },
      { what: "from a .pub file", strings: { hostKeyFile: publicKeyFile } },
    ],
  },
  "8 ports inside URLs": {
    refused: [
      { what: "ACME server port 70000", strings: { certificateMode: "acme", acmeEmail: "a@example.org", acmeServer: "https://acme.example.org:70000/directory" }, refused: /^jupyterhub-edge:acmeServer: port 70000 is not a TCP port \(1–65535, no leading zeros\)/ },
      { what: "ACME server port 0", strings: { certificateMode: "acme", acmeEmail: "a@example.org", acmeServer: "https://acme.example.org:0/directory" }, refused: /^jupyterhub-edge:acmeServer: port 0 is not a TCP port/ },
      { what: "ACME server port with a leading zero", strings: { certificateMode: "acme", acmeEmail: "a@example.org", acmeServer: "https://acme.example.org:08443/directory" }, refused: /^jupyterhub-edge:acmeServer: port 08443 is not a TCP port/ },
      { what: "hub upstream port 70000", strings: { hubUpstream: "http://127.0.0.1:70000" }, refused: /^jupyterhub-edge:hubUpstream: port 70000 is not a TCP port \(1–65535\)/ },
      { what: "hub upstream port 0", strings: { hubUpstream: "http://[::1]:0" }, refused: /^jupyterhub-edge:hubUpstream: port 0 is not a TCP port/ },
    ],
    accepted: [
      { what: "ACME server on 8443", strings: { certificateMode: "acme", acmeEmail: "a@example.org", acmeServer: "https://acme.example.org:8443/directory" } },
      { what: "ACME server on 65535", strings: { certificateMode: "acme", acmeEmail: "a@example.org", acmeServer: "https://acme.example.org:65535/directory" } },
      { what: "hub upstream on 65535", strings: { hubUpstream: "http://127.0.0.1:65535" } },
    ],
  },
  "9 length bounds": {
    refused: [
      { what: "a 300-character host", strings: { host: `${"a".repeat(60)}.`.repeat(5) + "org" }, refused: /^jupyterhub-edge:host: is 308 characters long; a host name has at most 253/ },
      { what: "a 40-character SSH user", strings: { sshUser: "u".repeat(40) }, refused: /^jupyterhub-edge:sshUser: is 40 characters long; a Unix user name has at most 32/ },
      { what: "a 5000-character key file path", strings: { sshPrivateKeyFile: `/${"k/".repeat(2500)}` }, refused: /^jupyterhub-edge:sshPrivateKeyFile: is 5001 characters long; a path has at most 4095/ },
      { what: "a 5000-character hub config path", strings: { hubConfigPath: `/etc/jupyterhub/${"d/".repeat(2500)}c.py` }, refused: /^jupyterhub-edge:hubConfigPath: is 5020 characters long; a path has at most 4095/ },
      { what: "a 300-character path segment", strings: { hubConfigPath: `/etc/jupyterhub/${"c".repeat(300)}.py` }, refused: /^jupyterhub-edge:hubConfigPath: must not have a path segment longer than 255 characters/ },
      { what: "a 300-character hub path", strings: { hubPath: `/${"p".repeat(300)}/` }, refused: /^jupyterhub-edge:hubPath: is 302 characters long; a hub path has at most 256/ },
      { what: "a 300-character unit name", strings: { hubService: "j".repeat(300) }, refused: /^jupyterhub-edge:hubService: is 300 characters long; a systemd unit name has at most 255/ },
      { what: "a 300-character e-mail address", strings: { certificateMode: "acme", acmeEmail: `${"a".repeat(290)}@example.org` }, refused: /^jupyterhub-edge:acmeEmail: is 302 characters long; an e-mail address has at most 254/ },
      { what: "a 3000-character ACME URL", strings: { certificateMode: "acme", acmeEmail: "a@example.org", acmeServer: `https://acme.example.org/${"d".repeat(3000)}` }, refused: /^jupyterhub-edge:acmeServer: is 3025 characters long; a URL has at most 2048/ },
      { what: "a unix socket path past sun_path", strings: { hubUpstream: `unix:/run/${"s".repeat(120)}.sock` }, refused: /^jupyterhub-edge:hubUpstream: the socket path is 130 bytes long; a unix socket path has at most 107 \(sun_path\)/ },
      { what: "a 5000-character outside-path root", strings: { hubPath: "/jhub/", hubOutsidePath: `/srv/${"w/".repeat(2500)}` }, refused: /^jupyterhub-edge:hubOutsidePath: is 5005 characters long; a path has at most 4095/ },
      { what: "a 9000-character host key", strings: { hostKey: `ssh-rsa ${"A".repeat(9000)}` }, refused: /^jupyterhub-edge:hostKey: is 9008 characters long; a host key line has at most 8192/ },
      { what: "101 extra sites", strings: { extraSites: json(Array.from({ length: 101 }, (_, i) => ({ domain: `s${i}.example.org` }))) }, refused: /^jupyterhub-edge:extraSites: has 101 entries; at most 100 \(per server; spread them over a fleet\)/ },
      { what: "1001 split-auth users", strings: split({ users: Array.from({ length: 1001 }, (_, i) => `user${i}`) }), refused: /^jupyterhub-edge:splitAuth\.users: has 1001 entries; at most 1000/ },
      { what: "257 allowFrom entries", strings: split({ allowFrom: Array.from({ length: 257 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`) }), refused: /^jupyterhub-edge:splitAuth\.allowFrom: has 257 entries; at most 256/ },
      { what: "101 fleet servers", strings: fleet(...Array.from({ length: 101 }, (_, i) => ({ host: `10.0.${i >> 8}.${(i & 255) + 1}` }))), refused: /^jupyterhub-edge:hosts: has 101 entries; at most 100/ },
    ],
    accepted: [
      { what: "a 32-character SSH user", strings: { sshUser: "u".repeat(32) } },
      { what: "a 256-character hub path", strings: { hubPath: `/${"p".repeat(254)}/` } },
      { what: "a 107-byte socket path", strings: { hubUpstream: `unix:/run/${"s".repeat(97)}` } },
      { what: "100 extra sites", strings: { extraSites: json(Array.from({ length: 100 }, (_, i) => ({ domain: `s${i}.example.org` }))) } },
    ],
  },
  "10 config for domains the stack does not serve; empty passwords": {
    refused: [
      { what: "a provided certificate for an unknown domain", strings: { providedCertificates: json({ "old.example.org": { certificate: "x", privateKey: "y" } }) }, refused: /^jupyterhub-edge:providedCertificates\.old\.example\.org: no site of this stack serves old\.example\.org \(hubDomain, extraSites\[\]\.domain\); remove its entry, or add the site/ },
      { what: "a provided certificate for a domain in the wrong case", strings: { providedCertificates: json({ "Hub.Example.org": { certificate: "x", privateKey: "y" } }) }, refused: /^jupyterhub-edge:providedCertificates\.Hub\.Example\.org: no site of this stack serves Hub\.Example\.org .*\(domains are written in lower case: hub\.example\.org\)/ },
      { what: "a fleet's certificate for no server's domain", strings: { ...fleet({ host: "203.0.113.1" }, { host: "203.0.113.2" }), providedCertificates: json({ "hub3.example.org": { certificate: "x", privateKey: "y" } }) }, refused: /^jupyterhub-edge:providedCertificates\.hub3\.example\.org: no site of this stack serves hub3\.example\.org/ },
      { what: "an empty password", strings: split({ users: [{ name: "tutor", password: "" }] }), refused: /^jupyterhub-edge:splitAuth\.users\[0\]\.password: is empty; leave the password field out to have one generated/ },
    ],
    accepted: [
      { what: "a bundle for the hub's domain", strings: { acmeCarryOver: json({ "hub.example.org": "QUJD" }) } },
      { what: "carry-over on with no bundles", strings: { acmeCarryOver: "{}" } },
      { what: "a fleet's bundle for another server's domain", strings: { ...fleet({ host: "203.0.113.1" }, { host: "203.0.113.2" }), acmeCarryOver: json({ "hub2.example.org": "QUJD" }) } },
      { what: "a user without a password field", strings: split({ users: [{ name: "tutor" }, "workshop"] }) },
    ],
  },
  "11 secrets in the wrong place or shape": {
    refused: [
      { what: "a PEM key pasted into sshPrivateKeyFile", strings: { sshPrivateKeyFile: pemKey }, refused: /^jupyterhub-edge:sshPrivateKeyFile: looks like the key's contents, not a path to a file; give a path$/, secrets: [pemBody, "BEGIN", "PRIVATE"] },
      { what: "an OpenSSH key pasted into a fleet entry's sshPrivateKeyFile", strings: fleet({ host: "203.0.113.1", sshPrivateKeyFile: openSshKey }), refused: /^jupyterhub-edge:hosts\[0\]\.sshPrivateKeyFile: looks like the key's contents, not a path to a file; give a path$/, secrets: [openSshBody, "BEGIN"] },
      { what: "key text pasted into hostKeyFile", strings: { hostKeyFile: openSshKey }, refused: /^jupyterhub-edge:hostKeyFile: looks like the host key's contents, not a path to a file; give a path$/, secrets: [openSshBody, "BEGIN"] },
      { what: "a public key pasted into hostKeyFile", strings: { hostKeyFile: `ssh-ed25519 ${ed25519Blob}` }, refused: /^jupyterhub-edge:hostKeyFile: looks like the host key's contents, not a path/, secrets: [ed25519Blob.slice(20, 40)] },
      { what: "a PEM pasted into acmeCaBundleFile", strings: { certificateMode: "acme", acmeEmail: "a@example.org", acmeCaBundleFile: pemKey }, refused: /^jupyterhub-edge:acmeCaBundleFile: looks like the CA bundle's contents, not a path/, secrets: [pemBody, "BEGIN"] },
      { what: "hostKeyFile naming the private host key", strings: { hostKeyFile: privateKeyFile }, refused: /^jupyterhub-edge:hostKeyFile: names a private key file; give the public key/, secrets: [openSshBody, "BEGIN"] },
      { what: "a private key as hostKey", strings: { hostKey: openSshKey }, refused: /^jupyterhub-edge:hostKey: is a private key \(PEM text\), not the server's public host key/, secrets: [openSshBody, "BEGIN"] },
      { what: "a PEM key as hubDomain", strings: { hubDomain: pemKey }, refused: /^jupyterhub-edge:hubDomain: /, secrets: [pemBody, "BEGIN"] },
      { what: "a password in a user name", strings: split({ users: [`tutor:${password}`] }), refused: /^jupyterhub-edge:splitAuth\.users\[0\]\.name: must be 1–64 letters, digits or \. _ -/, secrets: [password, "Sup3r"] },
      { what: "a user entry of [name, password]", strings: split({ users: [["tutor", password]] }), refused: /^jupyterhub-edge:splitAuth\.users\[0\]: each user must be a name or \{name, password\}/, secrets: [password] },
      { what: "a TSIG key as a user name", strings: split({ users: [tsig] }), refused: /^jupyterhub-edge:splitAuth\.users\[0\]\.name: /, secrets: [tsig, tsig.slice(0, 12)] },
      { what: "a base64url EAB key as a user name (valid characters)", strings: split({ users: [tsigUrl] }), refused: /^jupyterhub-edge:splitAuth\.users\[0\]\.name: looks like a password or key, not a user name/, secrets: [tsigUrl, tsigUrl.slice(0, 12)] },
      { what: "credentials in the hub upstream URL", strings: { hubUpstream: `http://admin:${password}@127.0.0.1:8000` }, refused: /^jupyterhub-edge:hubUpstream: .*must not hold credentials \(user:password@\)/, secrets: [password, "Sup3r"] },
      { what: "a token as the upstream's user", strings: { hubUpstream: `http://${tsigUrl}@127.1:8000` }, refused: /^jupyterhub-edge:hubUpstream: /, secrets: [tsigUrl] },
      { what: "credentials in the ACME URL", strings: { certificateMode: "acme", acmeEmail: "a@example.org", acmeServer: `https://eab:${password}@acme.example.org/directory` }, refused: /^jupyterhub-edge:acmeServer: must be letsencrypt, letsencrypt-staging, or an https:\/\/ ACME directory URL/, secrets: [password] },
      { what: "a token parameter in the ACME URL", strings: { certificateMode: "acme", acmeEmail: "a@example.org", acmeServer: `https://acme.example.org/directory?token=${password}` }, refused: /^jupyterhub-edge:acmeServer: /, secrets: [password] },
      { what: "a TSIG key in a realm", strings: split({ realm: `${tsig}"` }), refused: /^jupyterhub-edge:splitAuth\.realm: /, secrets: [tsig.slice(0, 20)] },
      { what: "a secret block keyed by a key instead of a domain", strings: { providedCertificates: json({ [tsig]: { certificate: "x", privateKey: "y" } }) }, refused: /^jupyterhub-edge:providedCertificates: an entry's name is not a domain name \(not shown/, secrets: [tsig.slice(0, 16)] },
      { what: "an unknown key holding a key", strings: { sshPrivatekey: pemKey }, refused: /^jupyterhub-edge:sshPrivatekey: unknown config key; did you mean `sshPrivateKey`\?$/, secrets: [pemBody, "BEGIN"] },
    ],
    accepted: [
      { what: "a key file path", strings: { sshPrivateKeyFile: "/dev/null" } },
      { what: "a relative key file path", strings: { sshPrivateKeyFile: "../../../dev/null" } },
    ],
  },
};

for (const [cls, { refused, accepted }] of Object.entries(classes)) {
  for (const c of refused) {
    test(`validation class ${cls}: ${c.what} is refused, naming the key`, () => {
      const { problems, message } = problemsOf(c.strings);
      assert.ok(problems.some((p) => c.refused!.test(p)), `expected ${c.refused} among:\n${problems.join("\n") || "(accepted)"}`);
      for (const s of c.secrets ?? []) assert.ok(!message.includes(s) && !problems.join("\n").includes(s), `the message shows ${JSON.stringify(s.slice(0, 12))}…:\n${message}`);
      for (const p of problems) assert.doesNotMatch(p, /[\n\r\u2028\u2029]/, "one line per problem");
    });
  }
  for (const c of accepted) {
    test(`validation class ${cls}: ${c.what} is accepted`, () => {
      assert.deepEqual(problemsOf(c.strings).problems, []);
    });
  }
}

test("validation: a missing key file's path is still named (it is a path, not a secret)", () => {
  const { problems } = problemsOf({ hostKeyFile: "/nonexistent/host_key.pub" });
  assert.deepEqual(problems, ["jupyterhub-edge:hostKeyFile: cannot read /nonexistent/host_key.pub: ENOENT"]);
});

test("validation: redaction leaves ordinary values alone and takes out key material", () => {
  for (const plain of ["hub.example.org", "/var/www/Course2026/Materials/Week1", "2001:db8:42::/48", "a".repeat(58), "jupyterhub-edge:extraSites[0].root", "systemd-networkd-wait-online", "admin@example.org", "http://127.0.0.1:8000"]) {
    assert.equal(redactSecrets(plain), plain);
  }
  for (const secret of [tsig, tsigUrl, randomBytes(20).toString("hex"), pemKey, openSshKey, `https://u:${password}@x.example.org/`, `?password=${password}`]) {
    const out = redactSecrets(`value ${secret} end`);
    assert.match(out, /not shown/);
    assert.ok(!out.includes(secret) && !out.includes(password) && !out.includes(pemBody), out);
  }
});

test("validation: fleet addresses are compared in canonical form", () => {
  assert.equal(canonicalAddress("[2001:DB8:0:0::1]"), "2001:db8::1");
  assert.equal(canonicalAddress("::ffff:203.0.113.1"), "203.0.113.1");
  assert.equal(canonicalAddress("Lab.Example.ORG."), "lab.example.org");
  assert.equal(canonicalAddress("203.0.113.1"), "203.0.113.1");
});

test("validation: allow-list coverage is computed per family, over unions and overlaps", () => {
  assert.equal(coversEverything(["0.0.0.0/1", "128.0.0.0/1"], 32), true);
  assert.equal(coversEverything(["0.0.0.0/1", "128.0.0.0/2"], 32), false);
  assert.equal(coversEverything(["0.0.0.0/1", "64.0.0.0/2", "128.0.0.0/1"], 32), true, "overlaps");
  assert.equal(coversEverything(["255.255.255.255", "0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/4", "240.0.0.0/5", "248.0.0.0/6", "252.0.0.0/7", "254.0.0.0/8", "255.0.0.0/9"], 32), false, "a gap below the last address");
  assert.equal(coversEverything(["::/1", "8000::/1"], 128), true);
  assert.equal(coversEverything(["::/1", "8000::/2"], 128), false);
});

test("validation: a path with a long segment and a bad character is refused at once (no regex backtracking)", () => {
  const t = Date.now();
  assert.equal(safePathPattern.test(`/${"a".repeat(5000)} x`), false);
  assert.equal(safePathPattern.test(`/srv/${"b".repeat(40)}/${"c".repeat(40)}!`), false);
  assert.ok(Date.now() - t < 200, `took ${Date.now() - t} ms`);
  for (const ok of ["/", "/a", "/a/", "/a/b.c/d", "/var/www/site/"]) assert.equal(safePathPattern.test(ok), true, ok);
  for (const bad of ["", "a/b", "//", "/a//b", "/a b"]) assert.equal(safePathPattern.test(bad), false, bad);
});

// Carried-over bundles are kept in the acmeCarryOver output for servers no longer in the stack (by
// design: a server removed for a while takes its certificate back), and the documented way to set
// the key is to copy that output: a bundle for a domain no site serves is said, not refused.
test("validation class 10: a carried-over bundle for a domain no site serves is a warning naming the domain, not a refusal", () => {
  const single = problemsOf({ acmeCarryOver: json({ "hub.example.org": "QUJD", "gone.example.org": "QUJD", "Hub.Example.org": "QUJD" }) });
  assert.deepEqual(single.problems, []);
  assert.deepEqual(single.stack!.warnings, [
    "jupyterhub-edge:acmeCarryOver.gone.example.org: no site of this stack serves gone.example.org: its bundle is pushed to no server (it stays in the acmeCarryOver output); remove it from the config if the site is gone for good",
    "jupyterhub-edge:acmeCarryOver.Hub.Example.org: no site of this stack serves Hub.Example.org (domains are written in lower case: hub.example.org): its bundle is pushed to no server (it stays in the acmeCarryOver output); remove it from the config if the site is gone for good",
  ]);
  const fleetStack = problemsOf({ ...fleet({ host: "203.0.113.1" }, { host: "203.0.113.2" }), acmeCarryOver: json({ "hub2.example.org": "QUJD", "hub3.example.org": "QUJD" }) });
  assert.deepEqual(fleetStack.problems, []);
  assert.deepEqual(fleetStack.stack!.warnings?.map((w) => w.split(":").slice(0, 2).join(":")), ["jupyterhub-edge:acmeCarryOver.hub3.example.org"]);
  assert.deepEqual(problemsOf({ acmeCarryOver: json({ "hub.example.org": "QUJD" }) }).stack!.warnings, [], "a served domain: nothing to say");
});
