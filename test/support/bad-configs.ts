/**
 * Bad stack configs as a new user would write them (`pulumi config set` strings), one per defect
 * class of issue 10, each with the message it must get. The render tier checks the message; the
 * wiring tier runs each through the real program entry and checks that no resource — so no remote
 * command — was registered.
 */
import { makeCertFixtures } from "./cert-fixtures";

export interface BadConfig {
  /** What is wrong, in a few words. */
  what: string;
  /** Config strings on top of `goodStrings` (a value "" removes the key; a key with ':' is a full key). */
  strings: () => Record<string, string>;
  /** The line the problem must produce (one of the problems). */
  expected: RegExp;
  /** Only the program sees it (a key outside the project's namespace): checked in the wiring tier. */
  programOnly?: true;
}

export const goodStrings: Record<string, string> = { host: "203.0.113.10", sshPrivateKeyFile: "/dev/null", hubDomain: "hub.example.org" };

const s = (strings: Record<string, string>) => () => strings;
/** A TSIG secret of the right shape (32 bytes, base64) and a DNS server for dns-01 cases. */
const TSIG = Buffer.alloc(32, 7).toString("base64");
const DNS = JSON.stringify({ server: "192.0.2.53", tsigKeyName: "acme-update" });
const DNS01 = { certificateMode: "acme", acmeEmail: "a@example.org", acmeChallenge: "dns-01", acmeDns: DNS, acmeDnsTsigSecret: TSIG };
const ns = "jupyterhub-edge";

