/**
 * SiteSpec → the capacity files: the proxy's sized main-context / MPM settings and the systemd
 * drop-in with the service's open-files (and, for Apache, tasks) limit. Pure; the numbers come from
 * model/capacity.ts, so `pulumi preview --diff` shows them in these files.
 *
 * nginx: Debian's /etc/nginx/nginx.conf sets `worker_processes` and `events { worker_connections }`
 * at its top level, where no conf.d file can reach. The capacity step (scripts/remote/capacity.sh)
 * comments those lines out with a marker and includes the managed file below in their place; destroy
 * puts the main config back byte for byte.
 * Apache: a conf-enabled file is read after mods-enabled/mpm_event.conf, and the MPM keeps the last
 * value of each directive, so these win over Debian's stock numbers.
 */
import { SiteSpec } from "../model/site";
import { Node, blank, block, comment, d, serializeApache, serializeNginx } from "./directives";
import { managedBanner } from "./tls-policy";
import { RenderedFile } from "./files";

/** Marks the lines the capacity step comments out in the main nginx.conf (and restores on undo). */
export const NGINX_MAIN_MARK = "#jhe-capacity# ";

function basisComment(site: SiteSpec): Node[] {
  const c = site.capacity;
  return comment(
    `Sized for ${c.connections} client connections at once (${c.basis}); formula in model/capacity.ts.`,
    `Estimated memory at full load: ${c.memory.neededMiB} MiB of the ${c.memory.budgetMiB} MiB allowed (host ${c.memory.hostMiB} MiB).`,
  );
}

export function serviceUnit(site: SiteSpec): string {
  return site.proxy === "nginx" ? site.platform.nginx.service : site.platform.apache.service;
}

export function dropInPath(site: SiteSpec): string {
  return `${site.platform.capacity.systemdDropInDir}/${serviceUnit(site)}.service.d/jupyterhub-edge-capacity.conf`;
}

function renderDropIn(site: SiteSpec): RenderedFile {
  const c = site.capacity;
  const lines = [
    ...managedBanner.map((l) => `# ${l}`),
    `# ${c.connections} client connections; every proxy process may hold ${c.limitNofile} open files.`,
    "[Service]",
    `LimitNOFILE=${c.limitNofile}`,
    // Apache holds one thread per open websocket, and systemd counts threads as tasks.
    ...(c.tasksMax === "infinity" ? [] : [`TasksMax=${c.tasksMax}`]),
    // Debian's apache2ctl runs `ulimit -n 8192` unless told otherwise, which would undercut LimitNOFILE.
    ...(site.proxy === "apache" && site.platform.apache.ulimitEnvironment
      ? [`Environment="${site.platform.apache.ulimitEnvironment}=ulimit -n ${c.limitNofile}"`]
      : []),
  ];
  return { path: dropInPath(site), mode: "0644", content: lines.join("\n") + "\n" };
}

function renderNginxMain(site: SiteSpec): RenderedFile {
  const n = site.capacity.nginx;
  const nodes: Node[] = [
    ...comment(...managedBanner),
    ...comment(`Included by ${site.platform.capacity.nginx.mainConfig} in place of its own worker_processes and events{}.`),
    ...basisComment(site),
    blank,
    d("worker_processes", n.workerProcesses),
    d("worker_rlimit_nofile", n.workerRlimitNofile),
    blank,
    block("events", [], [
      // Each proxied websocket is two connections (client + hub); see model/capacity.ts.
      d("worker_connections", n.workerConnections),
    ]),
  ];
  return { path: site.platform.capacity.nginx.managedMainFile, mode: "0644", content: serializeNginx(nodes) + "\n" };
}

function renderApacheMpm(site: SiteSpec): RenderedFile {
  const a = site.capacity.apache;
  const nodes: Node[] = [
    ...comment(...managedBanner),
    ...basisComment(site),
    ...comment(
      "Each open websocket holds one worker thread; ServerLimit is twice what MaxRequestWorkers needs, so",
      "a graceful reload can start new children while the old ones keep their websockets.",
    ),
    block("IfModule", ["mpm_event_module"], [
      d("ServerLimit", a.serverLimit),
      d("ThreadLimit", a.threadLimit),
      d("ThreadsPerChild", a.threadsPerChild),
      d("MaxRequestWorkers", a.maxRequestWorkers),
      d("AsyncRequestWorkerFactor", a.asyncRequestWorkerFactor),
    ]),
  ];
  return { path: site.platform.capacity.apache.managedConfFile, mode: "0644", content: serializeApache(nodes) + "\n" };
}

/** The files the capacity step owns: the proxy's sizing and the service's drop-in. */
export function renderCapacity(site: SiteSpec): { proxy: RenderedFile; dropIn: RenderedFile } {
  return { proxy: site.proxy === "nginx" ? renderNginxMain(site) : renderApacheMpm(site), dropIn: renderDropIn(site) };
}
