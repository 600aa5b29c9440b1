/**
 * Every stack config key the program reads, with its type, default and meaning. Pulumi.yaml declares
 * the same keys (a wiring test keeps the two in step); `schema.ts` validates the values.
 * Optional keys default to "" (= not set): Pulumi treats a declared key without a default as
 * required.
 */
export const CONFIG_NAMESPACE = "jupyterhub-edge";

export interface ConfigKeyDoc {
  type: "string" | "integer" | "boolean" | "array" | "object";
  /** For an array: its items' type, which Pulumi checks against the stack's value. Default: object. */
  items?: "string" | "object";
  description: string;
  default?: string | number | boolean | unknown[] | Record<string, never>;
  /**
   * Must be set as a secret. Enforced by the program, not declared in Pulumi.yaml: Pulumi requires a
   * declared secret in every stack, and this one is optional.
   */
  secret?: boolean;
}

export const configKeys = {
  host: {
    type: "string",
    default: "",
    description: "Address (IP or DNS name) of the server to configure over SSH; IPv4 as four decimal numbers (010.0.0.1 is refused: ssh reads it as octal). Required (with hosts: set per host instead).",
  },
  sshPort: { type: "integer", default: 22, description: "SSH port of the server." },
  sshUser: {
    type: "string",
    default: "root",
    description: "SSH user: root, or a user with passwordless sudo (commands run through `sudo -n`).",
  },
  sshPrivateKey: {
    type: "string",
    secret: true,
    default: "",
    description: "SSH private key (PEM/OpenSSH); set it with `pulumi config set --secret` (a plaintext key is refused). Set this or sshPrivateKeyFile.",
  },
  sshPrivateKeyFile: {
    type: "string",
    default: "",
    description: "Path of an SSH private key file on the machine running Pulumi. Set this or sshPrivateKey.",
  },
  hostKey: {
    type: "string",
    default: "",
    description: "The server's SSH host key in authorized_keys form (`ssh-ed25519 AAAA…`); pins it. The key's own type must match its label. Strongly recommended.",
  },
  hostKeyFile: { type: "string", default: "", description: "Path of a file holding hostKey (first line), instead of hostKey." },
  proxy: { type: "string", default: "nginx", description: "Reverse proxy to install and configure: nginx or apache." },
  platform: {
    type: "string",
    default: "debian-13",
    description: "The server's OS release (debian-13, debian-12, ubuntu-24.04, ubuntu-22.04, rhel-9, rocky-9, alma-9, fedora-41, fedora-42, fedora-43); decides packages, layout and config syntax. Checked against the host before anything changes.",
  },
  hubDomain: {
    type: "string",
    default: "",
    description: "DNS name users open for the hub, e.g. hub.example.org. Required (with hosts: set per host instead).",
  },
  hubPath: {
    type: "string",
    default: "/",
    description: "Path the hub is served under, e.g. / or /jhub/ (no '.', '..' or empty segments; not ending in hub/, user/ or services/, JupyterHub's own routes).",
  },
  hubUpstream: {
    type: "string",
    default: "http://127.0.0.1:8000",
    description: "Where the hub listens on the server: http://ADDRESS:PORT (loopback, a private address other than host, or a host name that is not a served domain; never a wildcard such as 0.0.0.0 or [::], host's address or another public one, which would leave the hub public; not on port 80, httpsPort or sshPort), or unix:/path/to.sock. Written to c.JupyterHub.bind_url.",
  },
  hubOutsidePath: {
    type: "string",
    default: "redirect",
    description: "With a hubPath other than /: what the hub's domain serves elsewhere — redirect (to the hub), notFound, or an absolute web root directory of its own (not a system tree such as /etc, /var/lib, /usr, not /var, /home, /srv or /opt as a whole, not the hub's config directory).",
  },
  httpsPort: { type: "integer", default: 443, description: "Public HTTPS port. HTTP (redirects and ACME) stays on 80." },
  ipv6: { type: "boolean", default: true, description: "Also listen on IPv6 ([::])." },
  extraSites: {
    type: "array",
    default: [],
    description: "Other domains served on the same HTTPS port from their own web roots: a list of {domain, root, certificateMode, acmeChallenge} (at most 100); domain may be a wildcard *.example.org (its certificate from dns-01, selfSigned or provided); root defaults to /var/www/<domain> (/var/www/_wildcard.<rest> for *.<rest>) (a directory of its own: not a system tree, not /var, /home, /srv or /opt as a whole, not the hub's config directory), certificateMode to the stack's.",
  },
  certificateMode: {
    type: "string",
    default: "selfSigned",
    description: "How certificates are obtained, for the hub and (unless an extraSites entry says otherwise) every domain: acme (certbot, webroot), selfSigned (a CA + per-domain leaf made with @pulumi/tls; the CA is a stack output), or provided (PEMs from providedCertificates).",
  },
  acmeServer: {
    type: "string",
    default: "letsencrypt",
    description: "ACME directory: letsencrypt, letsencrypt-staging, or the https URL of any ACME server (e.g. a university's own CA).",
  },
  acmeChallenge: {
    type: "string",
    default: "http-01",
    description: "How ACME certificates are validated: http-01 (a file on port 80, answered through the proxy) or dns-01 (a TXT record written by RFC 2136 dynamic update, see acmeDns: for servers the ACME server cannot reach on port 80, and the only way to wildcard names). An extraSites entry may set its own.",
  },
  acmeDns: {
    type: "object",
    default: {},
    description: "For acmeChallenge dns-01: {server, port, tsigKeyName, tsigAlgorithm, propagationSeconds} of the primary DNS server that takes RFC 2136 updates: server is its IP address (certbot resolves no names), port defaults to 53, tsigAlgorithm hmac-sha256 (default), hmac-sha384 or hmac-sha512, propagationSeconds (default 60) is how long certbot waits before validation. The key's secret goes in acmeDnsTsigSecret.",
  },
  acmeDnsTsigSecret: {
    type: "string",
    secret: true,
    default: "",
    description: "The TSIG key's secret (base64, as tsig-keygen or keymgr print it) for acmeDns; set it with `pulumi config set --secret`. Written to the server only in a root 0600 credentials file.",
  },
  acmeEabKeyId: {
    type: "string",
    default: "",
    description: "External Account Binding key id, for ACME CAs that require it (Sectigo/GÉANT TCS, InCommon, ZeroSSL); used when the ACME account is registered. Set with acmeEabHmacKey.",
  },
  acmeEabHmacKey: {
    type: "string",
    secret: true,
    default: "",
    description: "External Account Binding HMAC key (base64url, as the CA gives it) for acmeEabKeyId; set it with `pulumi config set --secret`. Never on a command line: certbot reads it from a root 0600 file.",
  },
  hubSubdomains: {
    type: "boolean",
    default: false,
    description: "Per-user subdomains: each user's server at https://<user>.<hubDomain>/ (c.JupyterHub.subdomain_host, in the managed block), the browser isolation JupyterHub recommends for untrusted users. The proxy also serves *.<hubDomain>, so the hub's certificate must cover it: acme with acmeChallenge dns-01, selfSigned, or a provided wildcard certificate. Needs DNS for *.<hubDomain> pointing at the server.",
  },
  acmeEmail: { type: "string", default: "", description: "Contact email for the ACME account (expiry notices). Required with certificateMode acme." },
  acmeCaBundleFile: {
    type: "string",
    default: "",
    description: "Path (on the machine running Pulumi) of a PEM CA that signs a private ACME server's HTTPS endpoint; installed for certbot and its unattended renewals.",
  },
  acmeCarryOver: {
    type: "string",
    default: "",
    secret: true,
    description: "Certificate carry-over: secret JSON {\"<domain>\": \"<bundle>\"} of ACME accounts and certificates, as the acmeCarryOver stack output gives it. Set (even to {}), the stack exports its ACME certificates in that output and pushes those given here to a server that has none, so a rebuilt server orders no new certificate. A bundle for a domain no site serves is kept and warned about.",
  },
  acmeRevokeOnDestroy: { type: "boolean", default: false, description: "Revoke ACME certificates on destroy (they are always deleted from the host)." },
  providedCertificates: {
    type: "string",
    default: "",
    secret: true,
    description: "For certificateMode provided: JSON {\"<domain>\": {\"certificate\": \"<PEM chain>\", \"privateKey\": \"<PEM>\"}}, set with `pulumi config set --secret`; every domain must be one a site serves.",
  },
  tlsProfile: {
    type: "string",
    default: "intermediate",
    description: "Mozilla TLS profile: intermediate (TLS 1.2 + 1.3, ECDHE AEAD ciphers) or modern (TLS 1.3 only).",
  },
  hstsMaxAge: {
    type: "integer",
    default: 63072000,
    description: "HSTS max-age in seconds (≥ 15552000 for an SSL Labs A+; 0 sends no HSTS header).",
  },
  hstsIncludeSubdomains: { type: "boolean", default: true, description: "Add includeSubDomains to HSTS." },
  dhe: {
    type: "boolean",
    default: false,
    description: "Also offer DHE-RSA AEAD suites (for old clients); a dhparam is generated once per host and never regenerated.",
  },
  dhparamBits: { type: "integer", default: 2048, description: "Size of the generated dhparam (used only with dhe)." },
  ocspStapling: {
    type: "boolean",
    default: false,
    description: "Staple OCSP responses. Only for certificates with an OCSP URL: Let's Encrypt ended OCSP in 2025.",
  },
  maxUploadMb: {
    type: "integer",
    default: 512,
    description: "Largest request body in MiB (notebook saves and uploads go through the proxy).",
  },
  websocketIdleTimeout: {
    type: "integer",
    default: 0,
    description: "Seconds an idle proxied connection (a kernel websocket) may stay silent before the proxy closes it. 0 = derived: hubIdleCullTimeout + 120 when set, else 3600.",
  },
  hubIdleCullTimeout: {
    type: "integer",
    default: 0,
    description: "The hub's idle culler timeout in seconds (jupyterhub-idle-culler --timeout); 0 = no culler. A websocket idle longer than this is to a server the culler has stopped, so websocketIdleTimeout may not exceed it by more than 120 s.",
  },
  expectedParticipants: {
    type: "integer",
    default: 30,
    description: "People using the hub at once (a class or workshop); the proxy, its service's open-files limit and the kernel limits are sized for them (model/capacity.ts: 5 connections each, +10 %).",
  },
  maxConnections: {
    type: "integer",
    default: 0,
    description: "Expert override: client connections (websockets + requests) the proxy must hold at once; 0 = from expectedParticipants.",
  },
  openFilesLimit: {
    type: "integer",
    default: 16384,
    description: "Open files per proxy process (the service's LimitNOFILE, nginx worker_rlimit_nofile); connections are spread over enough processes to stay under it. Must fit the host's fs.nr_open and systemd's hard limit.",
  },
  hostMemoryMb: {
    type: "integer",
    default: 0,
    description: "The server's memory in MiB, for the capacity check at preview (the proxy may use half at full load); 0 = assume the platform's small-VM figure. Also checked against the host's MemTotal before anything changes.",
  },
  manageHubConfig: {
    type: "boolean",
    default: true,
    description: "Write c.JupyterHub.bind_url into the hub's config as a managed block and restart the hub.",
  },
  hubConfigPath: {
    type: "string",
    default: "/etc/jupyterhub/jupyterhub_config.py",
    description: "The hub's config file on the server: an absolute path ending in .py, not a system file (under /etc, /var/lib or /usr/local/etc only in a jupyter directory such as /etc/jupyterhub/). Only the managed block is touched; the rest is kept byte for byte.",
  },
  hubService: {
    type: "string",
    default: "jupyterhub",
    description: "systemd service unit that runs the hub (restarted after bind_url changes); not the proxy's unit or a system unit such as sshd.",
  },
  metricsAllowFrom: {
    type: "array",
    items: "string",
    default: [],
    description: "Addresses or CIDRs (IPv4/IPv6) of the Prometheus scrapers that may fetch <hubPath>hub/metrics through the proxy; everyone else is refused at the edge, in any spelling of the path. Empty (default): refused for everyone. JupyterHub's own authenticate_prometheus still applies behind it.",
  },
  embedAllowFrom: {
    type: "array",
    items: "string",
    default: [],
    description: "Embedding in a learning platform (opt-in): origins such as https://lms.example.edu (https, host name or *.wildcard, optional port, no path) that may show the hub and the users' servers in a frame. The proxy then sets Content-Security-Policy frame-ancestors 'self' + these (replacing only that directive of the hub's and servers' own CSP) and marks their cookies SameSite=None; Secure. Empty (default): off, nothing changes.",
  },
  hosts: {
    type: "array",
    default: [],
    description: "A fleet: several servers from one stack, configured in parallel. A list of {name, host, hubDomain, extraSites, sshPort, sshUser, sshPrivateKeyFile, hostKey/hostKeyFile, and any site key (proxy, platform, certificateMode, …) overriding the stack's}. Empty: the stack's own host/hubDomain keys describe its one server.",
  },
  removeServers: {
    type: "array",
    items: "string",
    default: [],
    description: "With hosts: names of servers this stack deployed that you mean to remove (a server missing from hosts is otherwise refused: removing it deletes its site, CA and split-auth passwords for good; \"edge\" names a single-host stack's server). Take a name out again before adding the server back.",
  },
  selinux: {
    type: "string",
    default: "auto",
    description: "SELinux handling: auto (label the hub's port, set the needed booleans and file contexts where selinuxenabled says SELinux is on; nothing elsewhere), on (the same, and fail if SELinux is off), off (no SELinux step). Everything set is reverted on destroy.",
  },
  splitAuth: {
    type: "object",
    default: {},
    description: "Optional password in front of the hub's own pages only (JupyterLab, kernels and the hub API keep JupyterHub's auth): {users, allowFrom, realm}. users: names, or {name, password} with the password set by `pulumi config set --secret --path`; a user without one (no password field; an empty one is refused) gets a generated password, a secret stack output splitAuthPassword-<name>. allowFrom: CIDRs admitted without a password (together never every address of a family). realm: what the prompt names (default JupyterHub).",
  },
  bruteForceProtection: {
    type: "boolean",
    default: true,
    description: "Brute-force protection of the hub's login: a per-address rate limit on the login form (nginx limit_req; Apache mod_qos on Debian 13, which also limits refused split-auth passwords; its burst holds expectedParticipants logging in at once from one address) and fail2ban (the distribution's package) banning, through the host's nftables, a source whose failed logins (403), rate-limited logins (429) and failed split-auth passwords (401) reach banRetries within banFindTime. splitAuth.allowFrom and trustedSources are never limited nor banned. fail2ban (and mod_qos) are removed again on destroy if the program installed them.",
  },
  banRetries: {
    type: "integer",
    default: 0,
    description: "Failed logins from one address within banFindTime that ban it; 0 = derived: a quarter of expectedParticipants, at least 10 (a class behind one address mistypes too).",
  },
  banFindTime: { type: "integer", default: 600, description: "Seconds over which failed logins are counted for banRetries (60–86400)." },
  banTime: { type: "integer", default: 600, description: "Seconds a banned address stays banned (10–2592000)." },
  trustedSources: {
    type: "array",
    items: "string",
    default: [],
    description: "Addresses or CIDRs (IPv4/IPv6) never rate-limited nor banned, such as the venue's NAT address or a monitoring host; splitAuth.allowFrom ranges are never banned either. They still need the password where one is asked.",
  },
} as const satisfies Record<string, ConfigKeyDoc>;

