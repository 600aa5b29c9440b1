/**
 * Workshop capacity: how many connections the proxy must hold, and the proxy, service and kernel
 * limits that follow. Pure arithmetic over the stack's numbers and the platform's data, so the
 * preview shows every figure (they are in the rendered files) and tests can check the formula.
 *
 * ## Rule of thumb, per participant (a JupyterLab user at a workshop)
 *
 *   1 browser tab with JupyterLab            → 1 events websocket (/api/events/subscribe)
 *   2 open notebooks, 1 kernel each          → 2 kernel websockets (/api/kernels/…/channels)
 *   static files and API calls               → 2 connections (HTTP/2: one per origin and tab, plus
 *                                              a second tab or a reconnect in flight)
 *   ─────────────────────────────────────────────────────────────────────────────
 *   5 client connections held through the proxy, +10 % headroom (reconnect storms at 9:00)
 *
 * `expectedParticipants × 5 × 1.1` is the number of client connections the proxy is sized for
 * (`maxConnections` overrides it). It never goes below the distribution's stock limits.
 *
 * ## From connections to limits
 *
 * nginx: a proxied websocket is two nginx connections (client + upstream) and two open files in
 *   one worker. A worker stops accepting when fewer than 1/8 of its connections are free (nginx's
 *   accept_disabled), so usable = 7/8 of worker_connections; the other workers pick up the rest.
 *     perWorkerFiles    = openFilesLimit − reserve (listen sockets, logs, temp files)
 *     worker_processes  = max(platform minimum, ⌈2C / (perWorkerFiles × 7/8)⌉)
 *     worker_connections= ⌈2C / worker_processes / (7/8)⌉, rounded up to 512, ≥ stock
 *     worker_rlimit_nofile = openFilesLimit
 * Apache event MPM: each open websocket holds one worker thread for its whole life (2.4 has no
 *   async tunnelling), and two open files in that child.
 *     ThreadsPerChild   = min(platform cap, ⌊perChildFiles / 2⌋, max(25, ⌈C / 8⌉))
 *     MaxRequestWorkers = ⌈C / ThreadsPerChild⌉ × ThreadsPerChild (≥ stock 150)
 *     ServerLimit       = max(stock 16, 2 × MaxRequestWorkers / ThreadsPerChild): a graceful reload
 *                         starts a new generation of children while the old ones keep their
 *                         websockets (and their scoreboard slots) — without the second half a
 *                         reload under load has no room to start in.
 *     ThreadLimit       = max(stock 64, ThreadsPerChild). ServerLimit and ThreadLimit only change
 *                         with a new parent: the capacity step restarts Apache only when they grow
 *                         past what the running parent started with, else it reloads gracefully
 *                         (setting the parent's open-files limit in place with prlimit, or, where
 *                         that is not allowed, keeping a running limit that covers a child's files).
 *     AsyncRequestWorkerFactor = platform value (only idle keep-alive and lingering-close
 *                         connections are asynchronous).
 *     TasksMax          = ServerLimit × (ThreadsPerChild + 4) + 64 (systemd counts threads; every
 *                         thread also takes a PID, so the host's kernel.pid_max must leave room for
 *                         them beside what already runs — checked on the host, never raised)
 * Both: the service's LimitNOFILE = openFilesLimit; the kernel's fs.nr_open must allow it and
 *   fs.file-max must allow every proxy file at once: both are checked on the host, never lowered.
 *
 * ## Memory
 * `memoryPerConnectionKiB` per proxy is measured (bench/RESULTS.md: RSS growth of the proxy's
 * processes per held TLS websocket). The sizing is refused at preview when
 *   baseMiB + C × memoryPerConnectionKiB / 1024  >  memoryShare × hostMemoryMb
 * (hostMemoryMb as declared, else the platform's assumed minimum), and again on the host against
 * MemTotal before anything changes.
 */
import { PlatformFacts } from "./platforms";
import { ProxyKind } from "./proxy";

/** The rule of thumb above, as data (documented there). */
export const perParticipant = {
  eventsWebsockets: 1,
  kernelWebsockets: 2,
  requestConnections: 2,
  headroomPercent: 10,
} as const;

export const connectionsPerParticipant =
  perParticipant.eventsWebsockets + perParticipant.kernelWebsockets + perParticipant.requestConnections;

/** What the sizing starts from: the stack's numbers (0 = derive). */
export interface CapacityInput {
  expectedParticipants: number;
  /** Client connections to hold; 0 = from expectedParticipants. */
  maxConnections: number;
  /** Open files per proxy process (the service's LimitNOFILE). */
  openFilesLimit: number;
  /** Declared host memory in MiB; 0 = not declared (the platform's assumed minimum applies). */
  hostMemoryMb: number;
}

export interface NginxSizing {
  workerProcesses: number;
  workerConnections: number;
  workerRlimitNofile: number;
}

