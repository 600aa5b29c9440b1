import { engineAcmeScenario } from "./acme-scenario";

engineAcmeScenario("nginx");
