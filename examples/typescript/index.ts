// JupyterHub behind nginx on the dev sandbox host (scripts/deploy-dev.sh makes it), from a
// TypeScript program of your own, with the npm package. The address, key and host key may as well
// be Outputs of resources of this program (a VM, a generated key).
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { EdgeSite } from "jupyterhub-edge";

const config = new pulumi.Config();
const firstLine = (file: string) => fs.readFileSync(file, "utf8").split("\n")[0].trim();

const site = new EdgeSite("edge", {
  host: config.require("host"),
  sshPrivateKey: pulumi.secret(fs.readFileSync(config.require("sshKeyFile"), "utf8")),
  hostKey: firstLine(config.require("hostKeyFile")),
  platform: "debian-13",
  proxy: config.require("proxy"),
  hubDomain: config.require("hubDomain"),
  extraSites: [{ domain: config.require("wwwDomain") }],
});

export const url = site.url;
export const caCertificate = site.caCertificate;
export const hubBindUrl = site.hubBindUrl;
export const splitAuthPasswords = site.splitAuthPasswords;
