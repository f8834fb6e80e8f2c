#!/usr/bin/env bash
# Builds the release archive for installing Carapace without Nix (issue 18):
#
#   dist/carapace-<version>-<target>.tar.gz   (and .tar.gz.sha256 beside it)
#
# with the layout the Nix package has (nix/packages.nix) and the core expects
# (src/plugins/discover.rs: bundled plugins at <bin>/../share/carapace/plugins,
# handlers beside `carapace`):
#
#   carapace-<version>-<target>/
#     bin/carapace, bin/ipc (static musl), bin/carapace-plugin-<name> for every bundled plugin
#     share/carapace/plugins/<name>/manifest.json, skills/*.md
#     share/doc/carapace/  README.md, docs/*, LICENSE* (if any), plugins/<name>/README.md
#     share/bash-completion/completions/carapace.bash, share/zsh/site-functions/_carapace,
#     share/fish/vendor_completions.d/carapace.fish
#     install.sh   the installer (scripts/install.sh)
#     DIST         name, version, target, commit, profile, source date
#     SHA256SUMS   every file above but itself
#
# The bundled plugins are every plugins/*/manifest.json; each folder's crate must
# have a [[bin]] named as its manifest's `handler` (a folder that does not is an
# error, never skipped).
#
# Reproducible: two runs on the same commit give the same bytes. SOURCE_DATE_EPOCH
# is the last commit's date (unless set), no build path is compiled in
# (--remap-path-prefix for the checkout, the target dir, CARGO_HOME, RUSTUP_HOME
# and HOME; CARAPACE_DIST=1 leaves out the source-tree fallback, src/source_tree.rs),
# no debug info, no incremental build, and tar/gzip write no time, owner or order
# of their own.
#
# The host binaries are built with `--target <host>`, so into
# target/<host>/<profile>/: the flags above never invalidate the plain
# target/<profile>/ that `cargo build` and `cargo test` use.
set -euo pipefail
umask 022
export LC_ALL=C TZ=UTC

die() {
  printf 'dist.sh: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat <<'EOF'
Usage: scripts/dist.sh [--profile PROFILE] [--out DIR]

Builds dist/carapace-<version>-<target>.tar.gz: the core, the static `ipc`, every
bundled plugin, the docs, install.sh and SHA256SUMS. Two runs on the same commit
give the same bytes.

  --profile PROFILE  cargo profile for the core and plugins (default: release;
                     `dev` builds much faster, for tests). `ipc` is always built
                     with the `ipc` profile for <arch>-unknown-linux-musl.
  --out DIR          where the archive goes (default: dist/ in the checkout)
  -h, --help         this text

Needs: cargo, the <arch>-unknown-linux-musl target (rustup target add ...),
git, python3, GNU tar, gzip, sha256sum.
EOF
}

profile=release
out=
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) [ $# -ge 2 ] || die "--profile needs a value"; profile=$2; shift 2 ;;
    --profile=*) profile=${1#--profile=}; shift ;;
    --out) [ $# -ge 2 ] || die "--out needs a value"; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ $profile =~ ^[A-Za-z0-9_-]+$ ]] || die "--profile: not a cargo profile name: $profile"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root"
for tool in git python3 tar gzip sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is needed and not installed"
done
cargo=${CARGO:-cargo}
# Only the flags set below: a caller's RUSTFLAGS would change the bytes. The source
# tree's path reaches the core only through CARAPACE_SOURCE_TREE, which cargo also
# puts in the environment of what `cargo test` and `cargo run` start.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET CARAPACE_SOURCE_TREE

host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
  *-unknown-linux-gnu) ;;
  *) die "archives are built for Linux only; this host is $host" ;;
esac
musl="${host%%-*}-unknown-linux-musl"
musl_libdir=$(rustc --print target-libdir --target "$musl" 2>/dev/null || true)
if ! compgen -G "$musl_libdir/libcore-*.rlib" >/dev/null; then
  die "the $musl target is not installed (rustup target add $musl); ipc is built static with it"
