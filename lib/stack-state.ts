/**
 * The URNs of the running stack's last checkpoint, read through the engine's own builtin invoke
 * `pulumi:pulumi:readStackResourceOutputs` (a read: it adds no resource of ours and changes nothing).
 *
 * Why synchronously, from a short-lived child process: an EdgeFleet must refuse to drop a server
 * before the program's run can end as a success. A refusal found later, in an Output, is only an
 * unhandled rejection; the Node SDK's Automation API host signals "program done" to the engine —
 * which then deletes every resource not declared — before it looks at such errors (seen: an inline
 * program lost the dropped server's site that way). Thrown in the constructor, the refusal fails
 * the program function itself, and the engine deletes nothing, in every host (`pulumi up`, inline
 * programs, the component provider). Node has no synchronous gRPC, so a child `node` makes the one
 * invoke against the same resource monitor and prints the URNs (~0.5 s, once per fleet and run).
 */
import { spawnSync } from "child_process";
import * as path from "path";

/** The resource monitor's address of the running deployment, or undefined (mocks, no engine). */
function monitorAddress(): string | undefined {
  // Not in the SDK's typings; the same store its own getMonitor() reads.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { getStore } = require("@pulumi/pulumi/runtime/state") as { getStore(): { settings: { options: { monitorAddr?: string } } } };
  const addr = getStore().settings.options.monitorAddr;
  return addr && addr !== "mock" && /:\d+$/.test(addr) ? addr : undefined;
}

const CHILD = `
const [grpcPath, servicePath, messagesPath, structPath] = JSON.parse(process.env.JHE_MODULES);
const grpc = require(grpcPath);
const { ResourceMonitorClient } = require(servicePath);
const { ResourceInvokeRequest } = require(messagesPath);
const { Struct } = require(structPath);
const client = new ResourceMonitorClient(process.env.JHE_MONITOR, grpc.credentials.createInsecure());
const req = new ResourceInvokeRequest();
req.setTok("pulumi:pulumi:readStackResourceOutputs");
req.setArgs(Struct.fromJavaScript({ stackName: process.env.JHE_STACK }));
client.invoke(req, (err, resp) => {
  if (err) { process.stderr.write(String(err.details || err.message)); process.exit(1); }
  const failures = resp.getFailuresList().map((f) => f.getReason());
  if (failures.length) { process.stderr.write(failures.join("; ")); process.exit(1); }
  const ret = resp.getReturn() ? resp.getReturn().toJavaScript() : {};
  process.stdout.write(JSON.stringify(Object.keys(ret.outputs || {})));
  process.exit(0);
});
`;

/**
 * The URNs of `stackName`'s last checkpoint, synchronously; undefined when no engine runs this
 * program (Pulumi's mocks: the caller then reads through the SDK's invoke, asynchronously).
 */
export function stackUrnsSync(stackName: string): string[] | undefined {
  const monitor = monitorAddress();
  if (!monitor) return undefined;
  const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
  const modules = [
    require.resolve("@grpc/grpc-js", { paths: [pulumiDir] }),
    path.join(pulumiDir, "proto", "resource_grpc_pb.js"),
    path.join(pulumiDir, "proto", "resource_pb.js"),
    require.resolve("google-protobuf/google/protobuf/struct_pb.js", { paths: [pulumiDir] }),
  ];
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  const r = spawnSync(process.execPath, ["-e", CHILD], {
    env: { ...env, JHE_MONITOR: monitor, JHE_STACK: stackName, JHE_MODULES: JSON.stringify(modules) },
    encoding: "utf8",
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`reading the stack's state (${stackName}) for the fleet's removal check failed: ${(r.stderr || String(r.error ?? r.signal)).trim().slice(-500)}`);
  return JSON.parse(r.stdout) as string[];
}
