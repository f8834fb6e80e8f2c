#!/bin/sh
# install.sh: installs a Carapace release archive (scripts/dist.sh) into a prefix.
#
#   sh install.sh [--prefix DIR] [--force]            from the unpacked archive
#   sh install.sh [--prefix DIR] [--force] ARCHIVE    unpacks carapace-*.tar.gz itself
#
# POSIX sh; needs tar, gzip, mktemp and sha256sum (or shasum -a 256).
#
# What it guarantees:
# * Nothing is written to the prefix before every file of the archive matches
#   SHA256SUMS, every file is listed there and every listed file is present, and
#   the archive holds nothing but plain files and directories with plain names.
# * Everything is first copied into a staging directory inside the prefix (so on
#   its filesystem) and hashed again there; a failure up to that point (a full
#   disk, an unwritable directory, an interrupt) removes the staging directory
#   and leaves the current install exactly as it was.
# * Then each file is moved into place with rename(2): each replacement is
#   atomic (a reader sees the old file or the new one, never part of one), and
#   each replaced file is kept (hard link) in the staging directory until the end.
#   The install record (share/carapace/INSTALL) is moved last, then files of the
#   old version that the new one does not have are moved out.
# * What is NOT atomic is the set: for the milliseconds the moves take, some
#   files are new and some old. If a move fails, or the installer is interrupted
#   (SIGINT, SIGTERM, SIGHUP), every move is undone from the kept files and the
#   previous install is back, byte for byte. Only SIGKILL or a power loss during
#   the moves can leave a mix; the kept files are then in
#   <prefix>/.carapace-install.*/old, and running the installer again completes
#   the install.
# * Removing only ever touches paths the install record lists (relative, plain
#   names), never through a symbolic link below the prefix, never recursively.
#   The only `rm -rf` is of the installer's own temporary directories.
set -u
umask 022
LC_ALL=C
export LC_ALL

me=install.sh
prefix=
archive=
force=no
state=start # start, staging, committing, done
tmp=
stage=
lock=
made_prefix_dirs=
record_rel=share/carapace/INSTALL

usage() {
  cat <<'EOF'
Usage: install.sh [--prefix DIR] [--force] [ARCHIVE]

Installs Carapace (the core, the static ipc, the bundled plugins, docs and shell
completions) into DIR, by default ~/.local: programs in DIR/bin, plugins in
DIR/share/carapace/plugins. Run it from the unpacked archive, or give it the
archive (carapace-<version>-<target>.tar.gz) to unpack and check itself.

Every file is checked against SHA256SUMS first; on any mismatch, missing or
extra file nothing is installed. An install of another version is replaced
(its files that the new version does not have are removed); the same version is
installed again. `carapace uninstall` removes what this installed.

  --prefix DIR   where to install (default: ~/.local)
  --force        replace files in DIR that no Carapace install record lists
                 (for example a `carapace` from `cargo install --root DIR`)
  -h, --help     this text
EOF
}

say() { printf '%s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "$me" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$me" "$*" >&2
  exit 1
}
usage_error() {
  printf '%s: %s (see --help)\n' "$me" "$*" >&2
  exit 2
}

