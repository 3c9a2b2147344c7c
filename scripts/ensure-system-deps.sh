#!/usr/bin/env bash
# Installs the system packages the test suite needs (Debian chromium for the real-browser tests)
# when they are missing and we are allowed to. Never downloads a browser build of its own.
set -u
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian chromium for the browser tests..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; browser tests will skip with a reason"
  else
    echo "note: /usr/bin/chromium missing and not root; browser tests will skip with a reason"
  fi
fi
exit 0
