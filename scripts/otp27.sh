#!/usr/bin/env bash
# The OTP 27 lane (DESIGN "Testing"): builds a Debian trixie root with
# erlang-nox (OTP 27) by debootstrap, cached in $OTP27_ROOT, and runs the
# interop tests against its erl through a chroot wrapper. Needs root.
# The etf and term-text goldens are not run here: their contract is OTP 25's
# bytes and ~0p text (OTP 26+ orders atom-keyed maps by the atom table and
# changed some quoting and escapes).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${OTP27_ROOT:-/var/cache/distribute/trixie}

if [ ! -x "$ROOT/usr/bin/erl" ]; then
  command -v debootstrap >/dev/null || apt-get install -y debootstrap
  rm -rf "$ROOT.tmp"
  ok=0
  for attempt in 1 2; do
    if debootstrap --variant=minbase --include=erlang-nox trixie "$ROOT.tmp" >/tmp/debootstrap.log 2>&1; then
      ok=1; break
    fi
    echo "debootstrap attempt $attempt failed:"; tail -5 /tmp/debootstrap.log
    rm -rf "$ROOT.tmp"
  done
  if [ $ok = 0 ]; then
    echo "OTP 27 lane: SKIPPED: could not build the trixie root (see above)"
    exit 0
  fi
  rm -rf "$ROOT"; mv "$ROOT.tmp" "$ROOT"
fi
cp /etc/hosts "$ROOT/etc/hosts"

# Tests write modules and certificates under /tmp: share it with the chroot.
mounted=()
cleanup() { for m in "${mounted[@]+"${mounted[@]}"}"; do umount "$m" 2>/dev/null || true; done; }
trap cleanup EXIT
if ! mountpoint -q "$ROOT/tmp"; then mount --bind /tmp "$ROOT/tmp"; mounted+=("$ROOT/tmp"); fi
if ! mountpoint -q "$ROOT/proc"; then mount -t proc proc "$ROOT/proc"; mounted+=("$ROOT/proc"); fi

wrapper=$(mktemp -d)/erl27
printf '#!/bin/sh\nexec chroot %s /usr/bin/erl "$@"\n' "$ROOT" >"$wrapper"
chmod +x "$wrapper"
echo "OTP 27 lane: $("$wrapper" -noshell -eval 'io:format("OTP ~s", [erlang:system_info(otp_release)]), halt().')"

# Skipped here: the term goldens (OTP 25's contract, see above).
DISTRIBUTE_ERL=$wrapper DISTRIBUTE_REQUIRE_ERL=1 go test -race -count=1 -timeout 20m \
  -skip 'TestTermEncodeDecodeAgainstErl' \
  . ./internal/dist ./internal/epmd ./cmd/distribute ./registry ./rpc ./groups
