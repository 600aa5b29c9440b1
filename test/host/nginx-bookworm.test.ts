import { hostScenario } from "./scenario";

hostScenario("bookworm", "debian-12");
