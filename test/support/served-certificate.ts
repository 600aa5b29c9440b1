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
