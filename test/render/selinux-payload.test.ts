/**
 * Render tier, SELinux step: the payload is what `pulumi preview` shows, so it must say exactly
 * what will change and why. The script's own behaviour on an enforcing kernel is the selinux
 * tier's job (test/selinux/); here, the plan and the script's no-SELinux path on this machine.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import { parseConfig, ConfigError } from "../../config/schema";
import { planSteps } from "../../steps/plan";
import { installedScript } from "../../steps/remote-scripts";
import { baseConfig } from "./variants";

const plan = (extra: Record<string, unknown>) => {
  const { site } = parseConfig({ ...baseConfig, ...extra });
  return planSteps(site, "after none\n");
};
const selinuxPayload = (extra: Record<string, unknown>) => {
  const step = plan(extra).find((s) => s.name === "selinux");
  assert.ok(step, "a selinux step");
  return String(step.payload);
};
const changes = (payload: string) => payload.split("\n").filter((l) => l && !l.startsWith("#"));

test("selinux payload: TCP hub → port label + relay boolean, ACME webroot and pushed certificates labelled, each with a reason", () => {
  const p = selinuxPayload({});
  assert.deepEqual(changes(p), [
    "require auto",
    "port tcp 8000 http_port_t",
    "boolean httpd_can_network_relay on",
    "fcontext /var/lib/jupyterhub-edge-acme httpd_sys_content_t tree",
    "fcontext /etc/jupyterhub-edge/tls cert_t tree",
  ]);
  for (const line of changes(p).slice(1)) {
    const before = p.split("\n")[p.split("\n").indexOf(line) - 1];
    assert.match(before, /^# /, `'${line}' is preceded by its reason`);
  }
  assert.doesNotMatch(p, /^boolean httpd_can_network_connect/m, "never the broad any-port boolean");
});

test("selinux payload: other port, unix socket, web roots outside /var/www, ACME certificates, on/off", () => {
  assert.match(selinuxPayload({ hubUpstream: "http://127.0.0.1:8765" }), /^port tcp 8765 http_port_t$/m);
  const unix = changes(selinuxPayload({ hubUpstream: "unix:/run/jupyterhub/hub.sock" }));
  assert.ok(unix.includes("fcontext /run/jupyterhub httpd_var_run_t tree"), "the socket's own directory");
  assert.ok(!unix.some((l) => l.startsWith("port ") || l.startsWith("boolean ")), "no port label or boolean for a socket");
  assert.ok(changes(selinuxPayload({ hubUpstream: "unix:/run/hub.sock" })).includes("fcontext /run/hub.sock httpd_var_run_t file"), "a shared directory is never relabelled");
  assert.match(selinuxPayload({ httpsPort: 9443 }), /^port tcp 9443 http_port_t$/m);
  assert.doesNotMatch(selinuxPayload({}), /^port tcp 443 /m);
  assert.doesNotMatch(selinuxPayload({ httpsPort: 8443 }), /^port tcp 8443 /m, "8443 is http_port_t in every policy");
  const roots = changes(selinuxPayload({ extraSites: [{ domain: "www.example.org" }, { domain: "docs.example.org", root: "/srv/docs" }] }));
  assert.ok(roots.includes("fcontext /srv/docs httpd_sys_content_t tree"));
  assert.ok(!roots.some((l) => l.includes("/var/www/")), "/var/www is web content in every policy already");
  assert.match(selinuxPayload({ hubPath: "/jhub/", hubOutsidePath: "/opt/landing" }), /^fcontext \/opt\/landing httpd_sys_content_t tree$/m);
  const acme = changes(selinuxPayload({ certificateMode: "acme", acmeEmail: "a@example.org" }));
  assert.ok(acme.includes("fcontext /etc/letsencrypt cert_t tree"));
  assert.ok(!acme.includes("fcontext /etc/jupyterhub-edge/tls cert_t tree"), "nothing pushed, nothing to label");
  assert.match(selinuxPayload({ selinux: "on" }), /^require on$/m);
  assert.ok(!plan({ selinux: "off" }).some((s) => s.name === "selinux"), "off: no step at all");
  const order = plan({}).map((s) => s.name);
  assert.ok(order.indexOf("selinux") < order.indexOf("proxy-http"), "labels before the proxy serves");
  assert.deepEqual(plan({}).find((s) => s.name === "proxy-http")!.after.includes("selinux"), true);
});

test("selinux key: a bad value is refused naming key and rule", () => {
  assert.throws(() => parseConfig({ ...baseConfig, selinux: "permissive" }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.deepEqual(e.problems, ['jupyterhub-edge:selinux: must be auto, on or off (got "permissive")']);
    return true;
  });
});

// This machine has no SELinux: the script's auto path must do nothing, and `require on` must fail.
const machineHasSelinux = spawnSync("sh", ["-c", "command -v selinuxenabled && selinuxenabled"]).status === 0;
test("selinux script on a host without SELinux: auto does nothing, on refuses", { skip: machineHasSelinux || process.getuid?.() !== 0 ? "needs root on a machine without SELinux" : false }, () => {
  const run = (payload: string) => spawnSync("bash", ["-c", installedScript("selinux").text, "selinux-script", "selinux", "apply"], { input: payload, encoding: "utf8" });
  const auto = run(selinuxPayload({}));
  assert.equal(auto.status, 0, auto.stderr);
  assert.match(auto.stdout, /SELinux is not enabled on this host \(selinuxenabled\): nothing to do/);
  const on = run(selinuxPayload({ selinux: "on" }));
  assert.equal(on.status, 1);
  assert.match(on.stderr, /jupyterhub-edge:selinux is on, but SELinux is not enabled on this host/);
  const bad = run("require auto\nport tcp 8000 http_port_t; rm -rf /\n");
  assert.equal(bad.status, 1, "a malformed line is refused before anything else");
  assert.match(bad.stderr, /malformed/);
});
