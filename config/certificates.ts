/**
 * Checks of `provided` certificates, done with Node's own X.509 parser before anything reaches a
 * host: every block parses, the chain is in order (each certificate issued by the next), the key
 * matches the leaf, the leaf names the domain (wildcards as browsers match them), every certificate
 * is valid now, the key is a kind browsers accept, and the leaf is meant for TLS servers.
 *
 * The PEMs are secret config: reasons name certificates by subject, dates and names (public parts
 * of a certificate), never by key material or PEM text.
 */
import { KeyObject, X509Certificate, createPrivateKey } from "crypto";

export interface CertificateProblem {
  field: "certificate" | "privateKey";
  reason: string;
}

interface PemBlock {
  label: string;
  text: string;
}

function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)) blocks.push({ label: m[1], text: m[0] });
  return blocks;
}

/** "CN=hub.example.org", or the whole subject on one line when it has no CN. */
function nameOf(cert: X509Certificate): string {
  const lines = cert.subject.split("\n");
  return lines.find((l) => l.startsWith("CN=")) ?? lines.join(", ");
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const ANY_EKU = "2.5.29.37.0";

/** Why the leaf's public key is not one browsers and both proxies accept. */
function keyKindProblem(key: KeyObject): string | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "rsa":
      return (details.modulusLength ?? 0) < 2048 ? `the leaf's RSA key has ${details.modulusLength} bits; at least 2048 are needed` : undefined;
    case "ec":
      return ["prime256v1", "secp384r1"].includes(String(details.namedCurve))
        ? undefined
        : `the leaf's EC key is on curve ${details.namedCurve}; browsers accept P-256 and P-384`;
    case "ed25519":
    case "ed448":
      return `the leaf's key is ${key.asymmetricKeyType === "ed25519" ? "Ed25519" : "Ed448"}: nginx and Apache load it, but browsers do not accept ${key.asymmetricKeyType === "ed25519" ? "Ed25519" : "Ed448"} certificates; use ECDSA P-256 or RSA 2048+`;
    default:
      return `the leaf's key type ${key.asymmetricKeyType} is not accepted; use ECDSA P-256/P-384 or RSA 2048+`;
  }
}

/** Everything wrong with one domain's provided certificate chain and key. */
export function certificateProblems(domain: string, chainPem: string, keyPem: string, now = Date.now()): CertificateProblem[] {
  const problems: CertificateProblem[] = [];
  const cert = (reason: string) => problems.push({ field: "certificate", reason });
  const key = (reason: string) => problems.push({ field: "privateKey", reason });

  const blocks = pemBlocks(chainPem);
  if (blocks.length === 0) {
    cert("must be a PEM certificate chain");
    return problems;
  }
  const chain: X509Certificate[] = [];
  blocks.forEach((b, i) => {
    if (b.label !== "CERTIFICATE") {
      cert(`block ${i + 1} is a ${b.label}, not a CERTIFICATE${/PRIVATE KEY/.test(b.label) ? " (the key goes in privateKey)" : ""}`);
      return;
    }
    try {
      chain.push(new X509Certificate(b.text));
    } catch {
      cert(`block ${i + 1} is not a certificate that parses (DER/base64 is damaged)`);
    }
  });
  if (problems.length) return problems;

  const leaf = chain[0];
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i].checkIssued(chain[i + 1]) || !chain[i].verify(chain[i + 1].publicKey)) {
      // Nothing else is meaningful while the first certificate may not be the leaf.
      cert(`the chain is out of order: certificate ${i + 2} (${nameOf(chain[i + 1])}) did not issue certificate ${i + 1} (${nameOf(chain[i])}); put the leaf first, then each issuer`);
      return problems;
    }
  }
  chain.forEach((c, i) => {
    const which = i === 0 ? "the leaf certificate" : `certificate ${i + 1} (${nameOf(c)})`;
    const from = Date.parse(c.validFrom), to = Date.parse(c.validTo);
    if (to < now) cert(`${which} expired on ${day(to)}`);
    else if (from > now) cert(`${which} is not valid before ${day(from)}`);
  });
  // A wildcard name is covered when any single label under it is (a wildcard SAN covers one label).
  const covered = domain.startsWith("*.") ? `jhe-wildcard-check.${domain.slice(2)}` : domain;
  if (!leaf.checkHost(covered, { subject: "never", wildcards: true, partialWildcards: false, multiLabelWildcards: false })) {
    cert(`the leaf certificate does not cover ${domain}: it names ${leaf.subjectAltName ?? "no DNS names (it has no subjectAltName; browsers ignore the CN)"}`);
  }
  const eku = leaf.keyUsage; // Node names the extended key usage OIDs keyUsage
  if (eku && !eku.includes(SERVER_AUTH) && !eku.includes(ANY_EKU)) cert("the leaf certificate is not for TLS servers (extendedKeyUsage lacks serverAuth)");
  const kind = keyKindProblem(leaf.publicKey);
  if (kind) cert(kind);

  const keyBlocks = pemBlocks(keyPem);
  if (keyBlocks.length !== 1 || !/PRIVATE KEY$/.test(keyBlocks[0].label)) {
    key("must be one PEM private key");
    return problems;
  }
  if (/ENCRYPTED/.test(keyBlocks[0].label) || /Proc-Type: 4,ENCRYPTED/.test(keyBlocks[0].text)) {
    key("is encrypted with a passphrase; the proxies need it unencrypted (openssl pkey -in key.pem -out plain.pem)");
    return problems;
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyBlocks[0].text);
  } catch {
    key("is not a private key that parses (DER/base64 is damaged)");
    return problems;
  }
  if (!leaf.checkPrivateKey(privateKey)) key(`does not match the leaf certificate (${nameOf(leaf)})`);
  return problems;
}
