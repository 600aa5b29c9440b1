#!/usr/bin/env bash
# Writes the SSH key and the server's host key from the CI secrets into the files the stack config
# names (relative to the project directory):
#   jupyterhub-edge:sshPrivateKeyFile: .secrets/ssh_key        ← $SSH_PRIVATE_KEY  (mode 0600)
#   jupyterhub-edge:hostKeyFile:       .secrets/host_key.pub   ← $SSH_HOST_KEY     (`ssh-ed25519 AAAA…`)
# .secrets/ is git-ignored; on a laptop, put your own copies there. Prints no secret.
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ -n ${SSH_PRIVATE_KEY:-} ]] || { echo "stack-secrets: the SSH_PRIVATE_KEY secret is empty or not set" >&2; exit 1; }
[[ -n ${SSH_HOST_KEY:-} ]] || { echo "stack-secrets: the SSH_HOST_KEY secret is empty or not set" >&2; exit 1; }
grep -q -- '-----BEGIN [A-Z ]*PRIVATE KEY-----' <<<"$SSH_PRIVATE_KEY" || { echo "stack-secrets: SSH_PRIVATE_KEY is not a PEM/OpenSSH private key" >&2; exit 1; }
host_key=$(head -n 1 <<<"$SSH_HOST_KEY")
[[ $host_key =~ ^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa)\ [A-Za-z0-9+/=]+$ ]] || {
  echo "stack-secrets: SSH_HOST_KEY must be one line 'TYPE BASE64' (e.g. from: ssh-keyscan -t ed25519 HOST | cut -d' ' -f2-)" >&2; exit 1; }
umask 077
mkdir -p .secrets
printf '%s\n' "${SSH_PRIVATE_KEY%$'\n'}" >.secrets/ssh_key
printf '%s\n' "$host_key" >.secrets/host_key.pub
chmod 0600 .secrets/ssh_key
echo "stack-secrets: wrote .secrets/ssh_key (0600) and .secrets/host_key.pub ($(cut -d' ' -f1 .secrets/host_key.pub))"
