import { faultScenario } from "./faults-scenario";

// One fresh trixie host, every fault of issue 10 (but the 1,000-websocket reload) in sequence.
faultScenario("apache");