# --- cleanup: what an exit at each stage leaves -------------------------------
# staging: the staging dir and any prefix dirs this run made are removed.
# committing: every move is undone first (rollback), then the same.
# done: only the temporary dirs are removed.
cleanup() {
  status=$?
  trap - EXIT INT TERM HUP
  keep_stage=no
  if [ "$state" = committing ]; then
    rollback || keep_stage=yes
  fi
  if [ -n "$stage" ] && [ -d "$stage" ]; then
    if [ "$keep_stage" = yes ]; then
      printf '%s: the previous files are kept in %s/old\n' "$me" "$stage" >&2
    else
      rm -rf -- "$stage"
    fi
  fi
  if [ -n "$lock" ]; then
    rmdir -- "$lock" 2>/dev/null
  fi
  if [ "$state" != done ] && [ -n "$made_prefix_dirs" ]; then
    # Made by this run, deepest first; rmdir only removes them empty.
    printf '%s\n' "$made_prefix_dirs" | reverse_lines | while IFS= read -r dir; do
      [ -n "$dir" ] && rmdir -- "$dir" 2>/dev/null
    done
  fi
  if [ -n "$tmp" ] && [ -d "$tmp" ]; then
    rm -rf -- "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

said() { tr -s '\n' ' ' <"$1" | sed 's/^ //; s/ $//' | cut -c1-300; } # a tool's error, on one line

reverse_lines() { awk '{ line[NR] = $0 } END { for (i = NR; i > 0; i--) print line[i] }'; }

# A relative path of plain names: no `.`, `..`, empty component, or odd character.
safe_path() {
  case $1 in
    '' | /* | */ | *//* | *[!A-Za-z0-9._+/-]*) return 1 ;;
  esac
  case /$1/ in
    */./* | */../*) return 1 ;;
  esac
  return 0
}

# Whether no directory between the prefix and $1 (relative) is a symbolic link.
no_link_below_prefix() {
  rest=$1
  here=$prefix
  while :; do
    case $rest in
      */*) ;;
      *) return 0 ;;
    esac
    here=$here/${rest%%/*}
    rest=${rest#*/}
    if [ -L "$here" ]; then
      return 1
    fi
  done
}

fault() { # test hook: CARAPACE_INSTALL_FAULT=stage|commit:N makes the install fail there
  case ${CARAPACE_INSTALL_FAULT:-} in
    "$1") die "injected fault at $1 (CARAPACE_INSTALL_FAULT)" ;;
  esac
}

# --- arguments -----------------------------------------------------------------
while [ $# -gt 0 ]; do
  case $1 in
    --prefix)
      [ $# -ge 2 ] || usage_error "--prefix needs a directory"
      prefix=$2
      shift 2
      ;;
    --prefix=*)
      prefix=${1#--prefix=}
      shift
      ;;
    --force)
      force=yes
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      break
      ;;
    -*) usage_error "unknown option: $1" ;;
    *)
      [ -z "$archive" ] || usage_error "give one archive at most"
      archive=$1
      shift
      ;;
  esac
done
if [ $# -gt 0 ]; then
  [ -z "$archive" ] && [ $# -eq 1 ] || usage_error "give one archive at most"
  archive=$1
fi

if command -v sha256sum >/dev/null 2>&1; then
  hash_of() { sha256sum "$1" | cut -c1-64; }
elif command -v shasum >/dev/null 2>&1; then
  hash_of() { shasum -a 256 "$1" | cut -c1-64; }
else
  die "neither sha256sum nor shasum is installed, so the archive cannot be checked; install coreutils (sha256sum) or perl (shasum) and run this again"
fi

if [ -z "$prefix" ]; then
  [ -n "${HOME:-}" ] || die "HOME is not set; give --prefix DIR"
  prefix=$HOME/.local
fi
case $prefix in
  /*) ;;
  *) prefix=$(pwd -P)/$prefix ;;
esac
while :; do
  case $prefix in
    ?*/) prefix=${prefix%/} ;;
    *) break ;;
  esac
done
case $prefix in
  *'
'*) die "--prefix holds a newline" ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/carapace-install.XXXXXX") || die "cannot make a temporary directory in ${TMPDIR:-/tmp}"

# --- the files to install --------------------------------------------------------
if [ -n "$archive" ]; then
  [ -f "$archive" ] || die "$archive: no such file"
  # gzip checks its own CRC and length: a truncated or altered archive stops here.
  if ! gzip -dc -- "$archive" >"$tmp/archive.tar" 2>"$tmp/gzip.err"; then
    die "$archive is damaged or truncated (gzip: $(said "$tmp/gzip.err")); download it again"
  fi
  if ! tar -tvf "$tmp/archive.tar" >"$tmp/listing" 2>"$tmp/tar.err"; then
    die "$archive is not a readable tar archive (tar: $(said "$tmp/tar.err"))"
  fi
  # Only plain files and directories: no link can point the unpacking elsewhere.
  if cut -c1 "$tmp/listing" | grep -q '[^-d]'; then
    die "$archive holds links or special files; a Carapace archive never does"
  fi
  mkdir "$tmp/unpacked" || die "cannot unpack into $tmp"
  (cd "$tmp/unpacked" && tar -xof ../archive.tar) 2>"$tmp/tar.err" \
    || die "cannot unpack $archive (tar: $(said "$tmp/tar.err"))"
  rm -f -- "$tmp/archive.tar"
  entries=$(ls -A "$tmp/unpacked")
  if [ -f "$tmp/unpacked/SHA256SUMS" ]; then
    src=$tmp/unpacked
  elif [ -n "$entries" ] && [ "$(printf '%s\n' "$entries" | wc -l)" -eq 1 ] && [ -d "$tmp/unpacked/$entries" ]; then
    src=$tmp/unpacked/$entries
  else
    die "$archive is not a Carapace archive (no SHA256SUMS at its top)"
  fi
