import { acmeDnsScenario } from "../acme-dns-scenario";

// Debian 12's certbot 2.1, the release whose dns-rfc2136 plugin falls back to HMAC-MD5 on a
// lowercase algorithm name: the stack writes it lowercase on purpose.
acmeDnsScenario("apache", "bookworm", 2);
