import { bruteForceScenario } from "./brute-force-scenario";

// Brute-force protection, nginx on Debian 13 (login limit_req + fail2ban); Apache runs it on Debian 12.
bruteForceScenario({ suite: "trixie", platform: "debian-13", proxy: "nginx" });
