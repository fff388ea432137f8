#!/bin/sh
# Runs a benchmark binary for a token time, proving it still builds and runs.
set -eu
exec "$1" --benchmark_min_time=0.001 --benchmark_repetitions=1
