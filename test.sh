#!/usr/bin/env bash
# Runs every Chatly test on a fresh Debian machine, installing what the tests need:
#   - Rust formatting and lint checks (cargo fmt, cargo clippy),
#   - unit, property and multi-node tests (cargo nextest, or cargo test without it),
#   - the LAN, partition and NAT tests in network namespaces (need root; skipped with a note otherwise),
#   - a short cargo fuzz run of every wire decoder (nightly; cargo-fuzz installed from crates.io),
#   - the browser suite in Debian's Chromium (Playwright, installed from npm).
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\n==> %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

need_debs=()
command -v chromium >/dev/null || need_debs+=(chromium)
command -v ip >/dev/null || need_debs+=(iproute2)
command -v iptables >/dev/null || need_debs+=(iptables) # NAT routers in the federation test
command -v node >/dev/null || need_debs+=(nodejs npm)
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || need_debs+=(faketime) # clock skew test
dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || need_debs+=(fonts-noto-color-emoji) # emoji in screenshots
if ((${#need_debs[@]})); then
  say "installing ${need_debs[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_debs[@]}" >/dev/null
fi

say "formatting and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

say "building"
cargo build --workspace --all-targets --quiet

say "Rust tests (unit, property, multi-node, LAN)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

say "fuzzing every wire decoder briefly (cargo fuzz; needs the nightly toolchain)"
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
  for target in envelope bundle content control control_log account_record sync signal file_chunk; do
    log="$(mktemp)"
    if ! cargo +nightly fuzz run --fuzz-dir tests/fuzz "$target" -- -max_total_time=3 -rss_limit_mb=2048 >"$log" 2>&1; then
      tail -40 "$log"
      echo "fuzz target $target found a failure (its input is under tests/fuzz/artifacts/$target/)"
      exit 1
    fi
    echo "  $target: $(grep -oE 'Done [0-9]+ runs' "$log")"
    rm -f "$log"
  done
else
  echo "skipped: no nightly toolchain (rustup toolchain install nightly)"
fi

say "browser tests (Chromium)"
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")" # where cargo built the node
(
  cd tests/browser
  npm ci --no-audit --no-fund --silent
  CHATLY_BIN="$target_dir/debug/chatly" npm test
)
