import { capacityScenario } from "./capacity-scenario";

capacityScenario("nginx");
