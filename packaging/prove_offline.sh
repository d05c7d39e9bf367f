#!/usr/bin/env bash
# Prove the offline bundle: unpack, install, index, ask, serve (HTTP 200 + one `search` API call),
# update over the install (index kept), a failed update (nothing switched), rollback -- every step
# after unpacking inside a network namespace with only loopback (`unshare -rn`), so any fetch fails.
#   packaging/prove_offline.sh dist/kosearch-offline-*.tar.gz [WORKDIR]
set -euo pipefail
BUNDLE=$(realpath "${1:?bundle .tar.gz}")
WORK=${2:-$(mktemp -d /tmp/kosearch-prove.XXXXXX)}
mkdir -p "$WORK"; WORK=$(realpath "$WORK")
PY=${KOSEARCH_PYTHON:-$(command -v python3.11 || command -v python3)}
PORT=${PORT:-7861}
t() { local s=$(date +%s.%N); "$@"; printf '  -> %.1f s\n' "$(echo "$(date +%s.%N) - $s" | bc)"; }

echo "== unpack $(du -h "$BUNDLE" | cut -f1) into $WORK"
t tar xzf "$BUNDLE" -C "$WORK"
SRC=$(echo "$WORK"/kosearch-offline-*/)
PREFIX="$WORK/install"

cat > "$WORK/inside.sh" <<INSIDE
set -euo pipefail
ip link set lo up
export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 HF_HUB_OFFLINE=1 KOSEARCH_PYTHON='$PY'
unset KOSEARCH_HOME KOSEARCH_DATA
t() { local s=\$(date +%s.%N); "\$@"; printf '  -> %.1f s\n' "\$(echo "\$(date +%s.%N) - \$s" | bc)"; }
! python3 -c 'import socket; socket.create_connection(("pypi.org", 443), timeout=3)' 2>/dev/null || { echo "network reachable!"; exit 1; }
echo "== install (no network)"
t '$SRC/install.sh' --prefix '$PREFIX'
K='$PREFIX/bin/kosearch'
echo "== index the sample reports"
t "\$K" index '$PREFIX/data/reports'
echo "== ask"
t "\$K" ask "외국인 환자를 대상으로 하는 사업은?" --top-k 2
echo "== serve on 127.0.0.1:$PORT"
"\$K" serve --host 127.0.0.1 --port $PORT > '$WORK/serve.log' 2>&1 &
pid=\$!
s=\$(date +%s)
for i in \$(seq 1 120); do
  code=\$(python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$PORT/', timeout=2).status)" 2>/dev/null || true)
  [ "\$code" = 200 ] && break; sleep 1
done
echo "  HTTP \$code after \$(( \$(date +%s) - s )) s"
'$PREFIX/current/venv/bin/python' - <<'PYEOF'
import json
from gradio_client import Client
out = json.loads(Client("http://127.0.0.1:$PORT/", verbose=False).predict("의료관광 예산", 3, api_name="/search"))
print("  search API:", out["results"][0]["citation"])
print("  answer:", (out.get("answer") or {}).get("text"))
PYEOF
kill \$pid; wait \$pid 2>/dev/null || true
[ "\$code" = 200 ]
stamp=\$(find '$PREFIX/data/index' -type f -printf '%P %T@\n' | sort | md5sum)
echo "== update over the install (same data folder)"
t '$SRC/install.sh' --prefix '$PREFIX'
[ "\$stamp" = "\$(find '$PREFIX/data/index' -type f -printf '%P %T@\n' | sort | md5sum)" ] && echo "  index untouched"
t "\$K" index '$PREFIX/data/reports'
"\$K" ask "22년 의료관광 예산" --top-k 1 | head -3
echo "== failed update (smoke test forced to fail)"
before=\$(readlink '$PREFIX/current')
KOSEARCH_INSTALL_SMOKE_FAIL=1 '$SRC/install.sh' --prefix '$PREFIX' > /dev/null 2>'$WORK/failed.err' && exit 1 || echo "  exit \$?: \$(grep 설치 '$WORK/failed.err' | tail -1)"
[ "\$(readlink '$PREFIX/current')" = "\$before" ] && echo "  current still \$before"
"\$K" ask "의료관광 예산" --top-k 1 > /dev/null && echo "  previous install still answers"
echo "== rollback"
t '$SRC/install.sh' --rollback --prefix '$PREFIX'
"\$K" ask "의료관광 예산" --top-k 1 > /dev/null && echo "  rolled-back install answers"
INSIDE
echo "== all of it inside 'unshare -rn' (loopback only)"
unshare -rn bash "$WORK/inside.sh"
du -sh "$PREFIX/releases"/* "$PREFIX/data" 2>/dev/null
