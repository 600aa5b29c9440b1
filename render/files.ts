/** A file the program puts on the host: rendered text, where it goes, and its mode. */
export interface RenderedFile {
  path: string;
  /** Octal mode string, e.g. "0644" or "0600". */
  mode: string;
  /** Owning group (owner is always root). Default root. */
  group?: string;
  content: string;
}

/**
 * The line-oriented payload the remote file steps read on stdin. Human-readable on purpose: it is
 * what `pulumi preview --diff` shows, so a reviewer sees the rendered config change line by line.
 * Every content line is prefixed with `|`, so no content can be mistaken for a record marker.
 */
export function filesPayload(files: RenderedFile[]): string {
  return files
    .map((f) => {
      if (!f.content.endsWith("\n")) throw new Error(`rendered file ${f.path} must end with a newline`);
      const body = f.content.slice(0, -1).split("\n").map((line) => `|${line}`);
      return [`file ${f.path} ${f.mode}${f.group ? ` ${f.group}` : ""}`, ...body, "end"].join("\n");
    })
    .join("\n")
    .concat("\n");
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
