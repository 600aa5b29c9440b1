#!/usr/bin/env bash
# Runs every test tier — the README's test command, and what .ci/run calls. On a fresh machine it
# installs what the tiers need first (npm packages, Debian packages, the Pulumi CLI, checker roots,
# the sandbox base). Tiers: render (golden files + real nginx -t), wiring (Pulumi mocks), host
# (sandbox hosts over SSH), engine (Automation API + real plugins; one SKIP line if they are absent),
# variants (scenarios whose twin runs in the default run, test/{host,engine}/variants/: the host and
# engine scenarios on the two other release/proxy pairs — fresh nginx on Debian 13, Apache with a
# site of its own on Debian 12, both cases covered by the fleet scenario —, DNS-01 on Apache/Debian 12
# (its nginx twin and the engine's run by default), the TypeScript consumer (its Python twin runs by
# default), a Python program's EdgeFleet of two servers with its removal guard (the guard itself
# runs by default: engine and wiring tiers), the public-hub checks behind Apache (nginx's run by
# default; Apache's rate limit by default in the brute-force and rate-limit host tests), the engine's
# ACME scenario behind Apache (nginx's, with the carry-over, by default; Apache's certbot steps in the
# host tier by default), an upgrade of a live stack deployed by an earlier version; not in the
# default run, which then fits in an hour),
# selinux (the SELinux step on an enforcing Debian guest under QEMU; not in the default run: see
# test/selinux/selinux-guest.test.ts for its cost).
#
#   scripts/test-all.sh [--tier render|wiring|host|engine|variants|selinux]...   (default: render wiring host engine)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $EUID -eq 0 ]] || { echo "test-all: run as root (sandbox hosts use namespaces and systemd-nspawn)" >&2; exit 1; }

tiers=()
while (($#)); do
  case $1 in
    --tier) tiers+=("$2"); shift 2 ;;
    *) echo "usage: $0 [--tier render|wiring|host|engine|variants|selinux]..." >&2; exit 2 ;;
  esac
done
((${#tiers[@]})) || tiers=(render wiring host engine)
want() { [[ " ${tiers[*]} " == *" $1 "* ]]; }
t0=$SECONDS
stamp() { printf 'test-all: [%4ds] %s\n' $((SECONDS - t0)) "$*"; }

stamp "npm ci"
npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 || npm ci --no-audit --no-fund

# Debian packages the tiers use on the machine itself: nginx (render tier's nginx -t for the
# machine's release), openssl (test CAs), ssh client, curl, shellcheck (actionlint runs it on the
# workflow's scripts).
need=()
# The host tier's real browser: chromium (driven by playwright-core, which downloads no browser
# of its own) and a font.
machine_packages=(nginx openssl openssh-client curl shellcheck)
if want host; then machine_packages+=(chromium fonts-dejavu-core); fi
for p in "${machine_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if ((${#need[@]})); then
  stamp "apt-get install ${need[*]}"
  apt-get update -q >/dev/null
  # The machine's own nginx is only a syntax checker here: don't let its package start it.
  policy_rc=/usr/sbin/policy-rc.d; own_policy=0
  [[ -e $policy_rc ]] || { printf '#!/bin/sh\nexit 101\n' >"$policy_rc"; chmod 755 "$policy_rc"; own_policy=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  ((own_policy)) && rm -f "$policy_rc"
fi

if want render; then
  stamp "checker roots (each release's own nginx)"
  bash scripts/sandbox/checker-root.sh trixie >/dev/null
  bash scripts/sandbox/checker-root.sh bookworm >/dev/null
fi
if want host || want engine || want variants; then
  stamp "sandbox base roots"
  bash scripts/sandbox/host.sh prepare --suite all
fi
if want engine || want variants; then
  stamp "Pulumi toolchain"
  # shellcheck source=toolchain/env.sh
  source scripts/toolchain/env.sh
  if ! bash scripts/toolchain/check-plugins.sh >"${TMPDIR:-/tmp}/jhe-plugins.txt"; then
    export JHE_ENGINE_MISSING
    JHE_ENGINE_MISSING=$(grep '^missing' "${TMPDIR:-/tmp}/jhe-plugins.txt" | paste -sd ';' -)
  fi
  cat "${TMPDIR:-/tmp}/jhe-plugins.txt"
fi

files=()
want render && files+=(test/render/*.test.ts)
want wiring && files+=(test/wiring/*.test.ts)
want host && files+=(test/host/*.test.ts)
want engine && files+=(test/engine/*.test.ts)
want variants && files+=(test/host/variants/*.test.ts test/engine/variants/*.test.ts)
if want selinux; then
  stamp "SELinux guest root (cold: ~3 min)"
  nice -n 5 bash scripts/sandbox/selinux-guest.sh root >/dev/null
  files+=(test/selinux/*.test.ts)
fi
stamp "running ${#files[@]} test files (${tiers[*]})"
# The local ACME and DNS servers the certificate tests start are stopped when the run ends.
trap 'bash scripts/sandbox/acme-server.sh stop >/dev/null 2>&1 || true; bash scripts/sandbox/dns-server.sh stop >/dev/null 2>&1 || true' EXIT
# One runner invocation, so one closing summary; files run one at a time (hosts are heavy).
set +e
node --import tsx --test --test-concurrency=1 --test-timeout=1800000 "${files[@]}"
status=$?
set -e
stamp "done, exit $status"
exit $status
