#!/usr/bin/env bash
# Runs each fuzz target for a bounded time and fails if one finds an input that makes
# breakfix panic, hang (over 5 s) or use more than 1 GiB.
#
#   fuzz/run.sh [SECONDS]      # per target, 60 by default
#
# Needs a nightly toolchain; installs cargo-fuzz (to ~/.cargo/bin) when it is missing.
# Builds go to $CARGO_TARGET_DIR/fuzz (/var/tmp/breakfix-fuzz-target without it), and so does
# the corpus each run grows, seeded from the fixtures. A crashing input is kept in
# fuzz/artifacts/<target>/; replay it with `cargo +nightly fuzz run <target> <file>`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
case $seconds in
  '' | *[!0-9]*) echo "usage: fuzz/run.sh [SECONDS]" >&2; exit 2 ;;
esac

export PATH="$HOME/.cargo/bin:$PATH"
# Asked of rustup rather than tried, so that no toolchain is installed as a side effect.
if command -v rustup >/dev/null 2>&1; then
  rustup toolchain list 2>/dev/null | grep -q '^nightly' && nightly=yes || nightly=no
else
  cargo +nightly --version >/dev/null 2>&1 && nightly=yes || nightly=no
fi
if [ "$nightly" = no ]; then
  echo "fuzz/run.sh needs a nightly Rust toolchain (rustup toolchain install nightly), and none is installed." >&2
  exit 1
fi

out=${CARGO_TARGET_DIR:-/var/tmp/breakfix-fuzz-target}
out=${out%/}/fuzz
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  CARGO_TARGET_DIR="$out/cargo-fuzz-install" cargo install cargo-fuzz --locked
fi

# Inputs each target starts from (folders are read recursively; the corpus adds to them).
seeds() {
  case $1 in
    load_scenario) echo fixtures/invalid fixtures/valid/minimal ;;
    parse_compose) echo fixtures/valid scenarios ;;
  esac
}

failed=()
for target in $(cargo +nightly fuzz list); do
  corpus="$out/corpus/$target"
  mkdir -p "$corpus"
  echo "fuzzing $target for ${seconds}s"
  # shellcheck disable=SC2046 # the seed folders are plain words
  if ! cargo +nightly fuzz run --target-dir "$out" "$target" "$corpus" $(seeds "$target") -- \
    -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=5 -print_final_stats=1; then
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found a failing input for: ${failed[*]} (kept in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzzing found no failing input"