export const badConfigs: BadConfig[] = [
  // ---- the hub left public
  { what: "wildcard upstream 0.0.0.0", strings: s({ hubUpstream: "http://0.0.0.0:8000" }), expected: /^jupyterhub-edge:hubUpstream: must not listen on every interface/ },
  { what: "wildcard upstream [::]", strings: s({ hubUpstream: "http://[::]:8000" }), expected: /^jupyterhub-edge:hubUpstream: must not listen on every interface/ },
  { what: "wildcard upstream [::0]", strings: s({ hubUpstream: "http://[::0]:8000" }), expected: /^jupyterhub-edge:hubUpstream: must not listen on every interface: .*\(got "http:\/\/\[::0\]:8000"\)/ },
  { what: "wildcard upstream [0:0:0:0:0:0:0:0]", strings: s({ hubUpstream: "http://[0:0:0:0:0:0:0:0]:8000" }), expected: /^jupyterhub-edge:hubUpstream: must not listen on every interface/ },
  { what: "wildcard upstream 0 (inet_aton short form)", strings: s({ hubUpstream: "http://0:8000" }), expected: /^jupyterhub-edge:hubUpstream: must not listen on every interface/ },
  { what: "wildcard upstream 0.0 / 0x0 / 000.000.000.000", strings: s({ hubUpstream: "http://000.000.000.000:8000" }), expected: /^jupyterhub-edge:hubUpstream: must not listen on every interface/ },
  { what: "wildcard upstream ::ffff:0.0.0.0", strings: s({ hubUpstream: "http://[::ffff:0.0.0.0]:8000" }), expected: /^jupyterhub-edge:hubUpstream: must not listen on every interface/ },
  { what: "IPv4 in a non-canonical form (127.1)", strings: s({ hubUpstream: "http://127.1:8000" }), expected: /^jupyterhub-edge:hubUpstream: write the IPv4 address as four decimal numbers \(127\.0\.0\.1\)/ },
  // ---- sub-paths that cannot work
  { what: "hubPath with ..", strings: s({ hubPath: "/a/../jhub/" }), expected: /^jupyterhub-edge:hubPath: must not contain '\.' or '\.\.' segments/ },
  { what: "hubPath with .", strings: s({ hubPath: "/./jhub/" }), expected: /^jupyterhub-edge:hubPath: must not contain '\.' or '\.\.' segments/ },
  { what: "hubPath with an empty segment", strings: s({ hubPath: "/jhub//" }), expected: /^jupyterhub-edge:hubPath: must not contain an empty segment \('\/\/'\)/ },
  { what: "hubPath ending in /hub/", strings: s({ hubPath: "/hub/" }), expected: /^jupyterhub-edge:hubPath: must not end in \/hub\/: JupyterHub serves its own pages under <hubPath>hub\/, so the hub would be at \/hub\/hub\// },
  { what: "hubPath ending in /user/", strings: s({ hubPath: "/courses/user/" }), expected: /^jupyterhub-edge:hubPath: must not end in \/user\/: JupyterHub serves single-user servers under/ },
  { what: "hubPath ending in /services/", strings: s({ hubPath: "/services/" }), expected: /^jupyterhub-edge:hubPath: must not end in \/services\/: JupyterHub serves its services under/ },
  // ---- values that become options / file paths
  { what: "hubService with a leading dash", strings: s({ hubService: "-jupyterhub" }), expected: /^jupyterhub-edge:hubService: must not start with '-' \(systemctl would read it as an option\)/ },
  { what: "acmeEmail with a leading dash", strings: s({ certificateMode: "acme", acmeEmail: "-admin@example.org" }), expected: /^jupyterhub-edge:acmeEmail: must not start with '-' \(certbot would read it as an option\)/ },
  { what: "host with a leading dash", strings: s({ host: "-oProxyCommand" }), expected: /^jupyterhub-edge:host: must not start with '-' \(ssh would read it as an option\)/ },
  { what: "extra site web root /etc (would publish system files)", strings: s({ extraSites: JSON.stringify([{ domain: "www.example.org", root: "/etc" }]) }), expected: /^jupyterhub-edge:extraSites\[0\]\.root: must not be \/etc or under it/ },
  { what: "extra site web root over our private keys", strings: s({ extraSites: JSON.stringify([{ domain: "www.example.org", root: "/etc/jupyterhub-edge/tls" }]) }), expected: /^jupyterhub-edge:extraSites\[0\]\.root: must not be \/etc or under it/ },
  { what: "outside-path web root /", strings: s({ hubPath: "/jhub/", hubOutsidePath: "/" }), expected: /^jupyterhub-edge:hubOutsidePath: must not be \/ / },
  // ---- upstreams the host would refuse
  { what: "unix socket path with ..", strings: s({ hubUpstream: "unix:/run/../etc/hub.sock" }), expected: /^jupyterhub-edge:hubUpstream: the socket path must not contain '\.\.' segments/ },
  { what: "unix socket path that is a directory", strings: s({ hubUpstream: "unix:/run/jupyterhub/" }), expected: /^jupyterhub-edge:hubUpstream: the socket path must name a file, not a directory/ },
  { what: "upstream host ..", strings: s({ hubUpstream: "http://..:8000" }), expected: /^jupyterhub-edge:hubUpstream: "\.\." is not a host name/ },
  { what: "upstream host with a leading dash", strings: s({ hubUpstream: "http://-hub:8000" }), expected: /^jupyterhub-edge:hubUpstream: "-hub" is not a host name: a label must not start or end with '-'/ },
  { what: "upstream port 0", strings: s({ hubUpstream: "http://127.0.0.1:0" }), expected: /^jupyterhub-edge:hubUpstream: port 0 is not a TCP port \(1–65535\)/ },
  { what: "upstream port too big", strings: s({ hubUpstream: "http://127.0.0.1:80000" }), expected: /^jupyterhub-edge:hubUpstream: port 80000 is not a TCP port \(1–65535\)/ },
  { what: "upstream https", strings: s({ hubUpstream: "https://127.0.0.1:8000" }), expected: /^jupyterhub-edge:hubUpstream: must be http:\/\/ADDRESS:PORT .*: the proxy speaks plain HTTP to the hub/ },
  // ---- messages
  { what: "negative port", strings: s({ httpsPort: "-443" }), expected: /^jupyterhub-edge:httpsPort: must be 1–65535 \(got -443\)$/ },
  { what: "fractional port", strings: s({ httpsPort: "443.5" }), expected: /^jupyterhub-edge:httpsPort: must be a whole number 1–65535 \(got "443\.5"\)$/ },
  { what: "negative HSTS max-age", strings: s({ hstsMaxAge: "-1" }), expected: /^jupyterhub-edge:hstsMaxAge: must not be negative: 0 turns HSTS off, 15552000 or more for an SSL Labs A\+ \(got -1\)$/ },
  { what: "HSTS max-age beyond 2^31-1", strings: s({ hstsMaxAge: "99999999999" }), expected: /^jupyterhub-edge:hstsMaxAge: must be at most 2147483647 seconds \(got 99999999999\)$/ },
  { what: "huge upload limit", strings: s({ maxUploadMb: "2000000" }), expected: /^jupyterhub-edge:maxUploadMb: must be at most 1048576 MiB \(1 TiB\) \(got 2000000\)$/ },
  { what: "negative upload limit", strings: s({ maxUploadMb: "-5" }), expected: /^jupyterhub-edge:maxUploadMb: must be at least 1 MiB \(got -5\)$/ },
  { what: "websocket timeout beyond a week", strings: s({ websocketIdleTimeout: "9999999" }), expected: /^jupyterhub-edge:websocketIdleTimeout: must be at most 604800 seconds \(7 days\) \(got 9999999\)$/ },
  { what: "ssh port 0", strings: s({ sshPort: "0" }), expected: /^jupyterhub-edge:sshPort: must be 1–65535 \(got 0\)$/ },
  { what: "boolean spelled yes", strings: s({ ipv6: "yes" }), expected: /^jupyterhub-edge:ipv6: must be true or false \(got "yes"\)$/ },
  { what: "too-long label", strings: s({ hubDomain: `${"a".repeat(64)}.example.org` }), expected: /^jupyterhub-edge:hubDomain: the label "a{64}" is 64 characters long; a DNS label has at most 63 \(got "a{58}…"\)$/ },
  { what: "too-long domain", strings: s({ hubDomain: `${Array(5).fill("a".repeat(60)).join(".")}.org` }), expected: /^jupyterhub-edge:hubDomain: is 308 characters long; a DNS name has at most 253 \(got "a{58}…"\)$/ },
  { what: "wildcard domain", strings: s({ hubDomain: "*.example.org" }), expected: /^jupyterhub-edge:hubDomain: must be one DNS name, not a wildcard: for user servers at <user>\.<hubDomain>, set hubSubdomains true \(got "\*\.example\.org"\)$/ },
  { what: "wildcard extra site by HTTP-01", strings: s({ certificateMode: "acme", acmeEmail: "a@example.org", extraSites: JSON.stringify([{ domain: "*.example.org" }]) }), expected: /^jupyterhub-edge:extraSites\[0\]\.domain: \*\.example\.org is a wildcard, which ACME validates only through DNS-01: set acmeChallenge dns-01 for it/ },
  { what: "wildcard without its dot", strings: s({ extraSites: JSON.stringify([{ domain: "*example.org" }]) }), expected: /^jupyterhub-edge:extraSites\[0\]\.domain: a wildcard is written \*\.<domain>, e\.g\. \*\.example\.org/ },
  { what: "wildcard over a top-level domain", strings: s({ extraSites: JSON.stringify([{ domain: "*.org" }]) }), expected: /^jupyterhub-edge:extraSites\[0\]\.domain: after '\*\.': must be a DNS name such as hub\.example\.org \(at least two labels\)/ },
  { what: "two wildcards", strings: s({ extraSites: JSON.stringify([{ domain: "*.*.example.org" }]) }), expected: /^jupyterhub-edge:extraSites\[0\]\.domain: a wildcard has one '\*', as its first label only/ },
  { what: "IP address as domain", strings: s({ hubDomain: "203.0.113.10" }), expected: /^jupyterhub-edge:hubDomain: must be a DNS name, not an IP address/ },
  { what: "domain with a trailing dot", strings: s({ hubDomain: "hub.example.org." }), expected: /^jupyterhub-edge:hubDomain: must not end with '\.' \(write hub\.example\.org\)/ },
  { what: "domain with an underscore", strings: s({ hubDomain: "my_hub.example.org" }), expected: /^jupyterhub-edge:hubDomain: must be a DNS name such as hub\.example\.org .*: '_' is not allowed \(got "my_hub\.example\.org"\)$/ },
  { what: "non-ASCII domain", strings: s({ hubDomain: "hüb.example.org" }), expected: /^jupyterhub-edge:hubDomain: write the name in its ASCII \(punycode\) form: xn--hb-xka\.example\.org/ },
  { what: "label starting with -", strings: s({ hubDomain: "-hub.example.org" }), expected: /^jupyterhub-edge:hubDomain: the label "-hub" must not start or end with '-'/ },
  { what: "unknown top-level key (typo)", strings: s({ hubDomian: "hub.example.org" }), expected: /^jupyterhub-edge:hubDomian: unknown config key; did you mean `hubDomain`\?$/ },
  { what: "unknown top-level key (case)", strings: s({ httpsport: "8443" }), expected: /^jupyterhub-edge:httpsport: unknown config key; did you mean `httpsPort`\?$/ },
  { what: "unknown top-level key (no close match)", strings: s({ frobnicate: "1" }), expected: /^jupyterhub-edge:frobnicate: unknown config key \(the keys are listed in Pulumi\.yaml and README\.md\)$/ },
  {
    what: "key in a misspelt namespace",
    strings: s({ "jupyterhub-egde:hubDomian": "hub.example.org" }),
    expected: /^jupyterhub-egde:hubDomian: the namespace "jupyterhub-egde" is not this project's, so the value is never read; did you mean `jupyterhub-edge:hubDomain`\?$/,
    programOnly: true,
  },
  { what: "unknown field in an extraSites entry", strings: s({ extraSites: JSON.stringify([{ domain: "www.example.org", rot: "/srv/www" }]) }), expected: /^jupyterhub-edge:extraSites\[0\]: unknown field\(s\) rot; did you mean `root`\?$/ },
  { what: "unknown field in an extraSites entry (certificate)", strings: s({ extraSites: JSON.stringify([{ domain: "www.example.org", certificate: "acme" }]) }), expected: /^jupyterhub-edge:extraSites\[0\]: unknown field\(s\) certificate; did you mean `certificateMode`\?$/ },
  // ---- issue 19: validation classes that used to pass (all of them: test/render/validation-classes.test.ts)
  { what: "allow-list that together admits everyone", strings: s({ splitAuth: JSON.stringify({ users: ["workshop"], allowFrom: ["0.0.0.0/1", "128.0.0.0/1"] }) }), expected: /^jupyterhub-edge:splitAuth\.allowFrom: together 0\.0\.0\.0\/1, 128\.0\.0\.0\/1 admit every IPv4 address/ },
  { what: "hub upstream on the server's public address", strings: s({ hubUpstream: "http://203.0.113.10:8000" }), expected: /^jupyterhub-edge:hubUpstream: 203\.0\.113\.10 is the server's own address \(host\)/ },
  { what: "hub upstream on the hub domain", strings: s({ hubUpstream: "http://hub.example.org:8000" }), expected: /^jupyterhub-edge:hubUpstream: hub\.example\.org is a domain this server serves publicly \(hubDomain\)/ },
  { what: "hub on port 80", strings: s({ hubUpstream: "http://127.0.0.1:80" }), expected: /^jupyterhub-edge:hubUpstream: port 80 is the proxy's/ },
  { what: "HTTPS on SSH's port", strings: s({ httpsPort: "22" }), expected: /^jupyterhub-edge:httpsPort: must not be 22, SSH's port \(sshPort\)/ },
  { what: "extra site web root /var", strings: s({ extraSites: JSON.stringify([{ domain: "www.example.org", root: "/var" }]) }), expected: /^jupyterhub-edge:extraSites\[0\]\.root: must not be \/var: it holds \/var\/lib/ },
  { what: "outside-path web root /home", strings: s({ hubPath: "/jhub/", hubOutsidePath: "/home" }), expected: /^jupyterhub-edge:hubOutsidePath: must not be \/home itself/ },
  { what: "hub config path /etc/passwd", strings: s({ hubConfigPath: "/etc/passwd" }), expected: /^jupyterhub-edge:hubConfigPath: must name the hub's Python config file, ending in \.py/ },
  { what: "hub service naming the proxy", strings: s({ hubService: "nginx" }), expected: /^jupyterhub-edge:hubService: is the reverse proxy's unit \(nginx\)/ },
  { what: "hub service naming sshd", strings: s({ hubService: "sshd" }), expected: /^jupyterhub-edge:hubService: is a system unit \(sshd\)/ },
  { what: "host IPv4 with a leading zero", strings: s({ host: "010.0.0.1" }), expected: /^jupyterhub-edge:host: write the IPv4 address as four decimal numbers without leading zeros: ssh would read "010\.0\.0\.1" as 8\.0\.0\.1/ },
  {
    what: "host key labelled ssh-rsa holding an ed25519 key",
    strings: s({ hostKey: `ssh-rsa ${Buffer.concat([Buffer.from("0000000b", "hex"), Buffer.from("ssh-ed25519"), Buffer.from("00000020", "hex"), Buffer.alloc(32, 7)]).toString("base64")}` }),
    expected: /^jupyterhub-edge:hostKey: is labelled ssh-rsa but the key in it is an ssh-ed25519 key/,
  },
  { what: "ACME server port out of range", strings: s({ certificateMode: "acme", acmeEmail: "a@example.org", acmeServer: "https://acme.example.org:70000/directory" }), expected: /^jupyterhub-edge:acmeServer: port 70000 is not a TCP port/ },
  { what: "SSH user without a length bound", strings: s({ sshUser: "u".repeat(40) }), expected: /^jupyterhub-edge:sshUser: is 40 characters long; a Unix user name has at most 32/ },
  { what: "provided certificate for a domain no site serves", strings: s({ providedCertificates: JSON.stringify({ "old.example.org": { certificate: "x", privateKey: "y" } }) }), expected: /^jupyterhub-edge:providedCertificates\.old\.example\.org: no site of this stack serves old\.example\.org/ },
  { what: "empty split-auth password", strings: s({ splitAuth: JSON.stringify({ users: [{ name: "tutor", password: "" }] }) }), expected: /^jupyterhub-edge:splitAuth\.users\[0\]\.password: is empty; leave the password field out to have one generated/ },
  {
    what: "PEM key pasted into sshPrivateKeyFile",
    strings: s({ sshPrivateKeyFile: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n" }),
    expected: /^jupyterhub-edge:sshPrivateKeyFile: looks like the key's contents, not a path to a file; give a path$/,
  },
  // ---- brute-force protection (issue 21)
  { what: "ban retries of 1", strings: s({ banRetries: "1" }), expected: /^jupyterhub-edge:banRetries: must be at least 3 \(one mistyped password must never ban anyone\), or 0 to derive it from expectedParticipants \(got 1\)$/ },
  { what: "negative ban retries", strings: s({ banRetries: "-5" }), expected: /^jupyterhub-edge:banRetries: must not be negative: 0 derives it from expectedParticipants \(got -5\)$/ },
  { what: "ban time as words", strings: s({ banTime: "10m" }), expected: /^jupyterhub-edge:banTime: must be a whole number of seconds \(got "10m"\)$/ },
  { what: "ban time too short", strings: s({ banTime: "5" }), expected: /^jupyterhub-edge:banTime: must be at least 10 seconds \(got 5\)$/ },
  { what: "find time longer than a day", strings: s({ banFindTime: "100000" }), expected: /^jupyterhub-edge:banFindTime: must be at most 86400 seconds \(a day\) \(got 100000\)$/ },
  { what: "trusted source that is not an address", strings: s({ trustedSources: JSON.stringify(["venue.example.org"]) }), expected: /^jupyterhub-edge:trustedSources\[0\]: must be an IPv4 or IPv6 address or CIDR/ },
  { what: "trusted source /0", strings: s({ trustedSources: JSON.stringify(["0.0.0.0/0"]) }), expected: /^jupyterhub-edge:trustedSources\[0\]: 0\.0\.0\.0\/0 admits every address: set bruteForceProtection false instead/ },
  { what: "trusted sources that together trust everyone", strings: s({ trustedSources: JSON.stringify(["::/1", "8000::/1"]) }), expected: /^jupyterhub-edge:trustedSources: together ::\/1, 8000::\/1 trust every IPv6 address, so no one would ever be banned/ },
  { what: "trusted source with host bits", strings: s({ trustedSources: JSON.stringify(["192.0.2.7/24"]) }), expected: /^jupyterhub-edge:trustedSources\[0\]: 192\.0\.2\.7\/24 has host bits set \(did you mean 192\.0\.2\.0\/24\?\)/ },
  { what: "ban settings with the protection off", strings: s({ bruteForceProtection: "false", banTime: "3600" }), expected: /^jupyterhub-edge:banTime: has no effect with bruteForceProtection false: remove it, or turn the protection on/ },
  { what: "protection as yes", strings: s({ bruteForceProtection: "yes" }), expected: /^jupyterhub-edge:bruteForceProtection: must be true or false \(got "yes"\)$/ },
  // ---- certificates that are not certificates (PEMs made with openssl at test time)
  ...makeCertCases(),
  // ---- DNS-01, wildcards, per-user subdomains, External Account Binding (issue 20)
  { what: "dns-01 without a DNS server", strings: s({ certificateMode: "acme", acmeEmail: "a@example.org", acmeChallenge: "dns-01", acmeDnsTsigSecret: TSIG }), expected: /^jupyterhub-edge:acmeDns: is required: hubDomain uses the dns-01 challenge; give \{server, tsigKeyName\}/ },
  { what: "dns-01 without the TSIG secret", strings: s({ certificateMode: "acme", acmeEmail: "a@example.org", acmeChallenge: "dns-01", acmeDns: DNS }), expected: /^jupyterhub-edge:acmeDnsTsigSecret: is required: hubDomain uses the dns-01 challenge; set the TSIG key's secret with `pulumi config set --secret`$/ },
  { what: "challenge misspelt", strings: s({ certificateMode: "acme", acmeEmail: "a@example.org", acmeChallenge: "dns01" }), expected: /^jupyterhub-edge:acmeChallenge: must be http-01 or dns-01 \(got "dns01"\)$/ },
  { what: "DNS server given by name", strings: s({ ...DNS01, acmeDns: JSON.stringify({ server: "ns1.example.org", tsigKeyName: "acme" }) }), expected: /^jupyterhub-edge:acmeDns\.server: must be the primary DNS server's IP address: certbot's dns-rfc2136 plugin does not resolve names \(got "ns1\.example\.org"\)$/ },
  { what: "TSIG with HMAC-MD5", strings: s({ ...DNS01, acmeDns: JSON.stringify({ server: "192.0.2.53", tsigKeyName: "acme", tsigAlgorithm: "hmac-md5" }) }), expected: /^jupyterhub-edge:acmeDns\.tsigAlgorithm: hmac-md5 is too weak for signing DNS updates; use hmac-sha256/ },
  { what: "acmeDns field misspelt", strings: s({ ...DNS01, acmeDns: JSON.stringify({ server: "192.0.2.53", keyName: "acme" }) }), expected: /^jupyterhub-edge:acmeDns: unknown field\(s\) keyName; known fields: server, port, tsigKeyName, tsigAlgorithm, propagationSeconds$/ },
  { what: "acmeDns port out of range", strings: s({ ...DNS01, acmeDns: JSON.stringify({ server: "192.0.2.53", tsigKeyName: "acme", port: 0 }) }), expected: /^jupyterhub-edge:acmeDns\.port: must be 1–65535 \(got 0\)$/ },
  { what: "TSIG secret not base64 (not echoed)", strings: s({ ...DNS01, acmeDnsTsigSecret: "secret value with spaces!" }), expected: /^jupyterhub-edge:acmeDnsTsigSecret: must be the key's secret in base64, as tsig-keygen or keymgr print it .*; the value is not shown$/ },
  { what: "TSIG secret too short", strings: s({ ...DNS01, acmeDnsTsigSecret: "c2hvcnQ=" }), expected: /^jupyterhub-edge:acmeDnsTsigSecret: is a 5-byte key; a TSIG key has at least 16 bytes/ },
  { what: "per-user subdomains by HTTP-01", strings: s({ certificateMode: "acme", acmeEmail: "a@example.org", hubSubdomains: "true" }), expected: /^jupyterhub-edge:hubSubdomains: needs a certificate for \*\.hub\.example\.org, and ACME gives wildcards only through DNS-01: set acmeChallenge dns-01/ },
  { what: "extra site under the users' subdomains", strings: s({ hubSubdomains: "true", extraSites: JSON.stringify([{ domain: "www.hub.example.org" }]) }), expected: /^jupyterhub-edge:extraSites\[0\]\.domain: www\.hub\.example\.org is under hubDomain, whose subdomains are the users' servers with hubSubdomains on/ },
  { what: "challenge on a self-signed extra site", strings: s({ extraSites: JSON.stringify([{ domain: "www.example.org", acmeChallenge: "dns-01" }]) }), expected: /^jupyterhub-edge:extraSites\[0\]\.acmeChallenge: only applies to certificateMode acme; this site's certificate is selfSigned/ },
  { what: "EAB key id without its HMAC key", strings: s({ certificateMode: "acme", acmeEmail: "a@example.org", acmeEabKeyId: "kid-1" }), expected: /^jupyterhub-edge:acmeEabHmacKey: is required with acmeEabKeyId/ },
  { what: "EAB HMAC key without its key id", strings: s({ certificateMode: "acme", acmeEmail: "a@example.org", acmeEabHmacKey: "c2VjcmV0LWhtYWMta2V5" }), expected: /^jupyterhub-edge:acmeEabKeyId: is required with acmeEabHmacKey/ },
  { what: "EAB HMAC key in plain base64 (not echoed)", strings: s({ certificateMode: "acme", acmeEmail: "a@example.org", acmeEabKeyId: "kid-1", acmeEabHmacKey: "ab+cd/ef" }), expected: /^jupyterhub-edge:acmeEabHmacKey: is base64 with '\+' or '\/'; an EAB HMAC key is base64url \(RFC 8555\)/ },
  // ---- a hub on the public internet (issue 21): metrics scrapers, embedding origins, cookie isolation
  { what: "metrics scraper given by name", strings: s({ metricsAllowFrom: JSON.stringify(["prometheus.example.org"]) }), expected: /^jupyterhub-edge:metricsAllowFrom\[0\]: must be an IPv4 or IPv6 address or CIDR such as 192\.0\.2\.0\/24 or 2001:db8::\/48 \(got "prometheus\.example\.org"\)$/ },
  { what: "metrics open to every address (/0)", strings: s({ metricsAllowFrom: JSON.stringify(["0.0.0.0/0"]) }), expected: /^jupyterhub-edge:metricsAllowFrom\[0\]: 0\.0\.0\.0\/0 admits every address: the metrics would be public; list the scrapers' addresses/ },
  { what: "metrics scrapers that together are everyone", strings: s({ metricsAllowFrom: JSON.stringify(["::/1", "8000::/1"]) }), expected: /^jupyterhub-edge:metricsAllowFrom: together ::\/1, 8000::\/1 admit every IPv6 address, so the metrics would be public; list only the scrapers' networks/ },
  { what: "metrics scraper CIDR with host bits", strings: s({ metricsAllowFrom: JSON.stringify(["192.0.2.10/24"]) }), expected: /^jupyterhub-edge:metricsAllowFrom\[0\]: 192\.0\.2\.10\/24 has host bits set \(did you mean 192\.0\.2\.0\/24\?\)$/ },
  { what: "metrics scrapers as plain text, not a list", strings: s({ metricsAllowFrom: "192.0.2.10" }), expected: /^jupyterhub-edge:metricsAllowFrom: is not a valid list \(set it with `pulumi config set --path 'metricsAllowFrom\[0\]' VALUE` or as JSON\)$/ },
  { what: "metrics key misspelt", strings: s({ metricsAllowfrom: JSON.stringify(["192.0.2.10"]) }), expected: /^jupyterhub-edge:metricsAllowfrom: unknown config key; did you mean `metricsAllowFrom`\?$/ },
  { what: "embedding origin over http", strings: s({ embedAllowFrom: JSON.stringify(["http://lms.example.edu"]) }), expected: /^jupyterhub-edge:embedAllowFrom\[0\]: must be an https origin: .*\(got "http:\/\/lms\.example\.edu"\)$/ },
  { what: "embedding origin with a path", strings: s({ embedAllowFrom: JSON.stringify(["https://lms.example.edu/course/42"]) }), expected: /^jupyterhub-edge:embedAllowFrom\[0\]: must be an origin, without a path, query or fragment: frame-ancestors matches whole origins \(write https:\/\/lms\.example\.edu\)/ },
  { what: "embedding origin with a trailing slash", strings: s({ embedAllowFrom: JSON.stringify(["https://lms.example.edu/"]) }), expected: /^jupyterhub-edge:embedAllowFrom\[0\]: must be an origin without a trailing '\/' \(write https:\/\/lms\.example\.edu\)/ },
  { what: "embedding by everyone (*)", strings: s({ embedAllowFrom: JSON.stringify(["*"]) }), expected: /^jupyterhub-edge:embedAllowFrom\[0\]: must be an origin such as https:\/\/lms\.example\.edu \(https:\/\/, the host name, an optional :port; no path\) \(got "\*"\)$/ },
  { what: "embedding origin with a bad port", strings: s({ embedAllowFrom: JSON.stringify(["https://lms.example.edu:70000"]) }), expected: /^jupyterhub-edge:embedAllowFrom\[0\]: port "70000" is not a TCP port/ },
  { what: "embedding origin by IP address", strings: s({ embedAllowFrom: JSON.stringify(["https://192.0.2.4"]) }), expected: /^jupyterhub-edge:embedAllowFrom\[0\]: must name the platform by its host name, not an IP address/ },
  { what: "embedding origin listed twice", strings: s({ embedAllowFrom: JSON.stringify(["https://lms.example.edu", "https://lms.example.edu"]) }), expected: /^jupyterhub-edge:embedAllowFrom\[1\]: https:\/\/lms\.example\.edu is listed twice$/ },
  {
    what: "two fleet hubs under one name (cookies shared whatever the port)",
    strings: s({
      host: "", hubDomain: "",
      hosts: JSON.stringify([{ name: "room1", host: "203.0.113.10", hubDomain: "hub.example.org" }, { name: "room2", host: "203.0.113.11", hubDomain: "hub.example.org", httpsPort: 8443 }]),
    }),
    expected: /^jupyterhub-edge:hosts\[1\]\.hubDomain: hub\.example\.org is already the hubDomain of hosts\[0\]: two hubs under one host name with the same base URL \(\/\) share their cookies whatever their ports, so signing in to one signs users out of the other \(JupyterHub #4512\); give this hub a hubDomain of its own, such as room2\.example\.org$/,
    // A fleet: the render tier checks it in fleet-config.test.ts (loadFromStrings reads one server).
    programOnly: true,
  },
];

function provided(domain: string, certificate: string, privateKey: string, extra: Record<string, string> = {}): Record<string, string> {
  return { certificateMode: "provided", providedCertificates: JSON.stringify({ [domain]: { certificate, privateKey } }), ...extra };
}

function makeCertCases(): BadConfig[] {
  let f: ReturnType<typeof makeCertFixtures> | undefined;
  const fx = () => (f ??= makeCertFixtures());
  const key = `${ns}:providedCertificates.hub.example.org`;
  const re = (rest: string) => new RegExp(`^${key.replace(/[.]/g, "\\.")}\\.${rest}`);
  return [
    { what: "garbage between PEM headers", strings: () => provided("hub.example.org", fx().garbageCert, fx().leafKey), expected: re("certificate: block 1 is not a certificate that parses \\(DER/base64 is damaged\\)") },
    { what: "chain in the wrong order", strings: () => provided("hub.example.org", fx().intermediate + fx().leaf, fx().leafKey), expected: re("certificate: the chain is out of order: certificate 2 \\(CN=hub\\.example\\.org\\) did not issue certificate 1 \\(CN=jhe test intermediate\\); put the leaf first, then each issuer") },
    { what: "key of another certificate", strings: () => provided("hub.example.org", fx().leaf + fx().intermediate, fx().otherKey), expected: re("privateKey: does not match the leaf certificate \\(CN=hub\\.example\\.org\\)") },
    { what: "leaf for another name", strings: () => provided("hub.example.org", fx().wrongName + fx().intermediate, fx().wrongNameKey), expected: re("certificate: the leaf certificate does not cover hub\\.example\\.org: it names DNS:www\\.example\\.org") },
    { what: "wildcard one level too deep", strings: () => provided("hub.example.org", fx().deepWildcard + fx().intermediate, fx().deepWildcardKey), expected: re("certificate: the leaf certificate does not cover hub\\.example\\.org: it names DNS:\\*\\.sub\\.example\\.org") },
    { what: "expired leaf", strings: () => provided("hub.example.org", fx().expired + fx().intermediate, fx().expiredKey), expected: re("certificate: the leaf certificate expired on \\d{4}-\\d\\d-\\d\\d") },
    { what: "not yet valid leaf", strings: () => provided("hub.example.org", fx().future + fx().intermediate, fx().futureKey), expected: re("certificate: the leaf certificate is not valid before \\d{4}-\\d\\d-\\d\\d") },
    { what: "RSA 1024 key", strings: () => provided("hub.example.org", fx().rsa1024, fx().rsa1024Key), expected: re("certificate: the leaf's RSA key has 1024 bits; at least 2048 are needed") },
    { what: "EC P-521 / secp256k1 key", strings: () => provided("hub.example.org", fx().k256, fx().k256Key), expected: re("certificate: the leaf's EC key is on curve secp256k1; browsers accept P-256 and P-384") },
    { what: "Ed25519 key", strings: () => provided("hub.example.org", fx().ed25519, fx().ed25519Key), expected: re("certificate: the leaf's key is Ed25519: nginx and Apache load it, but browsers do not accept Ed25519 certificates; use ECDSA P-256 or RSA 2048\\+") },
    { what: "passphrase-protected key", strings: () => provided("hub.example.org", fx().leaf + fx().intermediate, fx().encryptedKey), expected: re("privateKey: is encrypted with a passphrase; the proxies need it unencrypted") },
    { what: "key that is garbage between headers", strings: () => provided("hub.example.org", fx().leaf + fx().intermediate, fx().garbageKey), expected: re("privateKey: is not a private key that parses") },
    { what: "client-auth-only certificate", strings: () => provided("hub.example.org", fx().clientOnly, fx().clientOnlyKey), expected: re("certificate: the leaf certificate is not for TLS servers \\(extendedKeyUsage lacks serverAuth\\)") },
  ];
}
