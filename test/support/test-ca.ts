/**
 * A throwaway CA and per-domain leaves made with openssl, for the host tier (which runs without the
 * Pulumi engine, so without @pulumi/tls). Same shape as the program's certificates: ECDSA P-256.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CertificateMaterial } from "../../steps/plan";

export interface TestCa {
  caPem: string;
  material: CertificateMaterial[];
  dir: string;
}

export function makeTestCa(domains: string[]): TestCa {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jhe-test-ca-"));
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  run(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", "/O=jupyterhub-edge tests/CN=jupyterhub-edge test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  const material = domains.map((domain) => {
    run(["req", ...ec, "-keyout", `${domain}.key`, "-out", `${domain}.csr`, "-subj", `/CN=${domain}`]);
    fs.writeFileSync(path.join(dir, `${domain}.ext`), [
      `subjectAltName=DNS:${domain}`,
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "",
    ].join("\n"));
    run(["x509", "-req", "-in", `${domain}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "365",
      "-extfile", `${domain}.ext`, "-out", `${domain}.pem`]);
    return {
      domain,
      fullchainPem: fs.readFileSync(path.join(dir, `${domain}.pem`), "utf8"),
      privateKeyPem: fs.readFileSync(path.join(dir, `${domain}.key`), "utf8"),
    };
  });
  return { caPem: fs.readFileSync(path.join(dir, "ca.pem"), "utf8"), material, dir };
}
