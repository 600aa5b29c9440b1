/**
 * The site variants every render-tier check runs over: each is a raw stack config, so the schema,
 * defaults and renderers are exercised exactly as `pulumi up` would.
 */
export const baseConfig = { host: "203.0.113.10", sshPrivateKeyFile: "/dev/null", hubDomain: "hub.example.org" };

export const variants: Record<string, Record<string, unknown>> = {
  "debian13-default": { ...baseConfig },
  "debian12-default": { ...baseConfig, platform: "debian-12" },
  "debian13-extra-site": { ...baseConfig, extraSites: [{ domain: "www.example.org" }, { domain: "docs.example.org", root: "/srv/docs" }] },
  "debian13-subpath-port": {
    ...baseConfig,
    hubPath: "/jhub/",
    httpsPort: 8443,
    extraSites: [{ domain: "www.example.org" }],
  },
  "debian12-subpath-notfound": { ...baseConfig, platform: "debian-12", hubPath: "/courses/jhub/", hubOutsidePath: "notFound" },
  "debian13-subpath-webroot": { ...baseConfig, hubPath: "/jhub/", hubOutsidePath: "/var/www/landing" },
  "debian13-unix-socket": { ...baseConfig, hubUpstream: "unix:/run/jupyterhub/hub.sock" },
  // An IPv6 loopback upstream, and a sub-path with a '.' (escaped in Apache's RewriteRule patterns).
  "debian13-ipv6-upstream": { ...baseConfig, hubUpstream: "http://[::1]:8000", hubPath: "/course.2026/" },
  "debian13-modern-no-hsts-ipv4": { ...baseConfig, tlsProfile: "modern", hstsMaxAge: 0, ipv6: false },
  "debian13-acme-mixed": {
    ...baseConfig,
    certificateMode: "acme",
    acmeEmail: "admin@example.org",
    extraSites: [{ domain: "www.example.org", certificateMode: "selfSigned" }],
  },
  "debian12-dhe-ocsp-provided": {
    ...baseConfig,
    platform: "debian-12",
    certificateMode: "provided",
    providedDomains: ["hub.example.org"],
    dhe: true,
    ocspStapling: true,
  },
  "debian12-limits": { ...baseConfig, platform: "debian-12", maxUploadMb: 2048, websocketIdleTimeout: 86400, hubUpstream: "http://127.0.0.1:8765" },
  // DNS-01 (issue 20): per-user subdomains with split auth, a wildcard extra site beside an exact
  // one (Apache must list the exact one first), EAB; and the self-signed form of the same.
  "debian13-dns01-subdomains": {
    ...baseConfig,
    certificateMode: "acme",
    acmeEmail: "admin@example.org",
    acmeServer: "https://acme.university.example/directory",
    acmeChallenge: "dns-01",
    acmeDns: { server: "192.0.2.53", port: 5300, tsigKeyName: "acme-update", tsigAlgorithm: "hmac-sha512", propagationSeconds: 5 },
    acmeDnsTsigSecretGiven: true,
    acmeEabKeyId: "kid-1",
    acmeEabHmacKeyGiven: true,
    hubSubdomains: true,
    extraSites: [{ domain: "*.example.org" }, { domain: "www.example.org", acmeChallenge: "http-01" }],
    splitAuth: { users: [{ name: "workshop", passwordGiven: true }] },
  },
  "debian12-selfsigned-subdomains-subpath": {
    ...baseConfig,
    platform: "debian-12",
    hubSubdomains: true,
    hubPath: "/jhub/",
    httpsPort: 8443,
    extraSites: [{ domain: "*.example.org" }],
  },
  // Brute-force protection (issue 21, on by default in every variant): off; and tuned, with
  // trusted sources beside split auth's allowFrom (never limited nor banned), a big class, a sub-path.
  "debian13-bruteforce-off": { ...baseConfig, bruteForceProtection: false },
  "debian12-bruteforce-tuned": {
    ...baseConfig,
    platform: "debian-12",
    hubPath: "/jhub/",
    httpsPort: 8443,
    expectedParticipants: 600,
    banRetries: 40,
    banFindTime: 300,
    banTime: 3600,
    trustedSources: ["203.0.113.0/24", "2001:db8:7::/48", "198.51.100.7/32"],
    splitAuth: { users: [{ name: "workshop", passwordGiven: true }], allowFrom: ["198.51.100.7", "192.0.2.0/24"] },
  },
  // Issue 21: metrics open to scrapers (IPv4 and IPv6), with split auth (whose regex location must
  // not take the metrics path) under a sub-path; and on Debian 12 at / without split auth.
  "debian13-metrics-scrapers-splitauth-subpath": {
    ...baseConfig,
    hubPath: "/jhub/",
    metricsAllowFrom: ["192.0.2.10", "2001:db8:9::/64"],
    splitAuth: { users: [{ name: "workshop", passwordGiven: true }], allowFrom: ["198.51.100.0/24"] },
  },
  "debian12-metrics-scrapers": { ...baseConfig, platform: "debian-12", metricsAllowFrom: ["10.20.0.0/16"] },
  // Issue 21, embedding: off in every variant above (their files are byte for byte what they were
  // before embedding existed); on here, with a wildcard origin and one with a port, beside an extra
  // site; and on Debian 12 (nginx 1.22) under a sub-path on 8443 with split auth and metrics scrapers.
  "debian13-embed": {
    ...baseConfig,
    embedAllowFrom: ["https://lms.example.edu", "https://*.instructure.com", "https://moodle.example.edu:8443"],
    extraSites: [{ domain: "www.example.org" }],
  },
  "debian12-embed-splitauth-subpath": {
    ...baseConfig,
    platform: "debian-12",
    hubPath: "/jhub/",
    httpsPort: 8443,
    embedAllowFrom: ["https://lms.example.edu"],
    metricsAllowFrom: ["192.0.2.10"],
    splitAuth: { users: [{ name: "workshop", passwordGiven: true }] },
  },
  // Split auth on: each release × at / and under a sub-path (on 8443) × with and without allowFrom.
  ...splitAuthVariants(),
};

function splitAuthVariants(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [release, platform] of [["debian13", "debian-13"], ["debian12", "debian-12"]]) {
    for (const [where, at] of [["", {}], ["-subpath", { hubPath: "/jhub/", httpsPort: 8443 }]] as const) {
      const users = [{ name: "workshop", passwordGiven: true }, { name: "tutor", passwordGiven: false }];
      out[`${release}-splitauth${where}`] = { ...baseConfig, platform, ...at, splitAuth: { users } };
      out[`${release}-splitauth${where}-allow`] = {
        ...baseConfig, platform, ...at,
        splitAuth: { users, allowFrom: ["192.0.2.0/24", "198.51.100.7", "2001:db8:42::/48"], realm: "Workshop (ask the tutor)" },
      };
    }
  }
  return out;
}
