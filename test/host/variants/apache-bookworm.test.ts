import { hostScenario } from "../scenario";

// Starts from a host already running apache with a site of its own.
hostScenario({ suite: "bookworm", platform: "debian-12", proxy: "apache", preexistingSite: true });