export interface ApacheSizing {
  serverLimit: number;
  threadLimit: number;
  threadsPerChild: number;
  maxRequestWorkers: number;
  asyncRequestWorkerFactor: number;
}

export interface CapacityPlan {
  /** Client connections (websockets + requests) the proxy is sized to hold at once. */
  connections: number;
  /** Where `connections` came from, for the preview's comments. */
  basis: string;
  /** The proxy service's LimitNOFILE. */
  limitNofile: number;
  /** systemd TasksMax for the proxy service ("infinity" when the MPM is not threaded per connection). */
  tasksMax: number | "infinity";
  /** Minimum fs.nr_open and fs.file-max the host must already allow (checked, never lowered). */
  kernel: { nrOpen: number; fileMax: number };
  /** Estimated proxy memory at full load, MiB, and what it may use on this host. */
  memory: { neededMiB: number; budgetMiB: number; hostMiB: number; hostMemoryDeclared: boolean };
  nginx: NginxSizing;
  apache: ApacheSizing;
}

const ceilTo = (n: number, step: number) => Math.ceil(n / step) * step;

export function connectionsFor(input: CapacityInput): { connections: number; basis: string } {
  if (input.maxConnections > 0) return { connections: input.maxConnections, basis: `maxConnections ${input.maxConnections}` };
  // Integer arithmetic: 300 × 5 × 1.1 is 1650.0000000000002 in floating point.
  const connections = Math.ceil((input.expectedParticipants * connectionsPerParticipant * (100 + perParticipant.headroomPercent)) / 100);
  return {
    connections,
    basis: `expectedParticipants ${input.expectedParticipants} × ${connectionsPerParticipant} connections + ${perParticipant.headroomPercent} % headroom`,
  };
}

export function sizeNginx(connections: number, openFilesLimit: number, p: PlatformFacts): NginxSizing {
  const c = p.capacity.nginx;
  const nginxConnections = 2 * connections;
  const usable = 7 / 8;
  const perWorkerFiles = openFilesLimit - p.capacity.reservedFiles;
  const workerProcesses = Math.max(c.minWorkerProcesses, Math.ceil(nginxConnections / (perWorkerFiles * usable)));
  const workerConnections = Math.min(
    perWorkerFiles,
    Math.max(c.stockWorkerConnections, ceilTo(nginxConnections / workerProcesses / usable, 512)),
  );
  return { workerProcesses, workerConnections, workerRlimitNofile: openFilesLimit };
}

export function sizeApache(connections: number, openFilesLimit: number, p: PlatformFacts): ApacheSizing {
  const c = p.capacity.apache;
  const perChildFiles = openFilesLimit - p.capacity.reservedFiles;
  // At least 8 children for the load (a crashed child takes 1/8 with it), within the file limit.
  const threadsPerChild = Math.min(c.maxThreadsPerChild, Math.floor(perChildFiles / 2), Math.max(25, Math.ceil(connections / 8)));
  const children = Math.max(1, Math.ceil(Math.max(connections, c.stockMaxRequestWorkers) / threadsPerChild));
  const maxRequestWorkers = children * threadsPerChild;
  return {
    // Never below the stock limits: a running parent started with these can take the stock config
    // back (destroy) or a smaller sizing with a graceful reload — only growing past them restarts it.
    serverLimit: Math.max(2 * children, c.stockServerLimit),
    threadLimit: Math.max(threadsPerChild, c.stockThreadLimit),
    threadsPerChild,
    maxRequestWorkers,
    asyncRequestWorkerFactor: c.asyncRequestWorkerFactor,
  };
}

/** The whole sizing for one proxy on one platform. Pure. */
export function capacityPlan(input: CapacityInput, proxy: ProxyKind, p: PlatformFacts): CapacityPlan {
  const { connections, basis } = connectionsFor(input);
  const nginx = sizeNginx(connections, input.openFilesLimit, p);
  const apache = sizeApache(connections, input.openFilesLimit, p);
  const processes = proxy === "nginx" ? nginx.workerProcesses + 1 : apache.serverLimit + 1;
  const perConnKiB = p.capacity[proxy].memoryPerConnectionKiB;
  const neededMiB = Math.ceil(p.capacity[proxy].baseMemoryMiB + (connections * perConnKiB) / 1024);
  const hostMiB = input.hostMemoryMb > 0 ? input.hostMemoryMb : p.capacity.assumedMemoryMb;
  return {
    connections,
    basis,
    limitNofile: input.openFilesLimit,
    tasksMax: proxy === "apache" ? apache.serverLimit * (apache.threadsPerChild + 4) + 64 : "infinity",
    kernel: { nrOpen: input.openFilesLimit, fileMax: processes * p.capacity.reservedFiles + 2 * connections },
    memory: { neededMiB, budgetMiB: Math.floor(hostMiB * p.capacity.memoryShare), hostMiB, hostMemoryDeclared: input.hostMemoryMb > 0 },
    nginx,
    apache,
  };
}
