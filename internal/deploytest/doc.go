// Package deploytest tests the files in deploy/ and scripts/ with the real
// tools a county IT team runs them with: promtool for the alert rules,
// systemd-analyze for the units, dpkg-deb, dpkg and lintian for the
// loudspeaker package, nginx for the TLS proxy, and an empty root for the
// static binary. Each tool comes from PATH through internal/testsvc: a
// missing one skips, or fails under ALERTCAST_REQUIRE_SERVICES=1.
//
// The package has no code of its own; it must never be imported.
package deploytest
