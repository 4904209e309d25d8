#!/usr/bin/env bash
# Runs every test of cfship: format and lint gates, then the whole workspace's tests against real
# Elasticsearch 8, Elasticsearch 9 and OpenSearch nodes started here (downloaded from Maven Central
# on first use), and the Cloudflare API simulator. This is the command CI runs (.ci/run).
#
#   scripts/test.sh            # everything
#   CFSHIP_NO_ENGINES=1 scripts/test.sh   # no search engines (their tests then skip, except under CI=true)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CFSHIP_GOLDEN_DIR="${CFSHIP_GOLDEN_DIR:-$(cd .. && pwd)/shared/golden}"
export CFSHIP_GEOIP_DIR="${CFSHIP_GEOIP_DIR:-$(cd .. && pwd)/shared/geoip}"

step() { printf '\n=== %s ===\n' "$*"; }

step "toolchain"
cargo --version
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# The test engines are their own instances ("<engine>-test", ports 9290-9292), so the tests never
# leave data streams in the es8/es9/opensearch nodes a user starts for the demo; their data is
# deleted when the run ends (the downloads stay cached).
TEST_NAME=test
# A node boots in ~30 s on an idle 2-core machine; give a busy one more room before calling it failed.
export CFSHIP_SEARCH_WAIT="${CFSHIP_SEARCH_WAIT:-420}"
declare -A TEST_PORT=([es8]=9290 [es9]=9291 [opensearch]=9292)
started=()
cleanup() {
  for e in "${started[@]}"; do
    scripts/search-engine.sh stop "$e" --name "$TEST_NAME" >/dev/null 2>&1 || true
    rm -rf "${CFSHIP_SEARCH_WORK:-/tmp/cfship-search}/$e-$TEST_NAME/data" 2>/dev/null || true
  done
}
trap cleanup EXIT

if [ -z "${CFSHIP_NO_ENGINES:-}" ]; then
  step "search engines (real Elasticsearch 8, Elasticsearch 9, OpenSearch)"
  # Started one after the other: three JVMs booting at once on two cores take longer than in sequence.
  for e in es8 es9 opensearch; do
    started+=("$e")   # before the start: a node that fails to become ready is stopped too
    url=$(scripts/search-engine.sh start "$e" --name "$TEST_NAME" --port "${TEST_PORT[$e]}")
    echo "$e: $url"
    case "$e" in
      # CFSHIP_ES8_HOME: Elasticsearch's jars for the date oracle (crates/cfship-ecs/tests/java_date_oracle.rs).
      es8) export CFSHIP_ES8_URL="$url"
           export CFSHIP_ES8_HOME="${CFSHIP_ES8_HOME:-${CFSHIP_SEARCH_WORK:-/tmp/cfship-search}/es8-$TEST_NAME/home}" ;;
      es9) export CFSHIP_ES9_URL="$url" ;;
      opensearch) export CFSHIP_OPENSEARCH_URL="$url" ;;
    esac
  done
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace"
cargo test --workspace 2>&1 | tee /tmp/cfship-test.log

step "memory gate: one 1,000,000-record Logpull window streamed in bounded memory"
cargo run --release -q -p cfship-cloudflare --example logpull_rss

step "memory gate: one 1 GiB-uncompressed Logpush batch streamed through the receiver into its spool"
cargo run --release -q -p cfship-logpush --example logpush_rss -- --mib 1024 --max-rss-mib 96
