//go:build tools

// Package rie pins AWS's Lambda Runtime Interface Emulator for the Python
// Lambda end-to-end tests (tests/e2e/python). Nothing here is compiled into
// the gateway: scripts/install_deps.sh --test builds the emulator's command
// from this module's go.mod/go.sum into .deps/bin/aws-lambda-rie.
package rie

import _ "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
