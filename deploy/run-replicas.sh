#!/usr/bin/env bash
# Start N replicas of the dashboard (`streamlit run serve.py`) on 127.0.0.1 and nginx in front of them
# with session affinity; stop everything on Ctrl-C / SIGTERM. See deploy/README.md.
#
#   deploy/run-replicas.sh [N]          # N replicas (default 2), balancer on http://127.0.0.1:8080
#
# Environment: LB_PORT (8080), BASE_PORT (8501: replicas on 8501, 8502, …), RUN_DIR (data/run: rendered
# nginx.conf, logs, replica-<port>.pid files), PYTHON (python), NGINX (nginx on PATH or /usr/sbin/nginx), CLINRET_DB,
# CLINRET_RELEASES and every other app setting pass through to the replicas.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-${REPLICAS:-2}}
LB_PORT=${LB_PORT:-8080}
BASE_PORT=${BASE_PORT:-8501}
RUN_DIR=${RUN_DIR:-data/run}
PYTHON=${PYTHON:-python}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
HEALTH_WAIT=${HEALTH_WAIT:-180}

[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive number of replicas, not '$N'" >&2; exit 2; }
[ -x "$NGINX" ] || { echo "nginx not found (Debian: apt-get install -y nginx)" >&2; exit 2; }
mkdir -p "$RUN_DIR/logs" "$RUN_DIR/tmp"
RUN_DIR=$(cd "$RUN_DIR" && pwd)

# One cookie secret for every replica, so a signed-in user's cookie is valid on whichever replica serves
# them (after a replica restarts, or when the balancer moves them). Set it yourself to keep sessions
# across restarts of this script.
export STREAMLIT_SERVER_COOKIE_SECRET=${STREAMLIT_SERVER_COOKIE_SECRET:-$("$PYTHON" -c 'import secrets; print(secrets.token_hex(32))')}

pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

servers=""
ports=()
for ((i = 0; i < N; i++)); do
    port=$((BASE_PORT + i))
    ports+=("$port")
    "$PYTHON" -m streamlit run serve.py \
        --server.headless=true --server.address=127.0.0.1 --server.port="$port" \
        --browser.gatherUsageStats=false --server.fileWatcherType=none \
        >"$RUN_DIR/logs/replica-$port.log" 2>&1 &
    pids+=("$!")
    echo "$!" >"$RUN_DIR/replica-$port.pid"
    servers+="        server 127.0.0.1:$port max_fails=1 fail_timeout=10s;"$'\n'
done

# Wait until every replica answers /_stcore/health (serve.py warms up before it does).
"$PYTHON" - "$HEALTH_WAIT" "${ports[@]}" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[1])
for port in sys.argv[2:]:
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"replica on port {port} did not become healthy; see its log in RUN_DIR/logs")
        time.sleep(0.25)
PY

if [ "$(id -u)" = 0 ]; then
    # nginx's workers drop root; Debian's nginx package creates www-data.
    if id www-data >/dev/null 2>&1; then user_line="user www-data;"; else user_line="user nobody nogroup;"; fi
else
    user_line=""
fi
"$PYTHON" - "$RUN_DIR/nginx.conf" "$user_line" "$RUN_DIR" "127.0.0.1:$LB_PORT" "$servers" <<'PY'
import sys
from pathlib import Path
out, user_line, run_dir, listen, servers = sys.argv[1:]
text = Path("deploy/nginx.conf.template").read_text()
for key, value in {"@USER_LINE@": user_line, "@RUN_DIR@": run_dir, "@LISTEN@": listen, "@SERVERS@": servers.rstrip("\n")}.items():
    text = text.replace(key, value)
Path(out).write_text(text)
PY
"$NGINX" -t -q -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf"
"$NGINX" -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" &
nginx_pid=$!
pids+=("$nginx_pid")
echo "balancer: http://127.0.0.1:$LB_PORT -> $N replicas on ports ${ports[*]} (logs in $RUN_DIR/logs)"
# Runs until nginx stops or this script is stopped; a replica that dies is skipped by nginx meanwhile.
wait "$nginx_pid"