export type ConfigKey = keyof typeof configKeys;

/** Keys that describe one server: with `hosts`, each entry sets them and the top level must not. */
export const perHostKeys = ["host", "hostKey", "hostKeyFile", "hubDomain", "extraSites"] as const satisfies readonly ConfigKey[];

/** The keys declared secret above (`secret: true`), as a type. */
export type SecretKey = { [K in ConfigKey]: (typeof configKeys)[K] extends { secret: true } ? K : never }[ConfigKey];

/** The keys declared secret above. */
export const secretKeys = (Object.keys(configKeys) as ConfigKey[]).filter((k): k is SecretKey => (configKeys[k] as ConfigKeyDoc).secret === true);

/**
 * The one list of keys that hold secrets: those declared secret, and splitAuth, whose passwords are
 * (the block as a whole is not: its user names are not secret). Each is read apart from the other
 * keys and never echoed, refused when stored in plaintext, shared by every server of a fleet, and its
 * values are taken out of every message (config/secrets.ts secretValues).
 */
export type KeyHoldingSecrets = SecretKey | "splitAuth";
export const keysHoldingSecrets: readonly KeyHoldingSecrets[] = [...secretKeys, "splitAuth"];

/**
 * Keys a `hosts` entry may not set: secrets stay shared top-level keys (an optional secret cannot be
 * declared per entry), and hosts do not nest.
 */
export const notPerHostKeys: readonly ConfigKey[] = ["hosts", "removeServers", ...keysHoldingSecrets];

/** A `hosts` entry's own field besides config keys: its stable name (it names the host's resources). */
export const HOST_NAME_FIELD = "name";
