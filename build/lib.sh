# build/lib.sh: shared by build/run, build/stop and build/test.  Sourced, not run.
# Everything it starts lives under a project-local var/ directory: a private
# PostgreSQL cluster (own socket directory and port) and a private httpd.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR=${DPC_VAR:-$top/var}
# The unprivileged account that runs PostgreSQL, httpd's children and the
# tests when we are root (both refuse to run as root).
RUN_USER=${DPC_RUN_USER:-dpc}

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Debian packages the project needs, each with a file that proves it is there.
PACKAGES=(
  "gcc:/usr/bin/gcc" "make:/usr/bin/make" "autoconf:/usr/bin/autoreconf"
  "automake:/usr/bin/automake" "libtool:/usr/bin/libtoolize"
  "pkg-config:/usr/bin/pkg-config"
  "apache2-bin:/usr/sbin/apache2" "apache2-dev:/usr/bin/apxs"
  "libaprutil1-dbd-pgsql:/usr/lib/x86_64-linux-gnu/apr-util-1/apr_dbd_pgsql-1.so"
  "libjansson-dev:/usr/include/jansson.h" "libssl-dev:/usr/include/openssl/evp.h"
  "libpq-dev:/usr/include/postgresql/libpq-fe.h" "zlib1g-dev:/usr/include/zlib.h"
  "postgresql-15:/usr/lib/postgresql/15/bin/postgres" "check:/usr/include/check.h"
  "libapache2-mod-perl2:/usr/lib/x86_64-linux-gnu/perl5/5.36/Apache/Test.pm"
  "libwww-perl:/usr/share/perl5/LWP/UserAgent.pm" "libjson-perl:/usr/share/perl5/JSON.pm"
  "openssl:/usr/bin/openssl" "curl:/usr/bin/curl"
)

# Install what is missing.  Installing must not start system services (a
# package's postinst may try to start PostgreSQL's or Apache's), so a
# temporary policy-rc.d denies that while apt runs.
ensure_packages() {
  local missing=() entry pkg file
  for entry in "${PACKAGES[@]}" "$@"; do
    pkg=${entry%%:*}; file=${entry#*:}
    [ -e "$file" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
  say "installing: ${missing[*]}"
  local policy=/usr/sbin/policy-rc.d made_policy=
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy && made_policy=1
  fi
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  local rc=$?
  [ -n "$made_policy" ] && rm -f $policy
  [ $rc -eq 0 ] || die "apt-get install failed"
}

# Build in the source tree with warnings as errors.
build_tree() {
  cd "$top"
  if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    autoreconf -fi >&2 || die "autoreconf failed"
  fi
  if [ ! -f Makefile ] || [ configure -nt config.status ]; then
    ./configure --enable-werror --with-apxs="$(command -v apxs)" >&2 || die "configure failed"
  fi
  make -j"$(nproc)" >&2 || die "make failed"
}

# The sanitized build (build/test with DPC_TEST_SANITIZE=1): the core, the
# module, the worker and the programs with AddressSanitizer and
# UndefinedBehaviorSanitizer, in a copy of the sources under $VAR/asan/src
# (autoconf refuses an out-of-tree build of a source tree configured in
# place), so the in-tree build stays as it is.  The copy keeps each file's
# mtime, so make rebuilds only what changed.  Sets bld to the build tree.
SANITIZE_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
build_sanitized() {
  local src=$VAR/asan/src
  mkdir -p "$src"
  git -C "$top" rev-parse --git-dir >/dev/null 2>&1 ||
    die "the sanitized build copies the sources git knows of: $top is not a git checkout"
  # sources the checkout no longer has (moved or deleted since the last
  # copy) go, or a stale header could shadow its new home; what the build
  # generates (ignored by git) stays
  # (a first copy has nothing to drop: find and git check-ignore, which
  # exits 1 when no path is ignored, may fail without harm)
  ( cd "$src" && { find mod_dpc sql t -type f \( -name '*.[ch]' -o -name '*.sql' \
      -o -name '*.t' -o -name '*.pm' \) 2>/dev/null || true; } | sort ) > "$src.have"
  ( cd "$top" && git ls-files -co --exclude-standard | sort ) > "$src.want"
  comm -23 "$src.have" "$src.want" > "$src.gone"
  if [ -s "$src.gone" ]; then
    { (cd "$top" && git check-ignore --no-index --verbose --non-matching --stdin \
         < "$src.gone") || true; } | sed -n 's/^::\t//p' | (cd "$src" && xargs -r rm -f --)
  fi
  rm -f "$src.have" "$src.want" "$src.gone"
  # tracked and untracked-but-not-ignored files, as they are in the checkout
  ( cd "$top" && git ls-files -z -co --exclude-standard |
      tar --null --ignore-failed-read -T - -cf - ) | tar -xf - -C "$src" ||
    die "cannot copy the sources to $src"
  cd "$src"
  if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    autoreconf -fi >&2 || die "autoreconf failed (sanitized build)"
  fi
  if [ ! -f Makefile ] || [ configure -nt config.status ]; then
    ./configure --enable-werror --with-apxs="$(command -v apxs)" \
      CFLAGS="$SANITIZE_CFLAGS" LDFLAGS="-fsanitize=address,undefined" >&2 ||
      die "configure failed (sanitized build)"
  fi
  make -j"$(nproc)" >&2 || die "make failed (sanitized build)"
  bld=$src
}

# Run a command as RUN_USER when we are root, else as ourselves.
as_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$RUN_USER" -- "$@"
  else
    "$@"
  fi
}

ensure_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  id -u "$RUN_USER" >/dev/null 2>&1 ||
    useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_USER"
}

