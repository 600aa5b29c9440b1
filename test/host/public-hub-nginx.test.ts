import { publicHubScenario } from "./public-hub-scenario";

// A hub on the public internet (issue 21) behind nginx on Debian 13: true client addresses, the
// metrics path, embedding in a real browser, undo.
publicHubScenario({ suite: "trixie", platform: "debian-13", proxy: "nginx" });
