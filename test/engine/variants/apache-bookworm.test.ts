import { engineScenario } from "../scenario";

// A Debian 12 host already serving a site with Apache: ours is added beside it, switched to nginx
// (Apache stopped meanwhile) and back, and destroy leaves Apache and that site as they were.
engineScenario({ suite: "bookworm", platform: "debian-12", proxy: "apache", preexistingSite: true, switchTo: ["nginx", "apache"] });