# A directory the run user owns.
user_dir() {
  mkdir -p "$1"
  [ "$(id -u)" -eq 0 ] && chown -R "$RUN_USER:" "$1"
  chmod 700 "$1"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# First free port at or above $1.
free_port() {
  local p=$1
  while ! port_free "$p"; do p=$((p + 1)); done
  echo "$p"
}

PGBIN=/usr/lib/postgresql/15/bin

# pg_start DIR PORT: a private cluster in DIR/data with its socket in DIR.
pg_start() {
  local dir=$1 port=$2
  user_dir "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_user "$PGBIN/initdb" -D "$dir/data" -U dpc --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null ||
      die "initdb failed"
    cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
default_toast_compression = lz4
shared_buffers = 256MB
max_connections = 200
fsync = on
CONF
  else
    sed -i "s/^port = .*/port = $port/" "$dir/data/postgresql.conf"
  fi
  if ! as_user "$PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_user "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null ||
      { tail -20 "$dir/postgres.log" >&2; die "PostgreSQL did not start"; }
  fi
  as_user "$PGBIN/psql" -h "$dir" -p "$port" -U dpc -d postgres -qAtc \
    "SELECT 1 FROM pg_database WHERE datname = 'dpc'" | grep -q 1 ||
    as_user "$PGBIN/createdb" -h "$dir" -p "$port" -U dpc dpc || die "createdb failed"
}

pg_stop() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] || return 0
  as_user "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# The port a running cluster in DIR listens on.
pg_port() { sed -n 's/^port = //p' "$1/data/postgresql.conf" | tail -1; }

# An X-Provenance attestation (DPC's form) by organization $1 on behalf of
# practitioner $2, recorded now: for the benchmarks' roster writes.
provenance() {
  printf '{"resourceType":"Provenance","recorded":"%s","reason":[{"coding":[{"system":"http://hl7.org/fhir/v3/ActReason","code":"TREAT"}]}],"agent":[{"role":[{"coding":[{"system":"http://hl7.org/fhir/v3/RoleClass","code":"AGNT"}]}],"who":{"reference":"Organization/%s"},"onBehalfOf":{"reference":"Practitioner/%s"}}]}' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2"
}
