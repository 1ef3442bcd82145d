#!/usr/bin/env bash
# The system packages the test suite needs: Chromium (browser tests), redis-server and wrk (tests
# of several machines and faults), openssl (the mail TLS test). Installs what is missing where it
# can (root with apt-get, as on CI); elsewhere it says what is missing and never fails: the
# suite then skips those tests and its last line says so, with the command that installs them.
set -u
missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing system packages for the tests: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null && exit 0
  echo "Could not install ${missing[*]}; the tests that need them will be skipped." >&2
  exit 0
fi
echo "Missing system packages: ${missing[*]} (the tests that need them will be skipped)."
echo "Install them with: sudo apt-get install -y ${missing[*]}"
