// `pulumi up` runs this module; an exported function is called by the Pulumi runtime and its result
// becomes the stack outputs. The Automation API (scripts/deploy-dev.ts, test/engine) calls the same
// function as an inline program.
import { main } from "./program";

export = main;
