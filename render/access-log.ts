/**
 * Access logs without credentials, for both proxies. JupyterHub takes API tokens as `?token=…`
 * (and `?access_token=…`) query parameters, which the distros' default log formats write to disk
 * on every request, and in a Referer when a page was opened with one; tokens and sessions also
 * travel as `Authorization` and `Cookie` headers. The formats here are the distros' "combined" ones
 * with the request target masked, and they never name a credential header.
 */

/** What replaces a masked value in the logs. */
export const redactedMarker = "[REDACTED]";

/** Query parameter names that carry credentials (matched case-insensitively). */
export const credentialParams = ["token", "access_token"] as const;

/** Names of our log formats (distinct from any the host's other sites define). */
export const logFormatNames = { nginx: "jhe_masked", apachePlain: "jhe_plain", apacheRedacted: "jhe_redacted" } as const;

/** A regex alternation of the parameter names: `(?:access_)?token`. */
export const credentialParamPattern = "(?:access_)?token";
