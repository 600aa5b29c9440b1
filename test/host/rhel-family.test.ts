/**
 * Host tier: the RHEL family's paths of the remote scripts, apply and undo, on a Debian sandbox host
 * made to look like RHEL 9 (test/host/rhel/stand-ins.sh: /etc/os-release says rhel 9.4; dnf, rpm,
 * apachectl, firewall-cmd, fail2ban-client, certbot, an enforcing host's SELinux tools and a
 * systemctl answering for httpd/fail2ban/firewalld/certbot-renew stand in front on the PATH and log
 * their argv). The plan for platform rhel-9 runs step by step as the components run it; the test
 * checks what each RHEL branch asked the stand-ins to do, and that undo leaves the host as found.
 * (No RHEL host here: the stand-ins prove the scripts take the platform table's RHEL facts and
 * reverse them; the real tools' behaviour is the selinux guest's and the Debian hosts' job.)
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { parseConfig } from "../../config/schema";
import { Step, certificatePayload, planSteps } from "../../steps/plan";
import { makeTestCa, TestCa } from "../support/test-ca";
import { SandboxHost, createHost, fingerprint, fingerprintDiff, removeHost, runStep, ssh } from "../support/sandbox";

const HUB = "hub.rhel.test";
const WWW = "www.rhel.test";
const hostName = "rhel9";
const standIns = fs.readFileSync(path.join(__dirname, "rhel", "stand-ins.sh"), "utf8");
let host: SandboxHost;
let ca: TestCa;
let asFound: string;

before(() => {
  host = createHost(hostName, "trixie");
  ca = makeTestCa([HUB, WWW]);
  const r = ssh(host, "bash -s install", standIns);
  assert.equal(r.status, 0, r.stderr);
  asFound = fingerprint(host);
});
after(() => {
  if (host && process.env.JHE_KEEP_HOSTS !== "1") removeHost(hostName);
  if (ca) fs.rmSync(ca.dir, { recursive: true, force: true });
});

const log = (): string => ssh(host, "cat /var/log/jhe-stubs.log 2>/dev/null; : >/var/log/jhe-stubs.log").stdout;
/** The stand-ins' own state (an absent boolean is off). */
const stubState = (): string => ssh(host, "cd /var/lib/jhe-stub && for f in rpms semanage.local fw-runtime fw-permanent; do echo \"== $f\"; cat $f; done; for f in bool.*; do [[ -e $f && $(cat $f) != off ]] && echo \"$f $(cat $f)\"; done; true").stdout;

function run(steps: Step[], mode: "apply" | "undo"): string[] {
  return (mode === "apply" ? steps : [...steps].reverse()).map((step) => {
    const r = runStep(host, step, mode);
    assert.equal(r.status, 0, `${step.name} ${mode} failed:\n${r.stdout}\n${r.stderr}`);
    return `${step.name} ${mode}: ${r.stdout.trim().split("\n").pop() ?? ""}`;
  });
}

function planFor(extra: Record<string, unknown>): Step[] {
  const { site } = parseConfig({ proxy: "apache", host: host.addr, sshPrivateKeyFile: host.sshKey, hostKey: host.hostKey, platform: "rhel-9", hubDomain: HUB, extraSites: [{ domain: WWW }], ...extra });
  assert.equal(site.platform.id, "rhel-9");
  return planSteps(site, certificatePayload(site, ca.material));
}

/** Script × mode × branch run on the RHEL family by this file (for the report). */
const paths = new Set<string>();

