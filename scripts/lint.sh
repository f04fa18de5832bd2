#!/usr/bin/env bash
# gofmt, go vet and staticcheck (with the chaos tests' build tag, so their
# helpers count as used); staticcheck is installed on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
go vet ./...
# The chaos tests are built only with their tag; check them too.
go vet -tags chaos ./e2e/...
if ! command -v staticcheck >/dev/null; then
  GOBIN="$(go env GOPATH)/bin" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2 2>/dev/null \
    || GOBIN="$(go env GOPATH)/bin" go install honnef.co/go/tools/cmd/staticcheck@latest
  export PATH="$(go env GOPATH)/bin:$PATH"
fi
staticcheck -tags chaos ./...
echo "lint: clean"
