import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { CertificateMaterial } from "../steps/plan";
import { certificateName } from "../model/site";

export interface SelfSignedCertificatesArgs {
  /** Domains to issue a leaf certificate for (one each; a wildcard `*.example.org` too). */
  domains: string[];
  /** Names each domain's leaf covers, by domain. Default: the domain alone (`*.<hub>` is added for per-user subdomains). */
  names?: Record<string, string[]>;
  /** Common name of the CA, shown in browsers' certificate viewers. Default "jupyterhub-edge CA (<stack>)". */
  caCommonName?: string;
  /** Leaf validity in hours. Default 8760 (one year: a course term with margin). */
  validityHours?: number;
  /** Hours before expiry at which `pulumi up` re-issues a leaf. Default 720 (30 days). */
  earlyRenewalHours?: number;
}

/**
 * A private CA and one leaf per domain, made with @pulumi/tls. Users (and the tests) trust `caPem`;
 * the keys live only in Pulumi state (encrypted as secrets) and in 0600 files on the host.
 */
export class SelfSignedCertificates extends pulumi.ComponentResource {
  /** The CA certificate to distribute to clients. */
  public readonly caPem: pulumi.Output<string>;
  /** Per-domain full chain and key (secret). */
  public readonly material: pulumi.Output<CertificateMaterial[]>;

  constructor(name: string, args: SelfSignedCertificatesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("jupyterhub-edge:tls:SelfSignedCertificates", name, {}, opts);
    const validityPeriodHours = args.validityHours ?? 8760;
    const earlyRenewalHours = args.earlyRenewalHours ?? 720;

    const caKey = new tls.PrivateKey(`${name}-ca-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
    const ca = new tls.SelfSignedCert(
      `${name}-ca`,
      {
        privateKeyPem: caKey.privateKeyPem,
        isCaCertificate: true,
        subject: { commonName: args.caCommonName ?? `jupyterhub-edge CA (${pulumi.getStack()})`, organization: "jupyterhub-edge" },
        validityPeriodHours: 5 * 8760,
        allowedUses: ["cert_signing", "crl_signing"],
      },
      { parent: this },
    );
    this.caPem = ca.certPem;

    const leaves = args.domains.map((domain) => {
      // Resource names from the lineage name: `*` would be a glob to anyone scripting over URNs.
      const id = certificateName(domain);
      const key = new tls.PrivateKey(`${name}-${id}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
      const csr = new tls.CertRequest(
        `${name}-${id}-csr`,
        { privateKeyPem: key.privateKeyPem, dnsNames: args.names?.[domain] ?? [domain], subject: { commonName: domain } },
        { parent: this },
      );
      const cert = new tls.LocallySignedCert(
        `${name}-${id}-cert`,
        {
          certRequestPem: csr.certRequestPem,
          caPrivateKeyPem: caKey.privateKeyPem,
          caCertPem: ca.certPem,
          validityPeriodHours,
          earlyRenewalHours,
          allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
        },
        { parent: this },
      );
      // The chain is the leaf alone: the CA is a root, which clients must already hold.
      return pulumi.all([cert.certPem, key.privateKeyPem]).apply(
        ([leafPem, keyPem]): CertificateMaterial => ({ domain, fullchainPem: leafPem, privateKeyPem: keyPem }),
      );
    });
    this.material = pulumi.secret(pulumi.all(leaves));
    this.registerOutputs({ caPem: this.caPem });
  }
}
