/**
 * Certificates that are wrong in one way each, made with openssl (a root, an intermediate, leaves):
 * for the `provided` certificate checks. Generated once per process into a temporary directory.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface CertFixtures {
  root: string;
  intermediate: string;
  leaf: string;
  leafKey: string;
  otherKey: string;
  garbageCert: string;
  garbageKey: string;
  encryptedKey: string;
  wrongName: string;
  wrongNameKey: string;
  deepWildcard: string;
  deepWildcardKey: string;
  wildcard: string;
  wildcardKey: string;
  expired: string;
  expiredKey: string;
  future: string;
  futureKey: string;
  rsa1024: string;
  rsa1024Key: string;
  rsa2048: string;
  rsa2048Key: string;
  p384: string;
  p384Key: string;
  k256: string;
  k256Key: string;
  ed25519: string;
  ed25519Key: string;
  clientOnly: string;
  clientOnlyKey: string;
}

const utc = (d: Date) => d.toISOString().replace(/[-:T]/g, "").slice(2, 14) + "Z"; // YYMMDDHHMMSSZ

export function makeCertFixtures(): CertFixtures {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-cert-fixtures-"));
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] }).toString();
  const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
  const key = (name: string, alg: string[]) => run(["genpkey", ...alg, "-out", `${name}.key`]);
  const p256 = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
  fs.writeFileSync(path.join(dir, "ca.cnf"), [
    "[ca]", "default_ca = jhe", "[jhe]", "database = index.txt", "new_certs_dir = .", "serial = serial", "default_md = sha256",
    "policy = any", "unique_subject = no", "copy_extensions = none", "[any]", "commonName = supplied", "",
  ].join("\n"));
  fs.writeFileSync(path.join(dir, "index.txt"), "");
  fs.writeFileSync(path.join(dir, "serial"), "1000\n");

  key("root", p256);
  run(["req", "-x509", "-key", "root.key", "-out", "root.pem", "-days", "3650", "-subj", "/CN=jhe test root",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  key("int", p256);
  run(["req", "-new", "-key", "int.key", "-out", "int.csr", "-subj", "/CN=jhe test intermediate"]);
  fs.writeFileSync(path.join(dir, "int.ext"), "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n");
  run(["x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial", "-days", "3650", "-extfile", "int.ext", "-out", "int.pem"]);

  /** A leaf signed by the intermediate, valid from..to (default: now-1d .. now+90d). */
  const leaf = (name: string, san: string, alg: string[], opts: { from?: Date; to?: Date; eku?: string } = {}) => {
    key(name, alg);
    run(["req", "-new", "-key", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${san.replace(/^DNS:/, "").split(",")[0]}`]);
    fs.writeFileSync(path.join(dir, `${name}.ext`), [
      "[v3]", `subjectAltName=${san}`, "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
      `extendedKeyUsage=${opts.eku ?? "serverAuth"}`, "",
    ].join("\n"));
    const day = 86400_000;
    run(["ca", "-batch", "-notext", "-config", "ca.cnf", "-cert", "int.pem", "-keyfile", "int.key", "-in", `${name}.csr`, "-out", `${name}.pem`,
      "-extfile", `${name}.ext`, "-extensions", "v3",
      "-startdate", utc(opts.from ?? new Date(Date.now() - day)), "-enddate", utc(opts.to ?? new Date(Date.now() + 90 * day))]);
    return [read(`${name}.pem`), read(`${name}.key`)];
  };
  const day = 86400_000;
  const [leafPem, leafKey] = leaf("leaf", "DNS:hub.example.org", p256);
  const [wrongName, wrongNameKey] = leaf("wrong", "DNS:www.example.org", p256);
  const [deepWildcard, deepWildcardKey] = leaf("deep", "DNS:*.sub.example.org", p256);
  const [wildcard, wildcardKey] = leaf("wild", "DNS:*.example.org", p256);
  const [expired, expiredKey] = leaf("expired", "DNS:hub.example.org", p256, { from: new Date(Date.now() - 100 * day), to: new Date(Date.now() - 10 * day) });
  const [future, futureKey] = leaf("future", "DNS:hub.example.org", p256, { from: new Date(Date.now() + 10 * day), to: new Date(Date.now() + 100 * day) });
  const [rsa1024, rsa1024Key] = leaf("rsa1024", "DNS:hub.example.org", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]);
  const [rsa2048, rsa2048Key] = leaf("rsa2048", "DNS:hub.example.org", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
  const [p384, p384Key] = leaf("p384", "DNS:hub.example.org", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]);
  const [k256, k256Key] = leaf("k256", "DNS:hub.example.org", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"]);
  const [ed25519, ed25519Key] = leaf("ed25519", "DNS:hub.example.org", ["-algorithm", "ED25519"]);
  const [clientOnly, clientOnlyKey] = leaf("client", "DNS:hub.example.org", p256, { eku: "clientAuth" });
  key("other", p256);
  run(["pkey", "-in", "leaf.key", "-out", "leaf-enc.key", "-aes256", "-passout", "pass:not-a-real-secret"]);

  // Valid header lines around damaged base64: the old header-only check let these through.
  const damage = (pem: string) => pem.replace(/^(-----BEGIN [A-Z ]+-----\n)([A-Za-z0-9+/]{20})/, "$1AAAAAAAAAAAAAAAAAAAA");
  return {
    root: read("root.pem"),
    intermediate: read("int.pem"),
    leaf: leafPem,
    leafKey,
    otherKey: read("other.key"),
    garbageCert: "-----BEGIN CERTIFICATE-----\nthis is not base64 DER at all\n-----END CERTIFICATE-----\n",
    garbageKey: damage(leafKey),
    encryptedKey: read("leaf-enc.key"),
    wrongName, wrongNameKey, deepWildcard, deepWildcardKey, wildcard, wildcardKey, expired, expiredKey, future, futureKey,
    rsa1024, rsa1024Key, rsa2048, rsa2048Key, p384, p384Key, k256, k256Key, ed25519, ed25519Key, clientOnly, clientOnlyKey,
  };
}
