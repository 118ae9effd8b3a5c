#!/usr/bin/env bash
# The test command: go vet, then every package's tests, with the race
# detector on the concurrent packages (dispatch, the channels and their hubs,
# the alertd wiring, targeting's shared indexes). Tests that need Redis,
# PostgreSQL, Chromium, espeak-ng, sox, xmllint or Kannel start their own
# throwaway instances; they skip when one is missing, or fail when
# ALERTCAST_REQUIRE_SERVICES=1 (as in CI).
set -euo pipefail
cd "$(dirname "$0")"
go vet ./...
# The loudspeaker agent is pure Go and runs on ARM devices.
CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -o /dev/null ./cmd/speaker
CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 go build -o /dev/null ./cmd/speaker
race_pkgs=$(go list ./dispatch/... ./channels/... ./internal/... ./targeting/...)
other_pkgs=$(go list ./... | grep -v -x -F -f <(printf '%s\n' $race_pkgs))
go test -race -count=1 -timeout 20m $race_pkgs
go test -count=1 -timeout 20m $other_pkgs
