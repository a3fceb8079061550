#!/usr/bin/env bash
# Build the kernel side: vendored libbpf (static, -fPIC), vmlinux.h, the BPF
# object and its skeleton, the record layout generated from the object's BTF,
# and the node addon. Idempotent: each step is skipped when its output is
# newer than its inputs.
#
#   npm run build:kernel            (bash native/build.sh)
#   PROCFLOW_LIBBPF=system ...      skip the vendored libbpf, link libbpf.so.1
#   PROCFLOW_BUILD_VERBOSE=1 ...    show the commands' own output
#   PROCFLOW_SKIP_KERNEL_BUILD=1    skip everything (machines without BTF or tools)
set -euo pipefail
if [[ "${PROCFLOW_SKIP_KERNEL_BUILD:-0}" == 1 ]]; then
  printf 'build:kernel: skipped (PROCFLOW_SKIP_KERNEL_BUILD=1); kernel tests will skip, or fail under CI\n' >&2
  exit 0
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
bpf_dir="$root/bpf"
bpf_build="$bpf_dir/build"
vendor="$here/vendor"
libbpf_prefix="$vendor/libbpf-install"
verbose="${PROCFLOW_BUILD_VERBOSE:-0}"

say() { printf 'build:kernel: %s\n' "$*" >&2; }
die() { printf 'build:kernel: ERROR: %s\n' "$*" >&2; exit 1; }
quiet() {
  # Run a command; show its output only when it fails (or when verbose).
  local log
  log="$(mktemp)"
  if [[ "$verbose" == 1 ]]; then "$@"; return; fi
  if ! "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}
# True when $1 is missing or older than any of the remaining paths.
stale() {
  local out="$1"; shift
  [[ -e "$out" ]] || return 0
  local f
  for f in "$@"; do
    [[ "$f" -nt "$out" ]] && return 0
  done
  return 1
}

# ---- what the build needs ------------------------------------------------------
missing=()
command -v clang >/dev/null || missing+=("clang (apt-get install clang): compiles bpf/*.bpf.c")
command -v llvm-strip >/dev/null || missing+=("llvm-strip (apt-get install llvm): strips DWARF from the BPF object")
command -v bpftool >/dev/null || missing+=("bpftool (apt-get install bpftool): generates vmlinux.h and the skeleton")
command -v make >/dev/null || missing+=("make (apt-get install make)")
command -v g++ >/dev/null || missing+=("g++ (apt-get install g++): compiles the addon")
command -v pkg-config >/dev/null || missing+=("pkg-config (apt-get install pkg-config)")
if command -v pkg-config >/dev/null; then
  pkg-config --exists libelf || missing+=("libelf headers (apt-get install libelf-dev): libbpf reads ELF with it")
  pkg-config --exists zlib || missing+=("zlib headers (apt-get install zlib1g-dev)")
fi
# The addon is built against the headers of the node that runs it: those node-env.sh names for
# node-gyp (scripts/bootstrap.sh), else the ones beside the running node, as release builds have.
node_bin="$(command -v node || true)"
nodedir="${npm_package_config_node_gyp_nodedir:-$(dirname "$(dirname "$(readlink -f "${node_bin:-/}")")")}"
[[ -n "$node_bin" ]] || missing+=("node (bash scripts/bootstrap.sh installs the Node.js package.json's engines asks for)")
[[ -r "$nodedir/include/node/node_api.h" ]] ||
  missing+=("Node.js headers at $nodedir/include/node (bash scripts/bootstrap.sh installs a Node.js with its headers; or set npm_package_config_node_gyp_nodedir to a directory with include/node)")
[[ -d "$root/node_modules/node-addon-api" ]] || missing+=("node-addon-api in node_modules (npm ci)")
[[ -d "$root/node_modules/node-gyp" ]] || missing+=("node-gyp in node_modules (npm ci)")
[[ -d "$root/node_modules/typescript" ]] || missing+=("typescript in node_modules (npm ci): compiles the layout generator")
if ((${#missing[@]})); then
  say "cannot build the kernel side; missing:"
  for m in "${missing[@]}"; do printf '  - %s\n' "$m" >&2; done
  say "native/apt-packages.txt lists every Debian package the build needs"
  exit 1
fi

headers="$(sed -n 's/^#define NODE_\(MAJOR\|MINOR\|PATCH\)_VERSION \([0-9]*\).*/\2/p' "$nodedir/include/node/node_version.h" | paste -sd.)"
running="$(node -p process.versions.node)"
[[ "${headers%%.*}" == "${running%%.*}" ]] ||
  die "the Node.js headers in $nodedir/include/node are for $headers, but $node_bin is $running: build with the headers of the node that runs procflow (bash scripts/bootstrap.sh sets both up)"

mkdir -p "$bpf_build" "$vendor"

# ---- libbpf: vendored from the Debian source package -----------------------------
libbpf_mode="${PROCFLOW_LIBBPF:-vendored}"
libbpf_src=""
fetch_libbpf_source() {
  local dir
  dir="$(find "$vendor" -maxdepth 1 -type d -name 'libbpf-[0-9]*' | sort | tail -n1)"
  if [[ -n "$dir" && -f "$dir/src/Makefile" ]]; then libbpf_src="$dir"; return 0; fi
  command -v apt-get >/dev/null || return 1
  say "fetching libbpf source (apt-get source libbpf) into native/vendor"
  local list=/etc/apt/sources.list.d/procflow-deb-src.sources
  if ! apt-get source --print-uris libbpf >/dev/null 2>&1; then
    # No deb-src configured: add one for the running release, refresh only it.
    [[ "$(id -u)" == 0 ]] || { say "need root to add a deb-src line for libbpf"; return 1; }
    local codename
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
    cat >"$list" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    quiet apt-get update -q -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- \
      -o APT::Get::List-Cleanup=0 || return 1
  fi
  (cd "$vendor" && quiet apt-get source -q --download-only libbpf) || return 1
  local orig
  orig="$(ls "$vendor"/libbpf_*.orig.tar.* 2>/dev/null | sort | tail -n1)"
  [[ -n "$orig" ]] || return 1
  tar -C "$vendor" -xf "$orig"
  dir="$(find "$vendor" -maxdepth 1 -type d -name 'libbpf-[0-9]*' | sort | tail -n1)"
  [[ -n "$dir" && -f "$dir/src/Makefile" ]] || return 1
  libbpf_src="$dir"
}

if [[ "$libbpf_mode" == vendored ]]; then
  if fetch_libbpf_source; then
    if stale "$libbpf_prefix/lib/libbpf.a" "$libbpf_src/src/Makefile"; then
      say "building vendored libbpf $(basename "$libbpf_src") (static, -fPIC)"
      mkdir -p "$vendor/libbpf-obj"
      quiet make -C "$libbpf_src/src" -j"$(nproc)" BUILD_STATIC_ONLY=1 \
        OBJDIR="$vendor/libbpf-obj" DESTDIR="$libbpf_prefix" PREFIX= LIBDIR=/lib \
        INCLUDEDIR=/include UAPIDIR=/include \
        EXTRA_CFLAGS="-fPIC -O2 -g" install install_uapi_headers \
        || die "libbpf build failed (see above)"
    fi
  else
    say "WARNING: no libbpf source could be fetched; falling back to the system libbpf.so.1"
    libbpf_mode=system
  fi
fi
if [[ "$libbpf_mode" == system ]]; then
  [[ -e /usr/lib/x86_64-linux-gnu/libbpf.so.1 || -e /usr/lib/libbpf.so.1 ]] ||
    die "no libbpf: neither the Debian source package nor libbpf.so.1 (apt-get install libbpf1 libbpf-dev)"
  [[ -r /usr/include/bpf/libbpf.h ]] || die "system libbpf headers missing (apt-get install libbpf-dev)"
  libbpf_inc=/usr/include
  say "using the SYSTEM libbpf.so.1 (dynamic); the addon needs it at run time"
else
  libbpf_inc="$libbpf_prefix/include"
fi

# ---- vmlinux.h from the running kernel's BTF -------------------------------------
btf=/sys/kernel/btf/vmlinux
[[ -r "$btf" ]] || die "no kernel BTF at $btf (a kernel built with CONFIG_DEBUG_INFO_BTF=y is needed)"
kstamp="$bpf_build/vmlinux.kernel"
kid="$(uname -r) $(stat -c %s "$btf")"
if [[ ! -s "$bpf_build/vmlinux.h" || "$(cat "$kstamp" 2>/dev/null)" != "$kid" ]]; then
  say "generating bpf/build/vmlinux.h from $btf"
  bpftool btf dump file "$btf" format c >"$bpf_build/vmlinux.h.tmp" || die "bpftool could not dump $btf"
  mv "$bpf_build/vmlinux.h.tmp" "$bpf_build/vmlinux.h"
  echo "$kid" >"$kstamp"
fi

# ---- BPF object and skeleton ------------------------------------------------------
obj="$bpf_build/procflow.bpf.o"
skel="$bpf_build/procflow.skel.h"
mapfile -t bpf_inputs < <(find "$bpf_dir" -path "$bpf_build" -prune -o -type f \( -name '*.c' -o -name '*.h' \) -print)
if stale "$obj" "${bpf_inputs[@]}" "$bpf_build/vmlinux.h"; then
  say "compiling bpf/procflow.bpf.c"
  clang -g -O2 -Wall -Wno-unused-function -target bpf -D__TARGET_ARCH_x86 \
    -I "$bpf_build" -I "$bpf_dir" -I "$libbpf_inc" \
    -c "$bpf_dir/procflow.bpf.c" -o "$obj.tmp" || die "clang failed on bpf/procflow.bpf.c"
  llvm-strip -g "$obj.tmp"
  mv "$obj.tmp" "$obj"
fi
if stale "$skel" "$obj"; then
  bpftool gen skeleton "$obj" name procflow >"$skel.tmp" || die "bpftool gen skeleton failed"
  mv "$skel.tmp" "$skel"
fi

# ---- the record layout, from the object's BTF --------------------------------------
# native/btf/gen-layout.ts writes native/layout.generated.ts (the decoder's layout, committed)
# and bpf/build/procflow.layout.h (static_asserts the addon compiles). Under CI it only checks
# the committed file, so a header change whose regenerated layout was not committed fails here.
tsc=(node "$root/node_modules/typescript/bin/tsc" -p "$root/tsconfig.json")
gen_js="$root/dist/native/btf/gen-layout.js"
layout_ts="$here/layout.generated.ts"
mapfile -t gen_inputs < <(find "$here/btf" -name '*.ts')
if stale "$gen_js" "${gen_inputs[@]}"; then
  say "compiling TypeScript (npm run build:ts): the layout generator is part of it"
  quiet "${tsc[@]}" || die "tsc failed; npm run build:ts shows why"
fi
if [[ "${CI:-}" == true || "${CI:-}" == 1 ]]; then
  node "$gen_js" --check || die "the committed layout does not match bpf/procflow.h (see above)"
else
  before_layout="$(cat "$layout_ts" 2>/dev/null || true)"
  node "$gen_js" || die "could not generate the layout from $obj (see above)"
  if [[ "$(cat "$layout_ts")" != "$before_layout" ]]; then
    say "the layout changed: recompiling TypeScript so dist/ decodes with it"
    quiet "${tsc[@]}" || die "tsc failed; npm run build:ts shows why"
  fi
fi

# ---- the addon ----------------------------------------------------------------------
# node-gyp lets npm's environment (npm_config_nodedir, from a ~/.npmrc) override its command line;
# npm_package_config_node_gyp_nodedir overrides that, so both name the same headers.
gyp=(env "npm_package_config_node_gyp_nodedir=$nodedir" node "$root/node_modules/node-gyp/bin/node-gyp.js"
  --directory="$here" --nodedir="$nodedir")
cfg_id="libbpf=$libbpf_mode inc=$libbpf_inc node=$headers nodedir=$nodedir"
if [[ ! -f "$here/build/Makefile" || "$(cat "$here/build/procflow.config" 2>/dev/null)" != "$cfg_id" ]]; then
  # Objects compiled against other headers must not survive into this build.
  rm -rf "$here/build"
  say "configuring the addon (node-gyp, libbpf $libbpf_mode, Node.js $headers headers)"
  quiet "${gyp[@]}" configure -- -Dlibbpf_mode="$libbpf_mode" -Dlibbpf_prefix="$libbpf_prefix" ||
    die "node-gyp configure failed"
  echo "$cfg_id" >"$here/build/procflow.config"
fi
before="$(stat -c %Y "$here/build/Release/procflow.node" 2>/dev/null || echo 0)"
quiet "${gyp[@]}" build -j "$(nproc)" || die "addon compile failed"
after="$(stat -c %Y "$here/build/Release/procflow.node" 2>/dev/null || echo 0)"
if [[ "$before" != "$after" ]]; then
  say "built native/build/Release/procflow.node (libbpf: $libbpf_mode)"
else
  say "up to date (libbpf: $libbpf_mode)"
fi