test("an Apache site with its own certificates: every step's RHEL branch, apply then undo, host as found", () => {
  const stubsBefore = stubState();
  const steps = planFor({});
  const applied = run(steps, "apply");
  console.log(applied.map((l) => `# ${l}`).join("\n"));
  const calls = log();
  // preflight: RHEL's os-release, major-version match, dnf present.
  assert.ok(applied.some((l) => /^preflight apply: jupyterhub-edge preflight: host is rhel 9\.4/.test(l)), "preflight took the host for rhel 9.4");
  paths.add("preflight apply (dnf, major version)");
  // packages: dnf installs the table's packages; rpm says what was there.
  assert.match(calls, /^dnf -y -q --setopt=install_weak_deps=False install httpd mod_ssl mod_http2$/m);
  assert.match(calls, /^dnf -y -q --setopt=install_weak_deps=False install epel-release$/m, "the repository first, its own transaction");
  assert.match(calls, /^rpm -qa --qf/m);
  paths.add("packages apply (dnf)").add("packages apply (dnf, repository first)");
  // apache-modules: conf.modules.d — the module no package file loads gets our LoadModule line.
  assert.match(ssh(host, "cat /etc/httpd/conf.modules.d/90-jupyterhub-edge.conf").stdout, /^LoadModule headers_module modules\/mod_headers\.so$/m);
  assert.match(calls, /^apachectl -M$/m);
  paths.add("apache-modules apply (conf.modules.d)");
  // files: httpd's config test is apachectl's (the shipped table), reload through systemctl, TLS handshake on 443.
  assert.match(calls, /^apachectl configtest$/m);
  assert.match(calls, /^systemctl (reload|start) -- httpd$/m);
  assert.ok(applied.some((l) => /^proxy-config apply: .*file set proxy-config: \d+ file\(s\), changed/.test(l) || /^proxy-config apply: file set/.test(l)), applied.join("\n"));
  paths.add("files apply (after httpd, handshake)").add("files apply (after none)");
  // fail2ban's jail: its config test through the table too.
  if (steps.some((s) => s.name === "fail2ban-jail")) {
    assert.match(calls, /^fail2ban-client --test$/m);
    paths.add("files apply (after fail2ban)").add("packages apply (dnf, fail2ban)");
  }
  // firewall: firewalld's default zone, runtime and permanent.
  assert.match(calls, /^firewall-cmd -q --permanent --zone=public --add-port=443\/tcp$/m);
  assert.match(calls, /^firewall-cmd -q --zone=public --add-port=80\/tcp$/m);
  paths.add("firewall apply (firewalld)");
  // selinux: one semanage transaction on an enforcing host.
  assert.match(calls, /^semanage import$/m);
  assert.match(ssh(host, "cat /var/lib/jhe-stub/semanage.local").stdout, /^(port|boolean|fcontext) /m);
  paths.add("selinux apply (enforcing)");
  // capacity: RHEL's conf.d sizing file and httpd's drop-in; httpd's config test; the parent's limit.
  assert.equal(ssh(host, "test -f /etc/httpd/conf.d/jupyterhub-edge-capacity.conf && test -f /etc/systemd/system/httpd.service.d/jupyterhub-edge-capacity.conf 2>/dev/null || ls /etc/systemd/system/httpd.service.d/; echo $?").stdout.trim().split("\n").pop(), "0");
  paths.add("capacity apply (httpd)");

  // A second apply changes nothing (the RHEL branches are idempotent too).
  const second = run(steps, "apply");
  assert.ok(second.some((l) => /^proxy-config apply: .*unchanged/.test(l)), second.join("\n"));
  log();

  const undone = run(steps, "undo");
  console.log(undone.map((l) => `# ${l}`).join("\n"));
  const undoCalls = log();
  assert.match(undoCalls, /^dnf -y -q --setopt=clean_requirements_on_remove=False remove /m);
  assert.match(undoCalls, /^firewall-cmd -q --permanent --zone=public --remove-port=443\/tcp$/m);
  assert.match(undoCalls, /^semanage import$/m);
  paths.add("packages undo (dnf)").add("firewall undo (firewalld)").add("selinux undo (enforcing)");
  // files.sh's undo takes httpd (it once refused it): removed our vhosts, tested and reloaded.
  assert.ok(undone.some((l) => /^proxy-config undo: .*removed file set proxy-config/.test(l)), undone.join("\n"));
  paths.add("files undo (after httpd)").add("files undo (after none)");
  if (steps.some((s) => s.name === "fail2ban-jail")) paths.add("files undo (after fail2ban)");
  assert.ok(undone.some((l) => /^apache-modules undo: removed \/etc\/httpd\/conf\.modules\.d\/90-jupyterhub-edge\.conf/.test(l)) || undone.some((l) => /^apache-modules undo/.test(l)));
  paths.add("apache-modules undo (conf.modules.d)").add("capacity undo (httpd)").add("preflight undo");
  assert.equal(fingerprintDiff(asFound, fingerprint(host)), "", "undo leaves the RHEL-looking host as found");
  assert.equal(stubState(), stubsBefore, "packages, firewall ports, SELinux rules and booleans as found");
});