else
  case $0 in
    */*) here=${0%/*} ;;
    *) here=. ;;
  esac
  src=$(cd "$here" && pwd -P) || die "cannot find the directory of $0"
fi

# --- verification: every file listed and matching, nothing else ----------------------
sums=$src/SHA256SUMS
if [ -L "$sums" ] || [ ! -f "$sums" ]; then
  die "SHA256SUMS is missing in $src; run install.sh from an unpacked Carapace archive, or give it the .tar.gz"
fi
odd=$(cd "$src" && find . ! -type f ! -type d | head -n 1)
[ -z "$odd" ] || die "the archive holds ${odd#./}, which is not a plain file or directory; refusing"
odd=$(cd "$src" && find . -name '*[!A-Za-z0-9._+-]*' | head -n 1)
[ -z "$odd" ] || die "the archive holds a file with an unexpected name ($(printf '%s' "${odd#./}" | tr -c 'A-Za-z0-9._+/-' '?')); refusing"
bad=$(grep -nvE '^[0-9a-f]{64}  [A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$' "$sums" | head -n 1 | cut -d: -f1)
[ -z "$bad" ] || die "SHA256SUMS line $bad is malformed; the archive is damaged"
[ -s "$sums" ] || die "SHA256SUMS is empty; the archive is damaged"
cut -c67- "$sums" | sort >"$tmp/listed"
(cd "$src" && find . -type f ! -path ./SHA256SUMS) | sed 's|^\./||' | sort >"$tmp/present"
while IFS= read -r path; do
  safe_path "$path" || die "SHA256SUMS lists an unsafe path: $path"
done <"$tmp/listed"
twice=$(uniq -d "$tmp/listed" | head -n 1)
[ -z "$twice" ] || die "SHA256SUMS lists $twice twice; the archive is damaged"
unlisted=$(comm -23 "$tmp/present" "$tmp/listed" | head -n 5 | tr '\n' ' ')
[ -z "$unlisted" ] || die "not listed in SHA256SUMS, so not trusted: $unlisted; the archive was altered"
absent=$(comm -13 "$tmp/present" "$tmp/listed" | head -n 5 | tr '\n' ' ')
[ -z "$absent" ] || die "listed in SHA256SUMS but missing from the archive: $absent; the archive is incomplete"
mismatched=
while read -r want path; do
  got=$(hash_of "$src/$path") || die "cannot read $path"
  [ "$got" = "$want" ] || mismatched="$mismatched $path"
done <"$sums"
[ -z "$mismatched" ] || die "SHA-256 mismatch:$mismatched; the archive was altered or damaged, nothing was installed"

# What gets installed: bin/<program> and share/...; DIST, install.sh and SHA256SUMS stay behind.
: >"$tmp/install"
while IFS= read -r path; do
  case $path in
    DIST | install.sh) ;;
    "$record_rel") die "the archive holds $record_rel, which only the installer writes" ;;
    bin/*/*) die "unexpected file in the archive: $path" ;;
    bin/* | share/*) printf '%s\n' "$path" >>"$tmp/install" ;;
    *) die "unexpected file in the archive: $path" ;;
  esac
done <"$tmp/listed"
grep -qx 'bin/carapace' "$tmp/install" || die "the archive has no bin/carapace"
[ -f "$src/DIST" ] || die "the archive has no DIST file"
version=$(sed -n 's/^version //p' "$src/DIST" | head -n 1)
target=$(sed -n 's/^target //p' "$src/DIST" | head -n 1)
commit=$(sed -n 's/^commit //p' "$src/DIST" | head -n 1)
case $version in
  '' | *[!A-Za-z0-9.+-]*) die "the archive's DIST names no valid version" ;;
esac
case $target in
  '' | *[!A-Za-z0-9_.-]*) die "the archive's DIST names no valid target" ;;
esac
case $commit in
  *[!A-Za-z0-9-]*) die "the archive's DIST names no valid commit" ;;
esac
machine=$(uname -m)
system=$(uname -s)
case $target in
  "$machine"-*-linux-*) [ "$system" = Linux ] || die "this archive is for $target; this machine runs $system" ;;
  *) die "this archive is for $target; this machine is $machine $system" ;;
esac

# --- the prefix: usable, and the previous install -----------------------------------------
probe=$prefix
while [ ! -e "$probe" ] && [ ! -L "$probe" ]; do
  probe=$(dirname -- "$probe")
done
[ -d "$probe" ] || die "cannot install into $prefix: $probe is not a directory"
if [ ! -w "$probe" ] || [ ! -x "$probe" ]; then
  die "cannot install into $prefix: $probe is not writable for $(id -un 2>/dev/null || id -u); choose another --prefix (the default ~/.local needs no privileges)"
fi

# Every directory the new files need, parents first.
awk -F/ '{ path = $1; for (i = 2; i <= NF; i++) { print path; path = path "/" $i } }' "$tmp/install" \
  | awk '!seen[$0]++' >"$tmp/dirs"
printf '%s\n' share share/carapace >>"$tmp/dirs"
awk '!seen[$0]++' "$tmp/dirs" | sort >"$tmp/dirs.sorted"
while IFS= read -r dir; do
  at=$prefix/$dir
  if [ -L "$at" ]; then
    die "$at is a symbolic link; the installer writes only into real directories below the prefix"
  fi
  if [ -e "$at" ]; then
    [ -d "$at" ] || die "$at is in the way: a directory is needed there"
    [ -w "$at" ] || die "cannot install into $prefix: $at is not writable"
  fi
done <"$tmp/dirs.sorted"

record=$prefix/$record_rel
old_version=
: >"$tmp/old.files"
: >"$tmp/old.dirs"
if [ -L "$record" ]; then
  die "$record is a symbolic link; refusing to trust it"
elif [ -e "$record" ]; then
  [ -f "$record" ] || die "$record is not a file"
  [ "$(grep -v '^#' "$record" | head -n 1)" = "format 1" ] \
    || die "$record is not an install record this installer reads; remove the old install first"
  old_version=$(sed -n 's/^version //p' "$record" | head -n 1)
  awk '$1 == "file" { print $3 }' "$record" | sort >"$tmp/old.files"
  awk '$1 == "dir" { print $2 }' "$record" | sort >"$tmp/old.dirs"
  while IFS= read -r path; do
    safe_path "$path" || die "$record lists an unsafe path ($path); refusing to use it"
  done <<EOF
$(cat "$tmp/old.files" "$tmp/old.dirs")
EOF
fi

# A file in the way that no record lists is someone else's (cargo install, a package).
sort "$tmp/install" >"$tmp/install.sorted"
while IFS= read -r path; do
  at=$prefix/$path
  if [ -L "$at" ] || { [ -e "$at" ] && [ ! -f "$at" ]; }; then
    die "$at is not a regular file; move it away and run this again"
  fi
  if [ -e "$at" ] && ! grep -qxF "$path" "$tmp/old.files" && [ "$force" != yes ]; then
    die "$at exists and no Carapace install record lists it (from cargo install or a package?); move it away, or pass --force to replace it"
  fi
done <"$tmp/install.sorted"
# Files of the old version that the new one does not have: removed after the moves.
comm -23 "$tmp/old.files" "$tmp/install.sorted" | grep -vxF "$record_rel" >"$tmp/gone" || :

if [ -z "$old_version" ]; then
  say "Installing Carapace $version ($target) into $prefix"
elif [ "$old_version" = "$version" ]; then
  say "Reinstalling Carapace $version ($target) in $prefix"
else
  say "Replacing Carapace $old_version with $version ($target) in $prefix"
fi

# --- staging: copies in the prefix's filesystem, hashed again ---------------------------
state=staging
dir=$prefix
made=
while [ ! -e "$dir" ] && [ ! -L "$dir" ]; do
  made="$dir
$made"
  dir=$(dirname -- "$dir")
done
while IFS= read -r dir; do
  [ -n "$dir" ] || continue
  mkdir -- "$dir" 2>/dev/null || die "cannot create $dir"
  made_prefix_dirs="$made_prefix_dirs
$dir"
done <<EOF
$made
EOF
# One install at a time in a prefix (mkdir is atomic); a killed installer leaves it behind.
if ! mkdir -- "$prefix/.carapace-install.lock" 2>/dev/null; then
  [ -d "$prefix/.carapace-install.lock" ] || die "cannot write in $prefix; choose another --prefix"
  die "another install into $prefix is running; if none is, remove $prefix/.carapace-install.lock and run this again"
fi
lock=$prefix/.carapace-install.lock
stage=$(mktemp -d "$prefix/.carapace-install.XXXXXX" 2>/dev/null) \
  || die "cannot write in $prefix; choose another --prefix"
mkdir "$stage/new" "$stage/old" || die "cannot write in $stage"
: >"$tmp/record.files"
while IFS= read -r path; do
  mkdir -p -- "$stage/new/$(dirname -- "$path")" || die "cannot write in $stage (disk full?)"
  cp -- "$src/$path" "$stage/new/$path" || die "cannot copy $path into $stage (disk full?)"
  case $path in
    bin/*) mode=0755 ;;
    *) mode=0644 ;;
  esac
  chmod "$mode" "$stage/new/$path" || die "cannot set the mode of $stage/new/$path"
  want=$(grep -F "  $path" "$sums" | awk -v p="$path" '$2 == p { print $1 }')
  [ "$(hash_of "$stage/new/$path")" = "$want" ] || die "$path changed while it was copied; nothing was installed"
  printf 'file %s %s\n' "$want" "$path" >>"$tmp/record.files"
done <"$tmp/install"

# The new record: version, then every directory it made (or an earlier install made)
# and every file, with its SHA-256. `carapace uninstall` removes exactly these.
: >"$tmp/record.dirs"
while IFS= read -r dir; do
  if [ ! -d "$prefix/$dir" ] || grep -qxF "$dir" "$tmp/old.dirs"; then
    printf '%s\n' "$dir" >>"$tmp/record.dirs"
  fi
done <"$tmp/dirs.sorted"
# Directories of the old version that the new one does not need: kept in the record
# while they hold something, removed when empty.
comm -23 "$tmp/old.dirs" "$tmp/dirs.sorted" >"$tmp/old-only.dirs"
{
  say "# Carapace install record: written by install.sh, read by \`carapace uninstall\`."
  say "# Paths are relative to the prefix. Do not edit."
  say "format 1"
  say "version $version"
  say "target $target"
  say "commit $commit"
  say "prefix $prefix"
  sed 's/^/dir /' "$tmp/record.dirs"
  sort -k3 "$tmp/record.files"
} >"$stage/record" || die "cannot write the install record (disk full?)"
mkdir -p -- "$stage/new/share/carapace" && mv -f -- "$stage/record" "$stage/new/$record_rel" \
  || die "cannot write the install record"
chmod 0644 "$stage/new/$record_rel" || die "cannot set the mode of the install record"
fault stage

# --- commit: each file renamed into place; undone on any failure (see the top) ----------
journal=$stage/journal
: >"$journal" || die "cannot write $journal"
rollback() {
  printf '%s: the install did not complete; putting the previous install back\n' "$me" >&2
  ok=yes
  reverse_lines <"$journal" >"$stage/journal.reversed" || return 1
  # Each entry is written before its step, so a step that did not happen is skipped.
  while read -r kind path; do
    case $kind in
      new)
        if [ -e "$stage/new/$path" ]; then
          : # not moved
        elif [ -f "$stage/old/$path" ]; then
          mv -f -- "$stage/old/$path" "$prefix/$path" || ok=no
        else
          rm -f -- "$prefix/$path" || ok=no
        fi
        ;;
      gone)
        if [ -e "$stage/old/$path" ] || [ -L "$stage/old/$path" ]; then
          mv -f -- "$stage/old/$path" "$prefix/$path" || ok=no
        fi
        ;;
      mkdir) rmdir -- "$prefix/$path" 2>/dev/null || : ;;
    esac
  done <"$stage/journal.reversed"
  [ "$ok" = yes ]
}
state=committing
while IFS= read -r dir; do
  if [ ! -d "$prefix/$dir" ]; then
    printf 'mkdir %s\n' "$dir" >>"$journal" || die "cannot write $journal"
    mkdir -- "$prefix/$dir" || die "cannot create $prefix/$dir"
  fi
done <"$tmp/dirs.sorted"
# share/ first, then the programs, the record last.
{
  grep '^share/' "$tmp/install.sorted"
  grep '^bin/' "$tmp/install.sorted"
  say "$record_rel"
} >"$tmp/order"
moves=0
while IFS= read -r path; do
  at=$prefix/$path
  if [ -e "$at" ]; then
    mkdir -p -- "$stage/old/$(dirname -- "$path")" || die "cannot write in $stage"
    ln -- "$at" "$stage/old/$path" 2>/dev/null || cp -p -- "$at" "$stage/old/$path" \
      || die "cannot keep the previous $at"
  fi
  printf 'new %s\n' "$path" >>"$journal" || die "cannot write $journal"
  mv -f -- "$stage/new/$path" "$at" || die "cannot move $path into $prefix"
  moves=$((moves + 1))
  fault "commit:$moves"
done <"$tmp/order"
while IFS= read -r path; do
  at=$prefix/$path
  [ -e "$at" ] || [ -L "$at" ] || continue
  if ! no_link_below_prefix "$path"; then
    warn "left $at: a directory on its way is a symbolic link"
    continue
  fi
  [ -d "$at" ] && [ ! -L "$at" ] && continue
  mkdir -p -- "$stage/old/$(dirname -- "$path")" || die "cannot write in $stage"
  printf 'gone %s\n' "$path" >>"$journal" || die "cannot write $journal"
  mv -f -- "$at" "$stage/old/$path" || die "cannot remove the old $at"
  moves=$((moves + 1))
  fault "commit:$moves"
done <"$tmp/gone"
state=done

# Old directories the new version does not use: removed if empty (deepest first).
sort -r "$tmp/old-only.dirs" | while IFS= read -r dir; do
  if no_link_below_prefix "$dir/x" && [ -d "$prefix/$dir" ] && [ ! -L "$prefix/$dir" ]; then
    rmdir -- "$prefix/$dir" 2>/dev/null || :
  fi
done
# Still there (something else lives in them): stay in the record for `carapace uninstall`.
sort -r "$tmp/old-only.dirs" | while IFS= read -r dir; do
  if [ -d "$prefix/$dir" ]; then printf 'dir %s\n' "$dir"; fi
done >"$tmp/still"
if [ -s "$tmp/still" ]; then
  cat "$tmp/still" >>"$record" || warn "could not add $(wc -l <"$tmp/still") kept directories to $record"
fi

count=$(wc -l <"$tmp/install" | tr -d ' ')
gone=$(wc -l <"$tmp/gone" | tr -d ' ')
say "Installed $count files into $prefix$( [ "$gone" -gt 0 ] && printf ' (removed %s of the old version)' "$gone")."
say "The install record is $record; \`carapace uninstall\` removes exactly what it lists."
say ""
say "Next steps:"
case ":${PATH:-}:" in
  *":$prefix/bin:"*)
    found=$(command -v carapace 2>/dev/null || :)
    if [ -n "$found" ] && [ "$found" != "$prefix/bin/carapace" ]; then
      say "  note: \`carapace\` on your PATH is $found, which comes before $prefix/bin"
    fi
    run=carapace
    ;;
  *)
    say "  $prefix/bin is not on your PATH; add it (e.g. in ~/.profile):"
    say "    export PATH=\"$prefix/bin:\$PATH\""
    run=$prefix/bin/carapace
    ;;
esac
say "  $run doctor      checks the home, the config and this host, each problem with its fix"
say "  $run demo        shows the core at work on a throw-away home"
say "  a core that is already running keeps the old version until it is restarted"
