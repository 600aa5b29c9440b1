import { acmeDnsScenario } from "./acme-dns-scenario";

// Debian 13's certbot; per-user subdomains and a wildcard site on nginx.
acmeDnsScenario("nginx", "trixie", 1);
