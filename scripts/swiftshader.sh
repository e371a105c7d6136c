#!/usr/bin/env bash
# Provides SwiftShader's Vulkan driver (CPU implementation of Vulkan) for Dawn,
# so the WebGPU tests run on a real WebGPU implementation without a GPU.
# Takes three files from Debian's chromium-common package (no browser install):
#   libvk_swiftshader.so, vk_swiftshader_icd.json, libvulkan.so.1
# into $SWIFTSHADER_DIR (default: <repo>/.cache/swiftshader), once; later runs reuse them.
# Prints the directory. Use it as:
#   VK_ICD_FILENAMES=$DIR/vk_swiftshader_icd.json LD_LIBRARY_PATH=$DIR npx vitest run test/kernels/webgpu
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${SWIFTSHADER_DIR:-$PWD/.cache/swiftshader}"
FILES=(libvk_swiftshader.so vk_swiftshader_icd.json libvulkan.so.1)
have=1
for f in "${FILES[@]}"; do [ -s "$DIR/$f" ] || have=0; done
if [ "$have" = 0 ]; then
  mkdir -p "$DIR"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  if ! ls "$tmp"/chromium-common_*.deb >/dev/null 2>&1; then
    (cd "$tmp" && { apt-get download chromium-common >&2 2>/dev/null || { apt-get update >&2 && apt-get download chromium-common >&2; }; })
  fi
  dpkg-deb -x "$tmp"/chromium-common_*.deb "$tmp/x"
  for f in "${FILES[@]}"; do cp "$tmp/x/usr/lib/chromium/$f" "$DIR/$f"; done
fi
echo "$DIR"
