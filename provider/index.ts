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
import * as grpc from "@grpc/grpc-js";
import { readInputs, serverStateProvider } from "./server-state";
import { SERVER_STATE_TYPE } from "../steps/drift";

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

  // The package's one custom resource (provider/server-state.ts): drift of what a server was given.
  private only(urn: string): void {
    if (!urn.split("::")[2]?.endsWith(SERVER_STATE_TYPE)) throw new Error(`unknown resource type in ${urn}`);
  }
  async check(urn: string, olds: pulumi.Inputs, news: pulumi.Inputs) { this.only(urn); return serverStateProvider.check(urn, olds, news); }
  async diff(id: string, urn: string, olds: pulumi.Inputs) { this.only(urn); return serverStateProvider.diff(id, urn, olds); }
  async create(urn: string, inputs: pulumi.Inputs) { this.only(urn); return serverStateProvider.create(urn, inputs); }
  async read(id: string, urn: string, props: pulumi.Inputs) { this.only(urn); return serverStateProvider.read(id, urn, props); }
  async update(id: string, urn: string, olds: pulumi.Inputs, news: pulumi.Inputs) { this.only(urn); return serverStateProvider.update(id, urn, olds, news); }
  async delete(_id: string, urn: string) { this.only(urn); return serverStateProvider.delete(); }
}

/**
 * Hands each read request's stored inputs to the ServerState provider (readInputs says why):
 * @pulumi/pulumi's provider server (provider/server.js, 3.270) reads only `properties` from the
 * request. Wraps the `read` handler as the server registers it; everything else is untouched.
 */
const grpcServer = grpc.Server.prototype as unknown as { addService(service: unknown, impl: Record<string, unknown>): void };
const addService = grpcServer.addService;
grpcServer.addService = function (this: unknown, service: unknown, impl: Record<string, unknown>) {
  const read = impl.read as ((call: { request: ReadRequestLike }, cb: unknown) => unknown) | undefined;
  if (typeof read === "function") {
    impl.read = (call: { request: ReadRequestLike }, cb: unknown) => {
      const inputs = call.request.getInputs?.();
      if (inputs) readInputs.set(call.request.getUrn(), inputs.toJavaScript());
      return read.call(impl, call, cb);
    };
  }
  return addService.call(this, service, impl);
};
interface ReadRequestLike { getUrn(): string; getInputs?(): { toJavaScript(): Record<string, unknown> } | undefined }

main(new EdgeComponentProvider({ components: [EdgeSite, EdgeFleet], name: "jupyterhub-edge", dirname }), process.argv.slice(2));
