/**
 * The authoritative DNS server for DNS-01 tests (scripts/sandbox/dns-server.sh): Debian's BIND 9 on
 * the machine, one zone (default `dns01.test`) that takes RFC 2136 updates signed with TSIG.
 * certbot's dns-rfc2136 plugin writes its _acme-challenge TXT records there, and pebble validates
 * against it when started with `dnsUpstream` (test/support/acme.ts).
 *
 *   const dns = await startDns();
 *   const acme = await startAcme({ stateDir, ports, dnsUpstream: `127.0.0.1:${dns.port}` });
 *   await dns.addName("hub.dns01.test", host.addr);             // A record (for HTTP-01 or probes)
 *   // on the host: a 0600 ini with dns.rfc2136Credentials(host.machineAddr), then
 *   //   certbot certonly --dns-rfc2136 --dns-rfc2136-credentials INI --dns-rfc2136-propagation-seconds 2 ...
 *   const before = await dns.records();  ...  expect(await dns.records()).toEqual(before); // TXT cleaned
 *   await stopDns();
 *
 * The TSIG keys are made once and kept across stop, start and reset; the zone is kept across
 * stop/start and made fresh by resetDns().
 */
import * as fs from "fs";
import { ScriptResult, parseEnvFile, runSandboxScript } from "./sandbox-daemon";

export interface DnsServer {
  /** UDP and TCP port on every IPv4 address of the machine (a host uses its MACHINE_ADDR). */
  port: number;
  /** The zone, without the trailing dot (`dns01.test`). */
  zone: string;
  /** TSIG key name for certbot, with the trailing dot (`certbot-key.`); it may change TXT records only. */
  tsigName: string;
  /** `hmac-sha512` (BIND's spelling). certbot's ini wants it in capitals: see rfc2136Credentials. */
  tsigAlgorithm: string;
  /** The base64 TSIG secret. */
  tsigSecret: string;
  /** A 0600 file holding only that secret. */
  tsigSecretFile: string;
  /** The state directory (named.conf, zone, journal, keys, named.log). */
  stateDir: string;
  /** The parsed dns.env (DNS_PORT, DNS_ZONE, DNS_TSIG_NAME, ...). */
  env: Record<string, string>;
  /** Sets NAME's A record to ADDR (replacing its A records); NAME is in the zone, `*.` allowed. */
  addName(name: string, addr: string): Promise<void>;
  /** Removes NAME's A records. */
  removeName(name: string): Promise<void>;
  /**
   * The zone's records by AXFR, without the SOA (its serial changes on every update), sorted,
   * one `name TTL IN TYPE data` line each; `type` (e.g. "TXT") keeps only that type.
   */
  records(type?: string): Promise<string[]>;
  /** NAME's TXT values (character-strings of a record joined), sorted; [] when none. */
  txt(name: string): Promise<string[]>;
  /** Content of certbot's dns-rfc2136 credentials ini for a client reaching the server at `serverAddr` (an IP). */
  rfc2136Credentials(serverAddr: string): string;
}

export class DnsError extends Error {}

/** A private instance beside the shared one: its own state directory, port and zone. */
export interface DnsInstance {
  /** dns-server.sh's JHE_SANDBOX_DIR (it keeps its files in `<stateDir>/dns`). */
  stateDir: string;
  port: number;
  zone?: string;
}

function instanceEnv(instance?: DnsInstance): NodeJS.ProcessEnv {
  if (!instance) return process.env;
  const env: NodeJS.ProcessEnv = { ...process.env, JHE_SANDBOX_DIR: instance.stateDir, JHE_DNS_PORT: String(instance.port) };
  delete env.JHE_DNS_DIR;
  if (instance.zone) env.JHE_DNS_ZONE = instance.zone;
  return env;
}

function run(args: string[], timeoutMs = 90_000, instance?: DnsInstance): Promise<ScriptResult> {
  return runSandboxScript("dns-server.sh", args, timeoutMs, instanceEnv(instance), (m) => new DnsError(m));
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.length > 0);
}

const ipv4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Starts named (idempotent: a running one with the same port and zone is reused as it is). */
export async function startDns(instance?: DnsInstance): Promise<DnsServer> {
  const { stdout } = await run(["start"], 120_000, instance);
  const env = parseEnvFile(stdout);
  const port = Number(env.DNS_PORT);
  if (!env.DNS_ZONE || !env.DNS_TSIG_NAME || !env.DNS_TSIG_SECRET_FILE || !Number.isInteger(port)) {
    throw new DnsError(`dns-server.sh start printed no usable dns.env:\n${stdout}`);
  }
  const tsigSecret = fs.readFileSync(env.DNS_TSIG_SECRET_FILE, "utf8").trim();
  const tsigAlgorithm = env.DNS_TSIG_ALGORITHM;
  return {
    env,
    port,
    zone: env.DNS_ZONE,
    tsigName: env.DNS_TSIG_NAME,
    tsigAlgorithm,
    tsigSecret,
    tsigSecretFile: env.DNS_TSIG_SECRET_FILE,
    stateDir: env.DNS_STATE_DIR,
    async addName(name: string, addr: string): Promise<void> {
      if (!ipv4.test(addr)) throw new DnsError(`not an IPv4 address: ${addr}`);
      await run(["add-name", name, addr], 20_000, instance);
    },
    async removeName(name: string): Promise<void> {
      await run(["remove-name", name], 20_000, instance);
    },
    async records(type?: string): Promise<string[]> {
      const { stdout: out } = await run(type ? ["records", type] : ["records"], 20_000, instance);
      return lines(out);
    },
    async txt(name: string): Promise<string[]> {
      const { stdout: out } = await run(["txt", name], 20_000, instance);
      return lines(out);
    },
    rfc2136Credentials(serverAddr: string): string {
      // certbot < 4.0 looks the algorithm up as written: lowercase falls back to HMAC-MD5 (BADKEY).
      if (!ipv4.test(serverAddr)) throw new DnsError(`dns_rfc2136_server must be an IP address: ${serverAddr}`);
      return [
        `dns_rfc2136_server = ${serverAddr}`,
        `dns_rfc2136_port = ${port}`,
        `dns_rfc2136_name = ${env.DNS_TSIG_NAME}`,
        `dns_rfc2136_secret = ${tsigSecret}`,
        `dns_rfc2136_algorithm = ${tsigAlgorithm.toUpperCase()}`,
        "",
      ].join("\n");
    },
  };
}

/** Stops named (idempotent); the zone is kept for the next start. */
export async function stopDns(instance?: DnsInstance): Promise<void> {
  await run(["stop"], 60_000, instance);
}

/** Stops named and removes the zone's file and journal: the next start has a fresh zone (keys kept). */
export async function resetDns(instance?: DnsInstance): Promise<void> {
  await run(["reset"], 60_000, instance);
}

/** Whether named runs and answers for its zone (dns-server.sh status exits 0). */
export async function dnsRunning(instance?: DnsInstance): Promise<boolean> {
  try {
    await run(["status"], 20_000, instance);
    return true;
  } catch {
    return false;
  }
}
