#!/usr/bin/env bash
# install.sh installs buf and the two protoc plugins at the versions pinned in
# tools/versions.env into $(go env GOPATH)/bin (or $GOBIN when set).
#
# Usage: tools/install.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/versions.env
. "$here/versions.env"

# The plugin must generate code for the protobuf runtime go.mod requires.
mod_protobuf=$(cd "$here/.." && go list -m -f '{{.Version}}' google.golang.org/protobuf)
if [[ "$mod_protobuf" != "$PROTOC_GEN_GO_VERSION" ]]; then
	echo "tools/versions.env: PROTOC_GEN_GO_VERSION=$PROTOC_GEN_GO_VERSION but go.mod has google.golang.org/protobuf $mod_protobuf" >&2
	exit 1
fi

go install "github.com/bufbuild/buf/cmd/buf@$BUF_VERSION"
go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
