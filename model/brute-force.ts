/**
 * Brute-force protection, sized for a class behind one address. Two layers:
 *
 * - a request-rate limit on the hub's login form per source address (nginx `limit_req`; Apache
 *   mod_qos where the platform has it, which also counts refused Basic credentials): the
 *   burst holds the whole class logging in at one instant, with one retry in four, so a room behind
 *   one venue address is never refused (a tenth answered at once, the rest at the steady rate);
 *   an attacker's guesses slow to the steady rate after that tenth;
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
    /** Steady rate: a class arriving over half a minute is never slowed. */
    ratePerSecond: number;
    /** Requests above the rate answered at once, without waiting. */
    immediate: number;
    /** Requests above the rate held (answered at the steady rate) before any is refused. */
    burst: number;
    /**
     * Apache (mod_qos) counts per fixed window instead of a leaky bucket: `burst` requests per
     * `windowSeconds`, so the long-run rate is the steady rate and a whole class at one instant fits.
     */
    windowSeconds: number;
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

/** The steady rate: the class spread over half a minute (at least two requests a second). */
export function loginRatePerSecond(expectedParticipants: number): number {
  return Math.max(2, Math.ceil(expectedParticipants / 30));
}

/** mod_qos's window: the burst at the steady rate (a class of 300: 375 in 38 s, about 10 a second). */
export function loginWindowSeconds(expectedParticipants: number): number {
  return Math.ceil(loginBurst(expectedParticipants) / loginRatePerSecond(expectedParticipants));
}

/**
 * Excess answered at once: a tenth of the class at the very same instant (at least 10). The rest
 * of a burst waits its turn at the steady rate instead of being refused, so an attacker's guesses
 * slow to that rate after these, while fail2ban counts them.
 */
export function loginImmediate(expectedParticipants: number): number {
  return Math.min(loginBurst(expectedParticipants), Math.max(10, Math.ceil(expectedParticipants / 10)));
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
    loginLimit: {
      ratePerSecond: loginRatePerSecond(c.expectedParticipants),
      immediate: loginImmediate(c.expectedParticipants),
      burst: loginBurst(c.expectedParticipants),
      windowSeconds: loginWindowSeconds(c.expectedParticipants),
    },
    ban: {
      retries: c.banRetries > 0 ? c.banRetries : derivedBanRetries(c.expectedParticipants),
      findTimeSeconds: c.banFindTime,
      banTimeSeconds: c.banTime,
    },
    neverBanned: uniqueNetworks([...c.allowFrom, ...c.trustedSources]),
  };
}

/**
 * A single address's CIDR written as the address (`192.0.2.7/32` → `192.0.2.7`): nginx's geo warns
 * about a network listed twice in two spellings.
 */
export function networkKey(cidr: string): string {
  return cidr.replace(cidr.includes(":") ? /\/128$/ : /\/32$/, "");
}

/** The networks once each, in order, the loopback ones (always exempt anyway) left out. */
export function uniqueNetworks(cidrs: readonly string[]): string[] {
  const seen = new Set<string>(LOOPBACK);
  return cidrs.map(networkKey).filter((c) => !seen.has(c) && seen.add(c) !== undefined);
}

/** Loopback: the host's own checks (the files step's TLS handshake) are never limited nor banned. */
export const LOOPBACK = ["127.0.0.0/8", "::1"] as const;
