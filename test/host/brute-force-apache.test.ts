import { bruteForceScenario } from "./brute-force-scenario";

// Brute-force protection, Apache on Debian 12 (fail2ban; no request-rate module: see README); nginx runs it on Debian 13.
bruteForceScenario({ suite: "bookworm", platform: "debian-12", proxy: "apache" });
