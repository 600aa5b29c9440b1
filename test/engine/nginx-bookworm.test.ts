import { engineScenario } from "./scenario";

// A Debian 12 host already serving a site with nginx: ours beside it, switched to Apache and back.
engineScenario({ suite: "bookworm", platform: "debian-12", proxy: "nginx", preexistingSite: true, switchTo: ["apache", "nginx"] });
