/**
 * Brute-force protection, sized for a class behind one address. Two layers:
 *
 * - a request-rate limit on the hub's login form per source address (nginx `limit_req`): the
 *   burst holds the whole class logging in at one instant, with one retry in four, so a room behind
 *   one venue address is never refused; an attacker gets the burst and then the steady rate;
 * - fail2ban, reading the proxy's own access log: failed login POSTs (JupyterHub answers 403),
 *   requests the limit refused (429), and Basic credentials the proxy refused (401 with a user),
 *   banned through the host's firewall after `retries` within `findTime`.
 *
 * A class mistypes too: the derived retry count lets a quarter of the class fail once (an eighth
 * twice) within the find time from one address before it would be banned. Sources admitted
 * without a password (splitAuth.allowFrom) and trustedSources are never limited nor banned.
 */

export interface BruteForceSpec {
  /** The login form's rate limit per source address. */
  loginLimit: {
    /** Steady rate: the class arriving over a minute never touches the burst. */
    ratePerSecond: number;
    /** Requests above the rate answered at once (nodelay) before any is refused. */
    burst: number;
  };
  ban: {
    /** Failures within findTimeSeconds that ban a source. */
    retries: number;
    findTimeSeconds: number;
    banTimeSeconds: number;
  };
  /** CIDRs never rate-limited nor banned: splitAuth.allowFrom, then trustedSources (no repeats). */
  neverBanned: string[];
}

/** Whole-class login burst: every participant at once, plus one retry in four. */
export function loginBurst(expectedParticipants: number): number {
  return Math.ceil(expectedParticipants * 1.25);
}

/** The steady rate: the class spread over one minute (at least one request a second). */
export function loginRatePerSecond(expectedParticipants: number): number {
  return Math.max(1, Math.ceil(expectedParticipants / 60));
}

/** Failures before a ban: a quarter of the class mistyping once, and never fewer than 10. */
export function derivedBanRetries(expectedParticipants: number): number {
  return Math.max(10, Math.ceil(expectedParticipants / 4));
}

export function bruteForcePlan(c: {
  expectedParticipants: number;
  banRetries: number;
  banFindTime: number;
  banTime: number;
  allowFrom: readonly string[];
  trustedSources: readonly string[];
}): BruteForceSpec {
  return {
    loginLimit: { ratePerSecond: loginRatePerSecond(c.expectedParticipants), burst: loginBurst(c.expectedParticipants) },
    ban: {
      retries: c.banRetries > 0 ? c.banRetries : derivedBanRetries(c.expectedParticipants),
      findTimeSeconds: c.banFindTime,
      banTimeSeconds: c.banTime,
    },
    neverBanned: [...new Set([...c.allowFrom, ...c.trustedSources])],
  };
}
