import { hostScenario } from "./scenario";

// Starts from a host already running nginx with a site of its own.
hostScenario({ suite: "bookworm", platform: "debian-12", proxy: "nginx", preexistingSite: true });
