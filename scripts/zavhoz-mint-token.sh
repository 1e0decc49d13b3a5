#!/usr/bin/env bash
# Mints a zavhoz caller token for one service identity and prints:
#   ZAVHOZ_TOKEN=<token>                             -> give to that service (its <SERVICE>__ZAVHOZ__TOKEN)
#   ZAVHOZ__CALLERS__<IDENTITY>=sha256:<hex digest>  -> put into zavhoz's environment
# Zavhoz stores only the digest, so its configuration never holds a usable credential. Rotate by minting a
# new token, updating both sides, and restarting zavhoz (one token per identity at a time).
#
#   scripts/zavhoz-mint-token.sh worker-spawner
# Identities: graph-runner worker-spawner devops-runner telegram-gateway api operator
set -euo pipefail

identity="${1:-}"
case "${identity}" in
    graph-runner|worker-spawner|devops-runner|telegram-gateway|api|operator) ;;
    *)
        echo "usage: $0 graph-runner|worker-spawner|devops-runner|telegram-gateway|api|operator" >&2
        exit 2
        ;;
esac

token="zvh_$(head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n')"
digest="$(printf '%s' "${token}" | sha256sum | cut -d' ' -f1)"
variable="ZAVHOZ__CALLERS__$(printf '%s' "${identity}" | tr 'a-z-' 'A-Z_')"

echo "# for ${identity}: keep secret, give only to that service"
echo "ZAVHOZ_TOKEN=${token}"
echo "# for zavhoz's environment"
echo "${variable}=sha256:${digest}"
