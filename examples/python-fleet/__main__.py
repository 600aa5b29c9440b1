"""A workshop fleet from Python: JupyterHub behind nginx on several servers, one EdgeFleet.

Each server gets its own edge (resources `workshop-<name>`), configured in parallel. Removing a
server from `servers` would delete its site, CA and split-auth passwords for good, so the fleet
refuses it (before anything changes) until the server is also named in `remove_servers`:

    pulumi config set --path 'removeServers[0]' room2

Take the name out again before adding that server back. The addresses, keys and host keys are plain
values here; in a program of your own they can as well be outputs of the resources that create the
servers.
"""
import pulumi
import pulumi_jupyterhub_edge as jupyterhub_edge

config = pulumi.Config()


def first_line(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.readline().strip()


servers = config.require_object("servers")

fleet = jupyterhub_edge.EdgeFleet(
    "workshop",
    hosts=[
        jupyterhub_edge.EdgeFleetHostArgs(
            name=s["name"],
            host=s["host"],
            ssh_private_key_file=s["sshKeyFile"],
            host_key=first_line(s["hostKeyFile"]),
            hub_domain=s["hubDomain"],
        )
        for s in servers
    ],
    platform="debian-13",
    proxy="nginx",
    remove_servers=config.get_object("removeServers"),
)

pulumi.export("urls", fleet.urls)
pulumi.export("caCertificates", fleet.ca_certificates)
pulumi.export("hubBindUrls", fleet.hub_bind_urls)
pulumi.export("splitAuthPasswords", fleet.split_auth_passwords)
