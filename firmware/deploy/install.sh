#!/usr/bin/env bash
# Install heatcast as a service on Raspberry Pi OS (Bookworm, Python 3.11; Trixie, Python 3.13).
#
#   sudo firmware/deploy/install.sh              # from a clone of the heatcast repository
#   sudo firmware/deploy/install.sh --dry-run    # print what it would do, change nothing
#   sudo firmware/deploy/install.sh --no-start   # install, but do not start the service yet
#
# It: installs the Debian packages heatcast needs; enables I2C; creates the system
# user "heatcast" (groups i2c, plugdev, dialout); installs heatcast into the virtual
# environment /opt/heatcast/venv; writes /etc/heatcast/heatcast.toml (never overwrites
# it) and a site secret for the NFC tag passwords (never overwrites it); installs the
# udev rule for USB NFC readers and the systemd unit; starts the service and runs
# heatcast doctor. Running it again upgrades heatcast and keeps config, secret and data.
set -euo pipefail

PREFIX=/opt/heatcast
VENV="$PREFIX/venv"
ETC=/etc/heatcast
USER_NAME=heatcast
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE="$(cd "$HERE/../.." && pwd)"
DRY_RUN=0
START=1
REBOOT_NEEDED=0

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN=1 ;;
        --no-start) START=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $arg (use --dry-run, --no-start or --help)" >&2; exit 2 ;;
    esac
done

say() { printf '\n== %s\n' "$*"; }
run() {
    if [ "$DRY_RUN" = 1 ]; then
        printf '+ %s\n' "$*"
    else
        "$@"
    fi
}

if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run it as root: sudo $0" >&2
    exit 2
fi
if [ ! -f "$SOURCE/setup.cfg" ] || [ ! -d "$SOURCE/firmware" ]; then
    echo "install.sh: run it from a clone of the heatcast repository ($SOURCE has no setup.cfg)" >&2
    exit 2
fi

CODENAME=unknown
if [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091
    CODENAME="$(. /etc/os-release && echo "${VERSION_CODENAME:-unknown}")"
fi
case "$CODENAME" in
    bookworm|trixie) ;;
    *) echo "install.sh: warning: tested on Raspberry Pi OS bookworm and trixie, this is '$CODENAME'" >&2 ;;
esac

say "Debian packages"
run apt-get update
run apt-get install -y --no-install-recommends \
    python3 python3-venv python3-dev i2c-tools libusb-1.0-0 ca-certificates fonts-dejavu-core

say "I2C (the AMG8833 is on /dev/i2c-1)"
if [ -e /dev/i2c-1 ]; then
    echo "I2C is already enabled"
elif command -v raspi-config >/dev/null 2>&1; then
    run raspi-config nonint do_i2c 0
    REBOOT_NEEDED=1
else
    # Not Raspberry Pi OS's raspi-config: the same settings by hand.
    CONFIG_TXT=/boot/firmware/config.txt
    [ -f "$CONFIG_TXT" ] || CONFIG_TXT=/boot/config.txt
    if ! grep -qs '^dtparam=i2c_arm=on' "$CONFIG_TXT"; then
        if [ "$DRY_RUN" = 1 ]; then
            printf '+ echo dtparam=i2c_arm=on >> %s\n' "$CONFIG_TXT"
        else
            echo 'dtparam=i2c_arm=on' >> "$CONFIG_TXT"
        fi
    fi
    if [ "$DRY_RUN" = 1 ]; then
        printf '+ echo i2c-dev > /etc/modules-load.d/heatcast-i2c.conf\n'
    else
        echo i2c-dev > /etc/modules-load.d/heatcast-i2c.conf
    fi
    run modprobe i2c-dev || true
    REBOOT_NEEDED=1
fi

say "the heatcast user"
for group in i2c plugdev dialout; do
    getent group "$group" >/dev/null || run groupadd --system "$group"
done
if ! id "$USER_NAME" >/dev/null 2>&1; then
    run useradd --system --home-dir /var/lib/heatcast --no-create-home \
        --shell /usr/sbin/nologin --user-group "$USER_NAME"
fi
run usermod -a -G i2c,plugdev,dialout "$USER_NAME"

say "heatcast into $VENV"
run mkdir -p "$PREFIX"
if [ ! -x "$VENV/bin/python" ]; then
    run python3 -m venv "$VENV"
fi
run "$VENV/bin/pip" install --quiet --upgrade pip
run "$VENV/bin/pip" install --quiet --upgrade "${SOURCE}[pi]"

say "configuration in $ETC"
run install -d -m 0755 "$ETC"
if [ ! -f "$ETC/heatcast.toml" ]; then
    run install -m 0644 "$HERE/heatcast.toml" "$ETC/heatcast.toml"
else
    echo "keeping $ETC/heatcast.toml"
fi
if [ ! -f "$ETC/nfc-secret" ]; then
    # The per-tag NFC passwords derive from this secret: losing it locks heatcast out of
    # its own tags, so it is never overwritten. Keep a copy somewhere safe.
    if [ "$DRY_RUN" = 1 ]; then
        printf '+ (random 32-byte hex secret) > %s/nfc-secret, owner %s, mode 600\n' "$ETC" "$USER_NAME"
    else
        (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$ETC/nfc-secret" && echo >> "$ETC/nfc-secret")
        chown "$USER_NAME:$USER_NAME" "$ETC/nfc-secret"
        chmod 600 "$ETC/nfc-secret"
    fi
else
    echo "keeping $ETC/nfc-secret"
fi

say "udev rule for USB NFC readers"
run install -m 0644 "$HERE/60-heatcast-nfc.rules" /etc/udev/rules.d/60-heatcast-nfc.rules
run install -m 0644 "$HERE/heatcast-nfc-blacklist.conf" /etc/modprobe.d/heatcast-nfc-blacklist.conf
run udevadm control --reload-rules
run udevadm trigger --subsystem-match=usb

say "systemd service"
run install -m 0644 "$HERE/heatcast.service" /etc/systemd/system/heatcast.service
run systemctl daemon-reload
if [ "$START" = 1 ]; then
    run systemctl enable --now heatcast.service
    run systemctl restart heatcast.service
else
    run systemctl enable heatcast.service
fi

say "heatcast doctor"
run runuser -u "$USER_NAME" -- "$VENV/bin/heatcast" doctor --config "$ETC/heatcast.toml" || true

echo
echo "heatcast is installed. The page: http://127.0.0.1:8080/ (open it full-screen in the"
echo "kiosk browser: chromium --kiosk http://127.0.0.1:8080/). Logs: journalctl -u heatcast -f"
if [ "$REBOOT_NEEDED" = 1 ]; then
    echo "I2C was just enabled: reboot now (sudo reboot) so that /dev/i2c-1 appears."
fi
