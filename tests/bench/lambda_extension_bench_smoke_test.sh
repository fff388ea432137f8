#!/usr/bin/env bash
# The Lambda extension benchmark still runs, briefly, and its checks hold:
# one start of three invokes, with the Dynatrace stand-in on HTTPS (the
# extension verifying it with the test certificate alone as its CA bundle)
# and then on plain HTTP; every invoke's spans delivered before the next
# event is requested, exit 0.
set -euo pipefail
extension="$(readlink -f "$2")"
"$1" --extension="$extension" --starts=1 --invokes=3 --spans=20 --check --dynatrace_tls=true --system_ca_bundle=
"$1" --extension="$extension" --starts=1 --invokes=3 --spans=20 --check --dynatrace_tls=false
