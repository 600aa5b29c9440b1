/**
 * The local ACME CA for tests (scripts/sandbox/acme-server.sh): Debian's pebble on the machine,
 * with pebble-challtestsrv as its DNS server. certbot inside a sandbox host gets real certificates
 * from it, validated over HTTP-01 on the host's port 80 (through the proxy under test).
 *
 *   const acme = await startAcme();
 *   await acme.addName("hub.example.test", host.addr);          // pebble resolves the name to the host
 *   // on the host: REQUESTS_CA_BUNDLE=<copy of acme.listenerCaPem> certbot certonly --webroot ...
 *   //              --server acme.directoryUrl(host.machineAddr)
 *   const root = await acme.issuingRootPem();                    // trust this in probes / testssl
 *   ...
 *   await stopAcme();
 *
 * pebble's issuing root changes on every pebble start: fetch it after startAcme(), not once per
 * suite run. The listener CA (for certbot's REQUESTS_CA_BUNDLE) is kept across restarts.
 */
import * as fs from "fs";
import { ScriptResult, parseEnvFile, runSandboxScript } from "./sandbox-daemon";
import { SandboxHost, SshResult, ssh } from "./sandbox";

export interface AcmeServer {
  /** The ACME directory as a sandbox host reaches it: https://<its MACHINE_ADDR>:14000/dir. */
  directoryUrl(hostMachineAddr: string): string;
  /** The directory from the machine itself (loopback). */
  localDirectoryUrl: string;
  /** PEM of the CA of pebble's own HTTPS listener: certbot's REQUESTS_CA_BUNDLE on the host. */
  listenerCaPem: string;
  /** Path of that CA on the machine. */
  listenerCaFile: string;
  /** PEM of pebble's current issuing root (management port /roots/0); issued chains end there. */
  issuingRootPem(): Promise<string>;
  /** Makes NAME resolve to ADDR (IPv4) for pebble's validation; replaces an earlier mapping. */
  addName(name: string, addr: string): Promise<void>;
  removeName(name: string): Promise<void>;
  /** The parsed acme.env (ACME_DIRECTORY, ACME_PORT, ACME_LISTENER_CA, ...). */
  env: Record<string, string>;
}

export class AcmeError extends Error {}

/**
 * A second, private pebble pair beside the shared one: its own state directory and ports, so a
 * test may stop it (ACME server down) without taking the shared one from other tests.
 */
export interface AcmeInstance {
  /** State directory (acme-server.sh's JHE_SANDBOX_DIR; it keeps its files in `<dir>/acme`). */
  stateDir: string;
  /** ACME, management, DNS and challtestsrv management ports. */
  ports: [number, number, number, number];
  /**
   * HOST:PORT of a DNS server pebble resolves through instead of challtestsrv (JHE_ACME_DNS_UPSTREAM),
   * e.g. `127.0.0.1:${dns.port}` of test/support/dns-server.ts: DNS-01 then validates against it,
   * and addName/removeName refuse (names live in that server).
   */
  dnsUpstream?: string;
  /** kid -> HMAC key (base64url, as certbot's --eab-hmac-key): pebble requires EAB (JHE_ACME_EAB_KEYS). */
  eabKeys?: Record<string, string>;
}

function instanceEnv(instance?: AcmeInstance): NodeJS.ProcessEnv {
  if (!instance) return process.env;
  const [acme, mgmt, dns, cts] = instance.ports.map(String);
  const env: NodeJS.ProcessEnv = { ...process.env, JHE_SANDBOX_DIR: instance.stateDir, JHE_ACME_PORT: acme, JHE_ACME_MGMT_PORT: mgmt, JHE_ACME_DNS_PORT: dns, JHE_ACME_CTS_PORT: cts };
  delete env.JHE_ACME_DNS_UPSTREAM;
  delete env.JHE_ACME_EAB_KEYS;
  if (instance.dnsUpstream) env.JHE_ACME_DNS_UPSTREAM = instance.dnsUpstream;
  const eab = Object.entries(instance.eabKeys ?? {});
  if (eab.length) env.JHE_ACME_EAB_KEYS = eab.map(([kid, hmac]) => `${kid}=${hmac}`).join(" ");
  return env;
}

function run(args: string[], timeoutMs = 90_000, instance?: AcmeInstance): Promise<ScriptResult> {
  return runSandboxScript("acme-server.sh", args, timeoutMs, instanceEnv(instance), (m) => new AcmeError(m));
}

const ipv4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Starts pebble and challtestsrv (idempotent: a running pair is reused as it is); `instance`: a private pair. */
export async function startAcme(instance?: AcmeInstance): Promise<AcmeServer> {
  const { stdout } = await run(["start"], 90_000, instance);
  const env = parseEnvFile(stdout);
  const template = env.ACME_DIRECTORY_FOR_HOST;
  const caFile = env.ACME_LISTENER_CA;
  if (!template || !caFile || !env.ACME_DIRECTORY) {
    throw new AcmeError(`acme-server.sh start printed no usable acme.env:\n${stdout}`);
  }
  const listenerCaPem = fs.readFileSync(caFile, "utf8");
  return {
    env,
    localDirectoryUrl: env.ACME_DIRECTORY,
    listenerCaFile: caFile,
    listenerCaPem,
    directoryUrl(hostMachineAddr: string): string {
      if (!ipv4.test(hostMachineAddr)) throw new AcmeError(`not an IPv4 address: ${hostMachineAddr}`);
      return template.replace("{MACHINE_ADDR}", hostMachineAddr);
    },
    async issuingRootPem(): Promise<string> {
      const { stdout: pem } = await run(["ca"], 20_000, instance);
      if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new AcmeError(`acme-server.sh ca printed no certificate`);
      return pem.trim() + "\n";
    },
    async addName(name: string, addr: string): Promise<void> {
      await run(["add-name", name, addr], 20_000, instance);
    },
    async removeName(name: string): Promise<void> {
      await run(["remove-name", name], 20_000, instance);
    },
  };
}

/** Stops both daemons (idempotent) and forgets the names. */
export async function stopAcme(instance?: AcmeInstance): Promise<void> {
  await run(["stop"], 60_000, instance);
}

/** Whether the pair runs (acme-server.sh status exits 0). */
export async function acmeRunning(): Promise<boolean> {
  try {
    await run(["status"], 20_000);
    return true;
  } catch {
    return false;
  }
}

/**
 * One renewal run of the distro's own certbot.service (what certbot.timer starts, with its
 * environment and our drop-in). A fresh certificate is not due yet, so certbot's cli.ini forces
 * this one run, and is put back as it was. Returns the SSH result (stdout ends `exit=<status>`).
 */
export function renewAsTheTimerWould(host: SandboxHost): SshResult {
  return ssh(host, [
    "cp -a /etc/letsencrypt/cli.ini /root/cli.ini.saved 2>/dev/null; echo 'force-renewal = true' >>/etc/letsencrypt/cli.ini",
    "systemctl start certbot.service; echo exit=$?",
    "if [ -e /root/cli.ini.saved ]; then mv /root/cli.ini.saved /etc/letsencrypt/cli.ini; else rm -f /etc/letsencrypt/cli.ini; fi",
  ].join("; "));
}
