#!/usr/bin/env bash
# The cost of transparent mode (a benchmark, not a test): throughput of one
# server under zedr-run with the sockets passed by LISTEN_FDS and with
# --intercept-bind, and the time of one bind() through interception against
# a plain bind(). Usage: scripts/bench-intercept.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
work=$(mktemp -d)
zpid=
cleanup() {
	if [ -n "$zpid" ]; then kill -TERM "$zpid" 2>/dev/null || true; wait "$zpid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

CGO_ENABLED=0 go build -o "$work/zedr-run" .
CGO_ENABLED=0 go build -o "$work/server" ./testdata/server
go build -o "$work/zedr-load" ./internal/loadgen/cmd/zedr-load

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# serve LABEL ZEDR-ARGS... -- SERVER-ARGS...: start, wait until it answers,
# load it for $secs seconds, stop it.
serve() {
	local label=$1; shift
	"$work/zedr-run" "$@" 2>"$work/log" &
	zpid=$!
	for _ in $(seq 200); do
		"$work/zedr-load" -addr "127.0.0.1:$port" -n 1 -c 1 >/dev/null 2>&1 && break
		sleep 0.05
	done
	printf '%-28s ' "$label"
	"$work/zedr-load" -addr "127.0.0.1:$port" -c 32 -d "${secs}s" -keepalive 2>&1 | tail -1
	kill -TERM "$zpid"; wait "$zpid" || true; zpid=
}

echo "== throughput: 32 clients, keep-alive, ${secs}s each (the filter only sees bind/listen/unlink; every other call pays a few BPF instructions)"
port=$(freeport)
serve "LISTEN_FDS" --listen "tcp:127.0.0.1:$port" --ready delay:0s -- "$work/server"
port=$(freeport)
serve "--intercept-bind" --intercept-bind --listen "tcp:127.0.0.1:$port" --ready listen -- "$work/server" -listen "127.0.0.1:$port"

echo "== one bind(): socket+bind+close of the declared address, 2000 times"
cat >"$work/binds.py" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), 2000
t = time.perf_counter()
for _ in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.close()
print("%s: %.1f us per socket+bind+close" % (sys.argv[2], (time.perf_counter() - t) / n * 1e6), flush=True)
PY
port=$(freeport)
python3 "$work/binds.py" "$port" "plain bind()         "
"$work/zedr-run" --intercept-bind --listen "tcp:127.0.0.1:$port" --ready delay:1h -- \
	sh -c "python3 '$work/binds.py' $port 'intercepted bind()   '; exec sleep 3600" >"$work/out" 2>/dev/null &
zpid=$!
for _ in $(seq 600); do
	grep -q intercepted "$work/out" && break
	sleep 0.05
done
cat "$work/out"
