/**
 * What both proxies share for a hub on the public internet (issue 21): the metrics path and the raw
 * spellings that reach it behind the proxy, and the frame-ancestors directive of embedding. Pure.
 *
 * Why the metrics path needs a raw check besides the location: the proxies pick a location by the
 * normalised path (percent-decoded, dot segments resolved, slashes merged), which already catches
 * `%2F`, `/./`, `//`, `..` and letter case. What they do not normalise is a backslash: to nginx it is
 * an ordinary byte, but the hub's own proxy (configurable-http-proxy) reads it as `/`, so
 * `/hub\metrics` is the metrics handler to the hub (measured: 200 and the metrics text through nginx
 * before this check). Any raw path holding a backslash in any spelling (or a tab or line break) and
 * the word `metrics` is refused too (fail closed: a scraper never sends either).
 */
import { SiteSpec, hubRoutes } from "../model/site";

/** The hub's metrics under the base path, matched case-insensitively on the normalised path by the caller. */
export function metricsPathRegex(site: SiteSpec): string {
  return `^${hubRoutes(site).patterns.metrics}`;
}

/** A backslash as `\x5C` (see render/split-auth.ts), raw or percent-encoded once or more, or a tab or line break. */
const ambiguous = "(?:\\x5C|%(?:25)*5[Cc]|[\\x09\\x0A\\x0D])";

/**
 * A raw request target (nginx's `$request_uri`) whose path holds `metrics` (any case) and a
 * separator that only the hub's proxy reads as one: it may mean `<base>hub/metrics` downstream.
 */
export const rawAmbiguousMetricsRegex = `(?i)^[^?]*(?:${ambiguous}[^?]*metrics|metrics[^?]*${ambiguous})`;

/**
 * The same in Apache's THE_REQUEST (`GET <target> HTTP/1.1`), written without spaces or quotes so
 * that it passes Apache's config tokenizer untouched: `\s` ends the target as `?` does.
 */
export const rawAmbiguousMetricsInRequestLine = `(?i)^[A-Z]+\\s[^?\\s]*(?:${ambiguous}[^?\\s]*metrics|metrics[^?\\s]*${ambiguous})`;

/** `frame-ancestors 'self' <origins>`: the hub framing itself stays allowed (JupyterLab does). */
export function frameAncestors(site: SiteSpec): string | undefined {
  if (!site.embedding) return undefined;
  return ["frame-ancestors", "'self'", ...site.embedding.allowFrom].join(" ");
}
