#!/usr/bin/env bash
# Debian packages of the loudspeaker agent (cmd/speaker) for the devices in
# the villages: arm64, armhf (ARMv7 hard-float) and amd64.
#
#   scripts/package-speaker.sh [-v VERSION] [-o OUTDIR] [ARCH ...]
#
# ARCH defaults to "arm64 armhf amd64"; VERSION to the latest git tag (without
# the leading v) or 0.0.0+git<short hash>; OUTDIR to ./dist. Needs Go and
# dpkg-deb; SPEAKER_BIN may name a prebuilt binary (one ARCH only).
#
# Each package holds:
#   /usr/bin/alertcast-speaker                    static pure-Go binary (CGO_ENABLED=0)
#   /lib/systemd/system/alertcast-speaker.service hardened unit; starts once the device is enrolled
#   /usr/lib/sysusers.d/alertcast-speaker.conf    the dedicated system user
#   /etc/alertcast-speaker/speaker.yaml           configuration (a conffile: upgrades keep local edits)
#   /var/lib/alertcast-speaker                    state: audio cache, replay protection (StateDirectory)
#
# On the device, after `apt install ./alertcast-speaker_*.deb`: fill in url,
# device and public_key in /etc/alertcast-speaker/speaker.yaml, write the
# credential shown at enrolment to /etc/alertcast-speaker/speaker.credential
# (mode 0640 root:alertcast-speaker), then `systemctl start alertcast-speaker`.
# The unit does not start until that credential file exists.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/dist
VERSION=""
while getopts "v:o:" opt; do
	case $opt in
	v) VERSION=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) echo "usage: $0 [-v VERSION] [-o OUTDIR] [ARCH ...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
ARCHES=("$@")
[ ${#ARCHES[@]} -gt 0 ] || ARCHES=(arm64 armhf amd64)
if [ -z "$VERSION" ]; then
	VERSION=$(git -C "$ROOT" describe --tags --abbrev=0 2>/dev/null | sed 's/^v//') || true
	[ -n "$VERSION" ] || VERSION=0.0.0+git$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
fi
if ! [[ $VERSION =~ ^[0-9][A-Za-z0-9.+~-]*$ ]]; then
	echo "$0: -v $VERSION: a Debian version starts with a digit and has only letters, digits and . + ~ -" >&2
	exit 2
fi
if [ -n "${SPEAKER_BIN:-}" ] && [ ${#ARCHES[@]} -ne 1 ]; then
	echo "$0: SPEAKER_BIN names one binary: give exactly one ARCH" >&2
	exit 2
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

PKG=alertcast-speaker
MAINT="Alertcast maintainers <alertcast@example.org>"

for arch in "${ARCHES[@]}"; do
	case $arch in
	amd64) goarch=amd64 goarm="" ;;
	arm64) goarch=arm64 goarm="" ;;
	armhf) goarch=arm goarm=7 ;;
	*) echo "$0: unknown ARCH $arch (want arm64, armhf or amd64)" >&2; exit 2 ;;
	esac
	r=$WORK/$arch
	install -d -m 0755 "$r/DEBIAN" "$r/usr/bin" "$r/lib/systemd/system" "$r/usr/lib/sysusers.d" \
		"$r/etc/$PKG" "$r/usr/share/doc/$PKG" "$r/usr/share/lintian/overrides"

	if [ -n "${SPEAKER_BIN:-}" ]; then
		install -m 0755 "$SPEAKER_BIN" "$r/usr/bin/$PKG"
	else
		(cd "$ROOT" && CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm \
			go build -trimpath -ldflags="-s -w" -o "$r/usr/bin/$PKG" ./cmd/speaker)
		chmod 0755 "$r/usr/bin/$PKG"
	fi

	cat >"$r/lib/systemd/system/$PKG.service" <<'EOF'
[Unit]
Description=Alertcast loudspeaker agent
Documentation=https://github.com/alertcast/alertcast/blob/main/deploy/README.md
After=network-online.target sound.target
Wants=network-online.target
# Not enrolled yet: nothing to run (and no restart loop).
ConditionPathExists=/etc/alertcast-speaker/speaker.credential

[Service]
Type=simple
User=alertcast-speaker
Group=alertcast-speaker
SupplementaryGroups=audio
ExecStart=/usr/bin/alertcast-speaker --config /etc/alertcast-speaker/speaker.yaml
Restart=always
RestartSec=5
StateDirectory=alertcast-speaker
StateDirectoryMode=0700
UMask=0077
NoNewPrivileges=true
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true
# The player (aplay by default) needs the sound card, nothing else.
DevicePolicy=closed
DeviceAllow=char-alsa rw
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectKernelLogs=true
ProtectControlGroups=true
ProtectClock=true
ProtectHostname=true
ProtectProc=invisible
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=true
RestrictRealtime=true
RestrictSUIDSGID=true
LockPersonality=true
MemoryDenyWriteExecute=true
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
EOF

	cat >"$r/usr/lib/sysusers.d/$PKG.conf" <<'EOF'
# The system user the Alertcast loudspeaker agent runs as.
u alertcast-speaker - "Alertcast loudspeaker agent" /var/lib/alertcast-speaker /usr/sbin/nologin
m alertcast-speaker audio
EOF

	cat >"$r/etc/$PKG/speaker.yaml" <<'EOF'
