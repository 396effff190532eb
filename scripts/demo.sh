#!/usr/bin/env bash
# The main job on embedded defaults: builds passport and runs a full local 2-of-3 DKG
# and threshold signing, ending with a verified signed Nostr event on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec target/release/passport demo "$@"
