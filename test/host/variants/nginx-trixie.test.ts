import { hostScenario } from "../scenario";

// Starts from a fresh host: nginx is installed by the program and purged by undo.
hostScenario({ suite: "trixie", platform: "debian-13", proxy: "nginx", preexistingSite: false });
