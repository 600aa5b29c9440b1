import { bruteForceScenario } from "./brute-force-scenario";

// Brute-force protection, Apache on Debian 13 (login and Basic-failure rate limit with mod_qos +
// fail2ban); nginx runs it on Debian 13 too. Debian 12 has no working mod_qos (model/platforms.ts):
// there the scenario's limit test is skipped and fail2ban alone is measured.
bruteForceScenario({ suite: "trixie", platform: "debian-13", proxy: "apache" });
