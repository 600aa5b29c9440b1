/**
 * The main job, end to end on this machine: deploys the dev stack (Pulumi.dev.yaml) to the local
 * sandbox host with the real engine, then acts as a user — logs in and runs a kernel through the
 * proxy — and prints where the hub is. Run through scripts/deploy-dev.sh, which prepares the
 * toolchain and the host.
 *
 *   deploy-dev.ts up | preview | destroy
 */
import * as fs from "fs";
import * as path from "path";
import { randomBytes } from "crypto";
import { edgeStack, readStackFile, repoRoot } from "./automation";
import { probeHubKernel } from "./probe/hub-probe";
import { scriptCommand, tryItCurl } from "./hints";

const stateHome = process.env.JHE_STATE_HOME ?? path.join(process.env.HOME ?? "/root", ".local/state/jupyterhub-edge");

/** A per-machine passphrase for the dev stack's secrets, created once, readable by root only. */
function devPassphrase(): string {
  if (process.env.PULUMI_CONFIG_PASSPHRASE) return process.env.PULUMI_CONFIG_PASSPHRASE;
  const file = path.join(stateHome, "dev-passphrase");
  if (!fs.existsSync(file)) {
    fs.mkdirSync(stateHome, { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, randomBytes(24).toString("base64url"), { mode: 0o600 });
  }
  return fs.readFileSync(file, "utf8").trim();
}

async function run(action: string): Promise<void> {
  const config = readStackFile(path.join(repoRoot, "Pulumi.dev.yaml"));
  const stack = await edgeStack({
    stackName: "dev",
    workDir: path.join(stateHome, "dev-project"),
    backendDir: path.join(stateHome, "backend"),
    passphrase: devPassphrase(),
    config,
  });
  const onOutput = (s: string) => process.stdout.write(s);
  if (action === "preview") {
    await stack.preview({ diff: true, onOutput });
    return;
  }
  if (action === "destroy") {
    await stack.destroy({ onOutput });
    return;
  }
  const up = await stack.up({ onOutput });
  const url = String(up.outputs.url.value);
  const caFile = path.join(stateHome, "dev-ca.pem");
  fs.writeFileSync(caFile, String(up.outputs.caCertificate.value));

  // Act as a user: log in, start a server, run code in a kernel over its websocket.
  const hostEnv = fs.readFileSync("/var/lib/jupyterhub-edge-sandbox/hosts/dev/host.env", "utf8");
  const env = Object.fromEntries([...hostEnv.matchAll(/^([A-Z_]+)='(.*)'$/gm)].map((m) => [m[1], m[2]]));
  // With split auth on, the hub's pages ask for a password first (unless this machine is in
  // allowFrom): use one of the generated ones, as a participant would type it (sent either way;
  // an allow-listed source is admitted without looking at it).
  const splitAuth = Object.entries(up.outputs).find(([k]) => k.startsWith("splitAuthPassword-"));
  const basicAuth = splitAuth ? { username: splitAuth[0].slice("splitAuthPassword-".length), password: String(splitAuth[1].value) } : undefined;
  const probe = await probeHubKernel({
    baseUrl: url,
    connectTo: { host: config.host },
    ca: String(up.outputs.caCertificate.value),
    username: env.HUB_USER,
    password: env.HUB_PASSWORD,
    basicAuth,
  });
  // The generated password for the organiser, beside the CA, readable by root only (never printed).
  const passwordFile = basicAuth ? path.join(stateHome, `dev-split-auth-${basicAuth.username}`) : undefined;
  if (passwordFile) fs.writeFileSync(passwordFile, basicAuth!.password + "\n", { mode: 0o600 });
  // Where the user typed the command (deploy-dev.sh changes to the repository first).
  const callerCwd = process.env.JHE_CALLER_CWD ?? repoRoot;
  const script = (...args: string[]) => scriptCommand(repoRoot, callerCwd, "scripts/deploy-dev.sh", ...args);
  console.log(`
jupyterhub-edge dev stack is up: ${url}
  served by ${config.proxy ?? "nginx"} on ${config.host}; a kernel answered ${JSON.stringify(probe.output.trim())} through it in ${probe.totalMs} ms
  CA certificate to trust: ${caFile}
  try it:  ${tryItCurl(url, caFile, config.host)}${basicAuth ? ` -u ${basicAuth.username}:"$(cat ${passwordFile})"` : ""}
  log in as ${env.HUB_USER} (password in /var/lib/jupyterhub-edge-sandbox/hosts/dev/host.env)${passwordFile ? `
  split auth is on: the hub's pages first ask for user ${basicAuth!.username}'s workshop password (in ${passwordFile}, mode 0600)` : ""}
  preview a change:  ${script("preview")}     tear down:  ${script("destroy")}`);
}

run(process.argv[2] ?? "up").catch((e) => {
  console.error(String(e instanceof Error ? e.message : e));
  process.exit(1);
});
