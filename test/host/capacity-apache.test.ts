import { capacityScenario } from "./capacity-scenario";

capacityScenario("apache");
