"""JupyterHub behind nginx on the dev sandbox host (scripts/deploy-dev.sh makes it), from Python.

The server's address, SSH key and host key are plain Python values here; in a program of your own
they can as well be outputs of the resources that create the server (a VM's address, a generated
key): the component waits for them and its SSH steps depend on those resources.
"""
import pulumi
import pulumi_jupyterhub_edge as jupyterhub_edge

config = pulumi.Config()


def first_line(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.readline().strip()


with open(config.require("sshKeyFile"), encoding="utf-8") as f:
    ssh_private_key = pulumi.Output.secret(f.read())

site = jupyterhub_edge.EdgeSite(
    "edge",
    host=config.require("host"),
    ssh_private_key=ssh_private_key,
    host_key=first_line(config.require("hostKeyFile")),
    platform="debian-13",
    proxy=config.require("proxy"),
    hub_domain=config.require("hubDomain"),
    extra_sites=[jupyterhub_edge.ExtraSiteArgs(domain=config.require("wwwDomain"))],
)

pulumi.export("url", site.url)
pulumi.export("caCertificate", site.ca_certificate)
pulumi.export("hubBindUrl", site.hub_bind_url)
pulumi.export("splitAuthPasswords", site.split_auth_passwords)