fi

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) || die "not a git checkout; set SOURCE_DATE_EPOCH"
fi
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH is not a number of seconds"
export SOURCE_DATE_EPOCH
commit=$(git rev-parse HEAD)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "dist.sh: warning: the working tree has uncommitted changes; the archive is not commit $commit" >&2
  commit="$commit-modified"
fi

metadata=$("$cargo" metadata --locked --no-deps --format-version 1) || die "cargo metadata failed"
target_dir=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' <<<"$metadata")

# One line per bundled plugin: <name> <package> <handler>, in name order.
list_plugins=$(cat <<'PY'
import glob, json, os, re, sys
root = sys.argv[1]
packages = {os.path.realpath(p["manifest_path"]): p for p in json.load(sys.stdin)["packages"]}
for manifest in sorted(glob.glob(os.path.join(root, "plugins", "*", "manifest.json"))):
    folder = os.path.dirname(manifest)
    name = os.path.basename(folder)
    where = os.path.relpath(folder, root)
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,63}", name):
        sys.exit(f"{where}: not a plugin name")
    handler = json.load(open(manifest)).get("handler")
    if not isinstance(handler, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", handler):
        sys.exit(f"{where}/manifest.json: the handler must be the name of one program, got {handler!r}")
    package = packages.get(os.path.realpath(os.path.join(folder, "Cargo.toml")))
    if package is None:
        sys.exit(f"{where}: no workspace crate builds its handler `{handler}` "
                 "(a bundled plugin needs a Cargo.toml in the workspace)")
    bins = [t["name"] for t in package["targets"] if "bin" in t["kind"]]
    if handler not in bins:
        sys.exit(f"{where}: its crate {package['name']} has no binary `{handler}` (has: {', '.join(bins) or 'none'})")
    print(name, package["name"], handler)
PY
)
plugins=$(python3 -c "$list_plugins" "$root" <<<"$metadata") || die "cannot list the bundled plugins"
[ -n "$plugins" ] || die "no bundled plugin found under plugins/*/manifest.json"
version=$(python3 -c '
import json, sys
print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "carapace"))' <<<"$metadata")
[[ $version =~ ^[0-9A-Za-z.+-]+$ ]] || die "odd version: $version"

# No build path in any binary: the most specific prefix comes last (rustc applies
# the last one that matches).
remaps=()
remap() {
  [ -n "$1" ] || return 0
  remaps+=("--remap-path-prefix=$1=$2")
  local real
  real=$(realpath -m "$1")
  [ "$real" = "$1" ] || remaps+=("--remap-path-prefix=$real=$2")
}
remap "${HOME:-}" /home
remap "${RUSTUP_HOME:-${HOME:+$HOME/.rustup}}" /rustup
remap "${CARGO_HOME:-${HOME:+$HOME/.cargo}}" /cargo
remap "$root" /carapace
remap "$target_dir" /target
encode() { local IFS=$'\x1f'; printf '%s' "$*"; }

build_args=(-p carapace --bin carapace)
while read -r _ package handler; do
  build_args+=(-p "$package" --bin "$handler")
done <<<"$plugins"

echo "== building carapace $version for $host (profile $profile) and the plugins: $(cut -d' ' -f1 <<<"$plugins" | tr '\n' ' ')"
# No debug info (it would carry paths and triple the size); symbols stay, as in the Nix package.
CARGO_ENCODED_RUSTFLAGS=$(encode "${remaps[@]}" -Cdebuginfo=0 -Cstrip=debuginfo) \
  CARGO_INCREMENTAL=0 CARAPACE_DIST=1 \
  "$cargo" build --locked --profile "$profile" --target "$host" "${build_args[@]}"
echo "== building ipc for $musl (profile ipc, static)"
CARGO_ENCODED_RUSTFLAGS=$(encode "${remaps[@]}") CARGO_INCREMENTAL=0 \
  "$cargo" build --locked -p carapace-ipc --bin ipc --profile ipc --target "$musl"

