#!/bin/sh
# Release notes from CHANGELOG.md: prints the section of VERSION (default:
# the workspace version in Cargo.toml; "Unreleased" for what is not yet), its
# heading and everything up to the next "## " heading. Exits 1 if the
# CHANGELOG has no such section.
#   deploy/release/notes.sh 0.2.0 > notes.md
set -eu
cd "$(dirname "$0")/../.."
version="${1:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)}"
awk -v want="$version" '
	/^## / {
		if (printing) exit
		heading = substr($0, 4)
		sub(/ .*/, "", heading)
		if (heading == want || heading == "[" want "]") { printing = 1; found = 1 }
	}
	printing { print }
	END { if (!found) exit 1 }
' CHANGELOG.md || { echo "CHANGELOG.md has no section for $version" >&2; exit 1; }