# Alertcast loudspeaker agent. Fill in url, device and public_key, write the
# credential shown at enrolment to /etc/alertcast-speaker/speaker.credential
# (mode 0640 root:alertcast-speaker), then: systemctl start alertcast-speaker
url: https://alertcast.example.org      # the platform, as the device reaches it
device: ""                              # device id given at enrolment, e.g. 653122100201-01
credential_file: /etc/alertcast-speaker/speaker.credential
public_key: ""                          # "alertctl speakers key", or GET /api/v1/speakers/key
cache_dir: /var/lib/alertcast-speaker   # audio cache and replay protection: persistent storage
window: 2m                              # accepted clock difference to the platform, either way
heartbeat: 20s
signal_file: ""                         # optional: a file holding the modem RSSI in dBm
sink:
  type: command
  command: ["aplay", "-q", "{file}"]    # {file} = WAV path, {volume} = 0..100
EOF

	cat >"$r/usr/share/doc/$PKG/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: alertcast
Source: https://github.com/alertcast/alertcast

Files: *
Copyright: 2025-2026 Alertcast contributors
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
	printf '%s (%s) stable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' \
		"$PKG" "$VERSION" "$VERSION" "$MAINT" "$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")" |
		gzip -9n >"$r/usr/share/doc/$PKG/changelog.gz"

	cat >"$r/usr/share/lintian/overrides/$PKG" <<'EOF'
# Go links statically by design: one file, no libc, runs on any Debian release of the device.
alertcast-speaker: statically-linked-binary [usr/bin/alertcast-speaker]
# The agent is configured by one YAML file, documented in it and in deploy/README.md; it has no man page.
alertcast-speaker: no-manual-page [usr/bin/alertcast-speaker]
# Go's internal linker on arm/arm64 builds position-dependent static binaries without cgo.
alertcast-speaker: hardening-no-pie [usr/bin/alertcast-speaker]
EOF

	printf '/etc/%s/speaker.yaml\n' "$PKG" >"$r/DEBIAN/conffiles"

	size=$(du -sk --exclude=DEBIAN "$r" | cut -f1)
	cat >"$r/DEBIAN/control" <<EOF
Package: $PKG
Version: $VERSION
Architecture: $arch
Maintainer: $MAINT
Installed-Size: $size
Depends: systemd (>= 247)
Recommends: alsa-utils
Section: net
Priority: optional
Homepage: https://github.com/alertcast/alertcast
Description: Alertcast loudspeaker agent for village emergency broadcast
 Runs on a village loudspeaker (应急广播大喇叭): keeps a WebSocket to the
 Alertcast platform, plays only warnings signed with the platform's Ed25519
 key, fresh and not replayed, the highest level first, and keeps playing
 when the network drops. Reports its state and every play back.
EOF

	# Maintainer scripts in debhelper's form (deb-systemd-helper and
	# deb-systemd-invoke, which honour policy-rc.d and masks).
	cat >"$r/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
	systemd-sysusers alertcast-speaker.conf
	# The config and the credential are readable by the agent, not by others.
	chgrp alertcast-speaker /etc/alertcast-speaker /etc/alertcast-speaker/speaker.yaml
	chmod 0750 /etc/alertcast-speaker
	chmod 0640 /etc/alertcast-speaker/speaker.yaml
fi
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ]; then
	deb-systemd-helper unmask 'alertcast-speaker.service' >/dev/null || true
	if deb-systemd-helper --quiet was-enabled 'alertcast-speaker.service'; then
		deb-systemd-helper enable 'alertcast-speaker.service' >/dev/null || true
	else
		deb-systemd-helper update-state 'alertcast-speaker.service' >/dev/null || true
	fi
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		# An unenrolled agent stays skipped (ConditionPathExists on the credential).
		deb-systemd-invoke restart 'alertcast-speaker.service' >/dev/null || true
	fi
fi
exit 0
EOF
	cat >"$r/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = "remove" ]; then
	deb-systemd-invoke stop 'alertcast-speaker.service' >/dev/null || true
fi
exit 0
EOF
	cat >"$r/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = "remove" ] && [ -x "/usr/bin/deb-systemd-helper" ]; then
	deb-systemd-helper mask 'alertcast-speaker.service' >/dev/null || true
fi
if [ "$1" = "purge" ]; then
	if [ -x "/usr/bin/deb-systemd-helper" ]; then
		deb-systemd-helper purge 'alertcast-speaker.service' >/dev/null || true
		deb-systemd-helper unmask 'alertcast-speaker.service' >/dev/null || true
	fi
	# The credential and the state go with a purge; the user stays (Debian policy).
	rm -f /etc/alertcast-speaker/speaker.credential
	rm -rf /var/lib/alertcast-speaker
fi
exit 0
EOF
	chmod 0755 "$r/DEBIAN/postinst" "$r/DEBIAN/prerm" "$r/DEBIAN/postrm"
	find "$r" -type d -exec chmod 0755 {} +
	find "$r/usr/share" "$r/lib" "$r/etc" "$r/usr/lib/sysusers.d" "$r/DEBIAN/control" "$r/DEBIAN/conffiles" -type f -exec chmod 0644 {} +

	deb=$OUT/${PKG}_${VERSION}_${arch}.deb
	dpkg-deb --root-owner-group -Zxz --build "$r" "$deb" >/dev/null
	echo "$deb"
done
