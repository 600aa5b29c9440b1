import { publicHubScenario } from "../public-hub-scenario";

// A hub on the public internet (issue 21) behind Apache on Debian 13 (its release for the issue-21
// checks; the render tier checks both releases): true client addresses, the metrics path,
// embedding in a real browser, undo.
publicHubScenario({ suite: "trixie", platform: "debian-13", proxy: "apache" });
