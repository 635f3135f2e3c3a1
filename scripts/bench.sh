#!/usr/bin/env bash
# Runs the zero-downtime benchmark (scripts/bench) from the repository root;
# results go to results/ unless -out says otherwise. Run as root so that
# missing contenders (Server::Starter, systemd-socket-activate) are installed
# from Debian. Usage: scripts/bench.sh [-out DIR] [-plan 0:30,300ms:20,2s:6] [flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/bench -out results "$@"
