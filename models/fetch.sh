#!/usr/bin/env bash
# Re-derives the face model weights in this folder from the npm registry and checks them
# against MANIFEST. Usage: models/fetch.sh [--check-only]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pkg="@vladmandic/face-api"
ver="1.7.15"
tarball_sha="$(sed -n 's/^tarball-sha256: //p' "$here/MANIFEST")"
if [[ "${1:-}" != "--check-only" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$pkg@$ver" >/dev/null)
  tgz="$(ls "$tmp"/*.tgz)"
  echo "$tarball_sha  $tgz" | sha256sum -c -
  tar -xzf "$tgz" -C "$tmp"
  grep -E '^[0-9a-f]{64}  ' "$here/MANIFEST" | while read -r _ file; do
    cp "$tmp/package/model/$file" "$here/$file"
  done
fi
(cd "$here" && grep -E '^[0-9a-f]{64}  ' MANIFEST | sha256sum -c -)