test("ACME with a private CA on RHEL: certbot-renew's drop-in, RHEL's trust store, undo from the recorded drop-in", () => {
  const stubsBefore = stubState();
  const steps = planFor({ certificateMode: "acme", acmeEmail: "admin@example.org", acmeServer: "https://acme.rhel.test/directory", acmeCaBundlePem: ca.caPem });
  const certbotStep = steps.find((s) => s.name === "acme-certificates");
  assert.ok(certbotStep, "the plan orders certificates");
  assert.match(String(certbotStep.payload), /^renewal_dropin \/etc\/systemd\/system\/certbot-renew\.service\.d\/jupyterhub-edge\.conf$/m);
  assert.match(String(certbotStep.payload), /^system_ca_bundle \/etc\/pki\/tls\/certs\/ca-bundle\.crt$/m);
  run(steps, "apply");
  const calls = log();
  assert.match(calls, /^certbot certonly /m);
  assert.match(calls, /^REQUESTS_CA_BUNDLE=\/etc\/jupyterhub-edge\/acme-ca-bundle\.pem$/m);
  assert.match(ssh(host, "cat /etc/systemd/system/certbot-renew.service.d/jupyterhub-edge.conf").stdout, /^Environment=REQUESTS_CA_BUNDLE=\/etc\/jupyterhub-edge\/acme-ca-bundle\.pem$/m);
  // The bundle: RHEL's system trust store, then the private CA.
  const bundle = ssh(host, "cat /etc/jupyterhub-edge/acme-ca-bundle.pem").stdout;
  const system = ssh(host, "cat /etc/pki/tls/certs/ca-bundle.crt").stdout;
  assert.ok(bundle.startsWith(system) && bundle.endsWith(ca.caPem.endsWith("\n") ? ca.caPem : `${ca.caPem}\n`), "system bundle + private CA");
  assert.match(ssh(host, "cat /etc/letsencrypt/renewal-hooks/deploy/jupyterhub-edge").stdout, /^systemctl try-reload-or-restart -- httpd$/m);
  assert.match(calls, /^dnf -y -q --setopt=install_weak_deps=False install certbot python3-certbot$/m);
  paths.add("certbot apply (private CA, RHEL trust store, certbot-renew drop-in)").add("packages apply (dnf, certbot)");
  run(steps, "undo");
  assert.match(log(), /^certbot delete /m);
  assert.equal(ssh(host, "ls /etc/systemd/system/certbot-renew.service.d 2>&1 >/dev/null | grep -c 'No such' || true").stdout.trim(), "1", "the drop-in and its directory are gone");
  paths.add("certbot undo (recorded drop-in)").add("packages undo (dnf, certbot)");
  assert.equal(fingerprintDiff(asFound, fingerprint(host)), "", "undo leaves the RHEL-looking host as found");
  assert.equal(stubState(), stubsBefore);
  console.log(`# RHEL-family paths run: ${paths.size}\n${[...paths].sort().map((p) => `#   ${p}`).join("\n")}`);
});
