/**
 * Addresses compared by what they mean, not how they are spelt: one server's address in every
 * spelling gives one canonical form (fleet duplicates), and an address is classed as loopback,
 * private or public (where the hub may listen).
 */
import { isIP, isIPv4, isIPv6 } from "net";

/**
 * The canonical spelling of a host address:
 * - IPv6 in RFC 5952 form without brackets or zone case differences (`2001:DB8:0::1`, `[2001:db8::1]`
 *   → `2001:db8::1`); an IPv4-mapped address (`::ffff:192.0.2.1`) is the IPv4 address it maps;
 * - IPv4 in dotted decimal (only that form passes validation: `010.0.0.1` is refused, since ssh
 *   reads it as octal 8.0.0.1 while a person reads 10.0.0.1);
 * - a host name in lower case without trailing dots (`Lab.Example.ORG.` → `lab.example.org`).
 */
export function canonicalAddress(address: string): string {
  let a = address.trim();
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  const [bare, zone] = a.split("%");
  if (isIPv6(bare)) {
    let canonical: string;
    try {
      canonical = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
    } catch {
      canonical = bare.toLowerCase();
    }
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
    if (mapped) {
      const [hi, lo] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
      return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
    }
    return zone === undefined ? canonical : `${canonical}%${zone}`;
  }
  if (isIPv4(a)) return a;
  return a.toLowerCase().replace(/\.+$/, "");
}

/** IPv4 as a 32-bit number, IPv6 as a 128-bit one (no zone, no brackets). */
export function addressValue(address: string): { bits: bigint; width: 32 | 128 } | undefined {
  const a = canonicalAddress(address).split("%")[0];
  if (isIPv4(a)) return { bits: a.split(".").reduce((acc, o) => (acc << 8n) | BigInt(o), 0n), width: 32 };
  if (!isIPv6(a)) return undefined;
  const [h, t] = a.split("::");
  const head = h ? h.split(":") : [];
  const tail = t ? t.split(":") : [];
  const groups = a.includes("::") ? [...head, ...Array(8 - head.length - tail.length).fill("0"), ...tail] : head;
  return { bits: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n), width: 128 };
}

function inNetwork(bits: bigint, width: number, network: string, prefix: number): boolean {
  const net = addressValue(network)!;
  if (net.width !== width) return false;
  const shift = BigInt(width - prefix);
  return bits >> shift === net.bits >> shift;
}

/** Networks not reachable from the internet: the hub may listen there (other than on `host`). */
const nonPublic: [string, number][] = [
  ["127.0.0.0", 8], // loopback
  ["10.0.0.0", 8],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16], // RFC 1918
  ["100.64.0.0", 10], // shared address space (CGNAT, overlay networks)
  ["169.254.0.0", 16], // link-local
  ["::1", 128],
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
];

/** How far an IP address reaches: loopback, private (RFC 1918, ULA, link-local…) or public. */
export function addressScope(address: string): "loopback" | "private" | "public" | undefined {
  const v = addressValue(address);
  if (!v || !isIP(canonicalAddress(address).split("%")[0])) return undefined;
  if (inNetwork(v.bits, v.width, "127.0.0.0", 8) || inNetwork(v.bits, v.width, "::1", 128)) return "loopback";
  return nonPublic.some(([n, p]) => inNetwork(v.bits, v.width, n, p)) ? "private" : "public";
}
