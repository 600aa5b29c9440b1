/** The certificate a TLS server presents for a name, as a client that trusts `ca` sees it. */
import * as tls from "tls";

export interface ServedCertificate {
  serial: string;
  /** subjectAltName as Node prints it: "DNS:a, DNS:b". */
  names: string;
  /** Whether the chain verifies against `ca` (for the name asked). */
  authorized: boolean;
  error?: string;
}

/** Connects to addr:port with SNI `servername` and reports the served certificate (never throws on a bad chain). */
export function servedCertificate(addr: string, servername: string, ca: string, port = 443): Promise<ServedCertificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: addr, port, servername, ca, rejectUnauthorized: false });
    s.once("secureConnect", () => {
      const cert = s.getPeerCertificate();
      resolve({ serial: cert.serialNumber, names: cert.subjectaltname ?? "", authorized: s.authorized, error: s.authorizationError?.toString() });
      s.destroy();
    });
    s.once("error", reject);
    s.setTimeout(10_000, () => {
      s.destroy();
      reject(new Error(`TLS handshake with ${addr}:${port} (${servername}) timed out`));
    });
  });
}

/**
 * The certificate served once it is no longer the one with serial `before`, polled for up to
 * `withinMs`: a graceful reload returns before the proxy's new workers take connections, and under
 * load the first handshakes after it still reach an old worker. The last one seen if none changed.
 */
export async function servedAfterChange(addr: string, servername: string, ca: string, before: string, withinMs = 20_000): Promise<ServedCertificate> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const now = await servedCertificate(addr, servername, ca);
    if (now.serial !== before || Date.now() > deadline) return now;
    await new Promise((r) => setTimeout(r, 500));
  }
}
