/**
 * The component provider: serves the library's components (lib/index.ts) to Pulumi programs in any
 * language. `pulumi package add` runs it to read the schema (inferred from the components' Args
 * interfaces and output properties: type tokens `jupyterhub-edge:index:<Class>`, the only module
 * the nodejs component provider host accepts), and the engine runs it for each EdgeSite/EdgeFleet.
 *
 * Pulumi's own `componentProviderHost`, with one addition: a construct call's inputs are checked as
 * soon as they are known (config/fleet.ts, the stack config's own validation), and an EdgeFleet's
 * dropped servers against its last deployment (lib/index.ts, checkFleetRemovals), so that a refused
 * value or an unconfirmed removal fails the call at once, before the component declares anything.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ComponentProvider } from "@pulumi/pulumi/provider/experimental";
import { main } from "@pulumi/pulumi/provider";
import { EdgeFleet, EdgeSite, checkArgs, checkFleetRemovals } from "../lib";

/** This directory (package.json, PulumiPlugin.yaml), also when run from the compiled dist/provider/. */
const dirname = [__dirname, path.join(__dirname, "..", "..", "provider")].find((d) => fs.existsSync(path.join(d, "PulumiPlugin.yaml")))!;

/** The SDK's own (untyped) view of an Output: whether its value is known, and the value. */
interface OutputInternals {
  isKnown: Promise<boolean>;
  promise(): Promise<unknown>;
}

/** An Output's value (a URN: always known, also in a preview). */
const urnOf = (urn: pulumi.Output<string>): Promise<string> => (urn as unknown as OutputInternals).promise() as Promise<string>;

class EdgeComponentProvider extends ComponentProvider {
  async construct(name: string, type: string, inputs: pulumi.Inputs, options: pulumi.ComponentResourceOptions) {
    // Secrets and values from other resources arrive as Outputs: read them (unknown during a preview
    // before the resources they come from exist: then the component checks them once known).
    const all = pulumi.unsecret(pulumi.output(inputs)) as unknown as OutputInternals;
    if (await all.isKnown) {
      const kind = type.split(":")[2];
      const plain = (await all.promise()) as Record<string, unknown>;
      if (kind === "EdgeSite" || kind === "EdgeFleet") checkArgs(kind, plain);
      // A server the fleet's last deployment had and its hosts no longer name: refused unless in
      // removeServers, read from the stack's state at the URN the component is about to get.
      if (kind === "EdgeFleet") await checkFleetRemovals(await urnOf(pulumi.createUrn(name, type, options.parent)), plain);
    }
    return super.construct(name, type, inputs, options);
  }
}

main(new EdgeComponentProvider({ components: [EdgeSite, EdgeFleet], name: "jupyterhub-edge", dirname }), process.argv.slice(2));
