import { files, values, wire } from "./wire";

/** A file the program puts on the host: rendered text, where it goes, and its mode. */
export interface RenderedFile {
  path: string;
  /** Octal mode string, e.g. "0644" or "0600". */
  mode: string;
  /** Owning group (owner is always root). Default root. */
  group?: string;
  content: string;
}

/** The file entries of a payload (render/wire.ts), e.g. for a files step. */
export function filesPayload(list: RenderedFile[]): string {
  return wire(files(list));
}

/**
 * A files step's whole payload (scripts/remote/files.sh): the unit whose config test and graceful
 * reload follow the write (`none`: no unit), optionally a TLS handshake to check on the public port
 * after the reload, then the files.
 */
export function fileSetPayload(after: string, list: RenderedFile[], handshake?: { port: number; servername: string }): string {
  return wire(values({ after, ...(handshake ? { handshake: `${handshake.port} ${handshake.servername}` } : {}) }), files(list));
}

/**
 * A proxy's config as two files, pushed by two steps: the port-80 vhost (redirect + ACME challenges)
 * goes live first, so an ACME server can validate before the HTTPS vhosts name certificates that do
 * not exist yet.
 */
export interface ProxyFiles {
  http: RenderedFile;
  https: RenderedFile;
}
