#!/bin/sh
# Runs the Lambda extension bench briefly against the gateway binary: one
# start of three invokes, HTTPS to the Dynatrace stand-in (the test
# certificate alone as CA bundle) and then plain HTTP; --check fails the run
# if a span is missing at the stand-in or the extension exits non-zero.
set -eu
bench="$1"
extension="$PWD/$2"
"$bench" --extension="$extension" --starts=1 --invokes=3 --spans=10 --check \
  --dynatrace_tls=true --system_ca_bundle=
"$bench" --extension="$extension" --starts=1 --invokes=3 --spans=10 --check --dynatrace_tls=false
