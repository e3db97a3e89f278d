#!/usr/bin/env bash
# The steps of docs/ci/github-actions.yaml for any other CI system: run it
# from a checkout of a Linkerd fork with dstload's checkout in ./dstload.
# Exit codes are dstload run's: 0 pass, 3 a criterion failed, 4
# inconclusive, 1 could not run, 2 bad input.
set -euo pipefail
out=${OUT:-$PWD/dstload-report}
bin=$(mktemp -d)
go build -C dstload -o "$bin/dstload" ./cmd/dstload
go build -o "$bin/controller" ./controller/cmd
export PATH=$bin:$PATH
trap 'dstload down' EXIT

dstload up --provider local --destination-bin "$bin/controller"
dstload status
dstload run small-oscillation --scale 0.05 --cycles 2 --hold 20s --out "$out" --destination-version "$(git rev-parse HEAD)" --junit "$out/junit.xml" --ci-summary "$out/summary.md"
