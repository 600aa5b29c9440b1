import { engineScenario } from "../scenario";

// A fresh Debian 13 host: nginx installed by the program, switched to Apache and back, purged on destroy.
engineScenario({ suite: "trixie", platform: "debian-13", proxy: "nginx", preexistingSite: false, switchTo: ["apache", "nginx"] });
