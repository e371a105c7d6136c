#!/usr/bin/env bash
# Provides Mesa's lavapipe (llvmpipe's Vulkan driver, a CPU implementation of
# Vulkan) for Dawn: unlike SwiftShader it has shaderFloat16 and 16-bit storage,
# so Dawn's adapter on it has `shader-f16` and the WebGPU f16 path is tested.
# Bookworm's own Mesa (22.3) lacks the descriptor-indexing features Dawn needs,
# so the driver comes from bookworm-backports' mesa-vulkan-drivers (Mesa 25),
# read with a private apt state (the machine's sources are not changed).
# Puts libvulkan_lvp.so, lvp_icd.json (absolute path) and the Vulkan loader
# libvulkan.so.1 (from scripts/swiftshader.sh) into $LAVAPIPE_DIR
# (default: <repo>/.cache/lavapipe), once; later runs reuse them. Installs the
# driver's shared-library dependencies (libLLVM-15, libdrm, ...) with apt when
# they are missing. Prints the directory. Use it as:
#   VK_ICD_FILENAMES=$DIR/lvp_icd.json LD_LIBRARY_PATH=$DIR npx vitest run test/kernels/webgpu
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${LAVAPIPE_DIR:-$PWD/.cache/lavapipe}"
SUITE="${LAVAPIPE_SUITE:-bookworm-backports}"
if [ ! -s "$DIR/libvulkan_lvp.so" ] || [ ! -s "$DIR/lvp_icd.json" ] || [ ! -s "$DIR/libvulkan.so.1" ]; then
  mkdir -p "$DIR"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" >"$tmp/sources.list"
  APT=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
       -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o APT::Sandbox::User=root)
  apt-get "${APT[@]}" -qq update >&2
  (cd "$tmp" && apt-get "${APT[@]}" -qq download mesa-vulkan-drivers >&2)
  dpkg-deb -x "$tmp"/mesa-vulkan-drivers_*.deb "$tmp/x"
  cp "$tmp/x/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so" "$DIR/"
  deps="$(dpkg-deb -f "$tmp"/mesa-vulkan-drivers_*.deb Depends)"
  printf '{ "file_format_version": "1.0.0", "ICD": { "api_version": "1.3.0", "library_path": "%s/libvulkan_lvp.so" } }\n' "$DIR" >"$DIR/lvp_icd.json"
  cp "$(scripts/swiftshader.sh)/libvulkan.so.1" "$DIR/"
  if LD_LIBRARY_PATH="$DIR" ldd "$DIR/libvulkan_lvp.so" | grep -q 'not found'; then
    # Every dependency but the loader, from the machine's own (bookworm) sources.
    pkgs="$(echo "$deps" | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:any//; s/ //g' | grep -v -x -e libvulkan1 -e '')"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    # shellcheck disable=SC2086
    { $SUDO apt-get install -y -qq --no-install-recommends $pkgs >&2 ||
      { $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq --no-install-recommends $pkgs >&2; }; }
  fi
fi
echo "$DIR"