case "$profile" in
  dev|test) profile_dir=debug ;;
  bench) profile_dir=release ;;
  *) profile_dir=$profile ;;
esac
built="$target_dir/$host/$profile_dir"
ipc="$target_dir/$musl/ipc/ipc"

name="carapace-$version-$host"
mkdir -p "${out:=$root/dist}"
out=$(cd "$out" && pwd -P)
work=$(mktemp -d "$out/.dist.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
stage="$work/$name"

put() { # put MODE SOURCE DEST (DEST relative to the archive's top directory)
  install -D -m "$1" -- "$2" "$stage/$3"
}
put 0755 "$built/carapace" bin/carapace
put 0755 "$ipc" bin/ipc
while read -r plugin _ handler; do
  put 0755 "$built/$handler" "bin/$handler"
  put 0644 "plugins/$plugin/manifest.json" "share/carapace/plugins/$plugin/manifest.json"
  if [ -d "plugins/$plugin/skills" ]; then
    while IFS= read -r skill; do
      put 0644 "plugins/$plugin/$skill" "share/carapace/plugins/$plugin/$skill"
    done < <(cd "plugins/$plugin" && find skills -type f | sort)
  fi
  if [ -f "plugins/$plugin/README.md" ]; then
    put 0644 "plugins/$plugin/README.md" "share/doc/carapace/plugins/$plugin/README.md"
  fi
done <<<"$plugins"
put 0644 README.md share/doc/carapace/README.md
shopt -s nullglob
for doc in docs/* LICENSE* COPYING*; do
  if [ -f "$doc" ]; then put 0644 "$doc" "share/doc/carapace/$doc"; fi
done
shopt -u nullglob
put 0755 scripts/install.sh install.sh

if command -v file >/dev/null; then
  file -L "$stage/bin/ipc" | grep -Eq 'static-pie linked|statically linked' \
    || die "bin/ipc is not statically linked: $(file -L "$stage/bin/ipc")"
fi
mkdir -p "$stage/share/bash-completion/completions" "$stage/share/zsh/site-functions" \
  "$stage/share/fish/vendor_completions.d"
"$stage/bin/carapace" completions bash >"$stage/share/bash-completion/completions/carapace.bash"
"$stage/bin/carapace" completions zsh >"$stage/share/zsh/site-functions/_carapace"
"$stage/bin/carapace" completions fish >"$stage/share/fish/vendor_completions.d/carapace.fish"

cat >"$stage/DIST" <<EOF
name carapace
version $version
target $host
commit $commit
profile $profile
source-date-epoch $SOURCE_DATE_EPOCH
EOF

# Build paths would make the archive differ between checkouts (and leak them).
for leak in "$root" "$target_dir" "${CARGO_HOME:-${HOME:+$HOME/.cargo}}"; do
  [ -n "$leak" ] || continue
  if grep -rlF -- "$leak" "$stage/bin" >/dev/null; then
    die "a build path ($leak) is in $(grep -rlF -- "$leak" "$stage/bin" | head -n 1 | sed "s|$stage/||")"
  fi
done

find "$stage" -type d -exec chmod 0755 {} +
(cd "$stage" && find . -type f ! -path ./SHA256SUMS -printf '%P\n' | sort | xargs -d '\n' sha256sum --) \
  >"$stage/SHA256SUMS"
chmod 0644 "$stage/SHA256SUMS"

tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  --no-acls --no-xattrs --no-selinux -C "$work" -cf - "$name" | gzip -n >"$work/$name.tar.gz"
(cd "$work" && sha256sum -- "$name.tar.gz") >"$work/$name.tar.gz.sha256"
mv -f -- "$work/$name.tar.gz" "$out/$name.tar.gz"
mv -f -- "$work/$name.tar.gz.sha256" "$out/$name.tar.gz.sha256"

size=$(du -k "$out/$name.tar.gz" | cut -f1)
echo "== $out/$name.tar.gz ($size KiB)"
cat "$out/$name.tar.gz.sha256"
