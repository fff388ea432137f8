#!/bin/sh
# Runs the fate store bench briefly without a store.
set -eu
exec "$1" --requests=20 --shards=1
