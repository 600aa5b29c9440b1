import { engineAcmeScenario } from "../acme-scenario";

engineAcmeScenario("apache");
