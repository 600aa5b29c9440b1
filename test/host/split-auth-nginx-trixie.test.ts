import { splitAuthScenario } from "./split-auth-scenario";

// Split auth, full host scenario for nginx on Debian 13 (Apache runs it on Debian 12; the render
// tier checks all four proxy × release combinations).
splitAuthScenario({ suite: "trixie", platform: "debian-13", proxy: "nginx" });
