/**
 * The component provider: serves the library's components (lib/index.ts) to Pulumi programs in any
 * language. `pulumi package add` runs it to read the schema (inferred from the components' Args
 * interfaces and output properties: type tokens `jupyterhub-edge:index:<Class>`, the only module
 * the nodejs component provider host accepts), and the engine runs it for each EdgeSite/EdgeFleet.
 *
 * Pulumi's own `componentProviderHost`, with one addition: a construct call's inputs are checked as
 * soon as they are known (config/fleet.ts, the stack config's own validation), so that a refused
 * value fails the call at once, before the component declares anything.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ComponentProvider } from "@pulumi/pulumi/provider/experimental";
import { main } from "@pulumi/pulumi/provider";
import { EdgeFleet, EdgeSite, checkArgs } from "../lib";

/** This directory (package.json, PulumiPlugin.yaml), also when run from the compiled dist/provider/. */
const dirname = [__dirname, path.join(__dirname, "..", "..", "provider")].find((d) => fs.existsSync(path.join(d, "PulumiPlugin.yaml")))!;

/** The SDK's own (untyped) view of an Output: whether its value is known, and the value. */
interface OutputInternals {
  isKnown: Promise<boolean>;
  promise(): Promise<unknown>;
}

class EdgeComponentProvider extends ComponentProvider {
  async construct(name: string, type: string, inputs: pulumi.Inputs, options: pulumi.ComponentResourceOptions) {
    // Secrets and values from other resources arrive as Outputs: read them (unknown during a preview
    // before the resources they come from exist: then the component checks them once known).
    const all = pulumi.unsecret(pulumi.output(inputs)) as unknown as OutputInternals;
    if (await all.isKnown) {
      const kind = type.split(":")[2];
      if (kind === "EdgeSite" || kind === "EdgeFleet") checkArgs(kind, (await all.promise()) as Record<string, unknown>);
    }
    return super.construct(name, type, inputs, options);
  }
}

main(new EdgeComponentProvider({ components: [EdgeSite, EdgeFleet], name: "jupyterhub-edge", dirname }), process.argv.slice(2));
