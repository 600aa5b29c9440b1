import { hostScenario } from "./scenario";

hostScenario("trixie", "debian-13");
