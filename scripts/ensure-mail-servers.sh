#!/usr/bin/env bash
# Makes sure the mail servers the test suite talks to are installed: Debian's Dovecot
# (POP3 + IMAP). Idempotent and non-interactive; safe to call before every test run.
#
# The tests start their own Dovecot instance (own config, high loopback ports, an
# unprivileged user), so the package's system service is stopped and disabled here:
# nothing of the Debian default configuration is used or needed.
set -euo pipefail

TEST_USER="${CRMSYNC_MAIL_TEST_USER:-crmsync-test}"

need_install=0
for pkg in dovecot-imapd dovecot-pop3d; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        need_install=1
    fi
done

if [ "$need_install" = 1 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "ensure-mail-servers: dovecot-imapd/dovecot-pop3d missing and not root" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Keep the package's post-install from starting the system service.
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod +x "$policy"
        created_policy=1
    fi
    apt-get -o DPkg::Lock::Timeout=600 update -qq || true
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends dovecot-imapd dovecot-pop3d >/dev/null
    if [ "$created_policy" = 1 ]; then
        rm -f "$policy"
    fi
fi

# The system service, if some earlier install started it, is not ours: stop it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
elif [ -f /run/dovecot/master.pid ]; then
    kill "$(cat /run/dovecot/master.pid)" 2>/dev/null || true
fi

if [ "$(id -u)" = 0 ] && ! id -u "$TEST_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$TEST_USER"
fi

echo "ensure-mail-servers: $(dovecot --version 2>/dev/null | head -1 || echo 'dovecot missing')"
