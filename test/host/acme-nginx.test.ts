import { acmeScenario } from "./acme-scenario";

acmeScenario("nginx");
