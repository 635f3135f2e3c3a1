#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need (when
# run as root), checks formatting and vet, then runs every test with the race
# detector. Usage: scripts/test.sh [go test flags...]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './testdata/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
# The test server (go skips testdata in ./...) and its build against
# cloudflare/tableflip, the benchmark's tableflip contender.
go vet ./testdata/server
go vet -tags tableflip ./testdata/server ./scripts/bench
echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
echo "== go test -race"
go test -race -count=1 -timeout 30m "$@" ./...
