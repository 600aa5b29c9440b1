import { acmeScenario } from "./acme-scenario";

acmeScenario("apache");
