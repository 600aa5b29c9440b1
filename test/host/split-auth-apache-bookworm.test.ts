import { splitAuthScenario } from "./split-auth-scenario";

// Split auth, full host scenario for Apache on Debian 12 (nginx runs it on Debian 13; the render
// tier checks all four proxy × release combinations).
splitAuthScenario({ suite: "bookworm", platform: "debian-12", proxy: "apache" });
