import { engineScenario } from "./scenario";

// A fresh Debian 13 host: Apache installed by the program, switched to nginx and back, purged on destroy.
engineScenario({ suite: "trixie", platform: "debian-13", proxy: "apache", preexistingSite: false, switchTo: ["nginx", "apache"] });
