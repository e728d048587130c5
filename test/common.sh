# shellcheck shell=bash
# Shared steps for test/run-tests.sh and test/demo.sh.  Source it; do not run it.
#
# Both scripts run as root on a fresh Debian 12 machine: they install the build
# dependencies, build and install the extension, and then hand everything that
# starts a PostgreSQL server to the unprivileged user $ZJ_USER, because
# PostgreSQL refuses to run as root.
#
# Environment knobs (all optional):
#   PG_CONFIG  pg_config to build against and run with (default: PostgreSQL
#              15's); its --bindir provides initdb, pg_ctl, psql and postgres
#   ZJ_USER    unprivileged user that owns build trees and servers (default: zapjobs)

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
# PostgreSQL's programs (initdb, pg_ctl, psql; the zapjobs command once
# installed) from the install PG_CONFIG describes, so that a private copy
# under another root runs its own server with its own zapjobs library.
# Before PostgreSQL is installed, Debian's place.
ZJ_PG_BIN=$("$PG_CONFIG" --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
ZJ_USER=${ZJ_USER:-zapjobs}
# Repository root: this file lives in <root>/test/.
ZJ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PG_CONFIG

zj_log() { printf '\n==> %s\n' "$*"; }
zj_die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

zj_require_root() {
    [[ $(id -u) -eq 0 ]] || zj_die "run this as root (it installs packages and the extension; servers run as '$ZJ_USER')"
}

# A locale that does not exist makes initdb fail; fall back to C.UTF-8, which
# Debian always has.
zj_fix_locale() {
    if locale 2>&1 >/dev/null | grep -q 'Cannot set'; then
        export LC_ALL=C.UTF-8 LANG=C.UTF-8
    fi
}

# True when everything the build and the TAP tests need is already there, so a
# machine that has it (or has no network) skips apt entirely.
zj_deps_present() {
    local pgxs
    pgxs=$("$PG_CONFIG" --pgxs 2>/dev/null) || return 1
    # PostgreSQL 15's, wherever it is installed (a private copy under
    # another root included).
    [[ $pgxs == */lib/postgresql/15/lib/pgxs/* && -f $pgxs ]] || return 1
    perl -MIPC::Run -e 1 2>/dev/null || return 1
    command -v make >/dev/null || return 1
    command -v gcc >/dev/null || return 1
    # the zapjobs command: libpq, ncurses, json-c, libmicrohttpd, libcrypt,
    # xxd; its tests: tmux for screens, chromium and node for the browser
    [[ -f /usr/include/postgresql/libpq-fe.h && -f /usr/include/ncursesw/curses.h ]] || return 1
    [[ -f /usr/include/json-c/json.h && -f /usr/include/microhttpd.h ]] || return 1
    [[ -f /usr/include/crypt.h ]] || return 1
    command -v xxd >/dev/null || return 1
    command -v tmux >/dev/null || return 1
    command -v chromium >/dev/null || return 1
    command -v node >/dev/null && command -v npm >/dev/null || return 1
}

zj_install_packages() {
    if zj_deps_present; then
        zj_log "Build dependencies already installed; skipping apt-get"
        return 0
    fi
    zj_log "Installing build dependencies with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # make/gcc are listed because a minimal image may lack them; the server
    # dev package only pulls in clang/llvm (for JIT bitcode).
    apt-get install -y --no-install-recommends \
        postgresql-server-dev-15 libipc-run-perl make gcc \
        libpq-dev libncurses-dev libjson-c-dev libmicrohttpd-dev libcrypt-dev xxd \
        tmux chromium curl
    # node and npm come with this kind of machine; install Debian's if not
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        apt-get install -y --no-install-recommends nodejs npm
    fi
    zj_deps_present || zj_die "dependencies still missing after apt-get install"
}

# System user without a password; it owns the test/demo trees and clusters.
zj_ensure_user() {
    if ! id -u "$ZJ_USER" >/dev/null 2>&1; then
        zj_log "Creating system user '$ZJ_USER'"
        useradd --system --user-group --create-home \
            --home-dir "/var/lib/$ZJ_USER" --shell /usr/sbin/nologin "$ZJ_USER"
    fi
}

# Run a command as $ZJ_USER (runuser -u execs it directly, no login shell).
zj_as_user() { runuser -u "$ZJ_USER" -- env SHELL=/bin/sh "$@"; }

# zj_copy_tree DEST: copy the source tree (git-tracked plus untracked,
# not-ignored files; so no stale .o/.so or test output) into DEST and give it
# to $ZJ_USER.  We never build inside the checkout itself, so running these
# scripts does not clobber a developer's own build or leave root-owned files.
zj_copy_tree() {
    local dest=$1
    mkdir -p "$dest"
    if git -C "$ZJ_ROOT" -c safe.directory="$ZJ_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$ZJ_ROOT" -c safe.directory="$ZJ_ROOT" \
            ls-files -z --cached --others --exclude-standard |
            # --cached also lists tracked files deleted in the work tree.
            (cd "$ZJ_ROOT" && while IFS= read -r -d '' f; do
                if [[ -e $f || -L $f ]]; then printf '%s\0' "$f"; fi
            done) |
            tar -C "$ZJ_ROOT" --null -T - -cf - | tar -C "$dest" -xf -
    else
        tar -C "$ZJ_ROOT" --exclude=.git --exclude='*.o' --exclude='*.so' \
            --exclude='*.bc' --exclude=./tmp_check --exclude=./tmp_check_regress \
            --exclude=./results --exclude=./log --exclude=./regression.diffs \
            --exclude=./regression.out -cf - . | tar -C "$dest" -xf -
    fi
    chown -R "$ZJ_USER:" "$dest"
}

# zj_build_install DIR: compile as $ZJ_USER (the Makefile adds -Wall -Werror),
# then install as root into PostgreSQL 15's lib and extension directories.
zj_build_install() {
    local dir=$1
    zj_log "Building zapjobs (warnings are errors)"
    (cd "$dir" && zj_as_user make -j"$(nproc)" PG_CONFIG="$PG_CONFIG")
    zj_log "Installing zapjobs into $("$PG_CONFIG" --pkglibdir)"
    (cd "$dir" && make install PG_CONFIG="$PG_CONFIG")
    # make install runs as root; keep the tree owned by the test user.
    chown -R "$ZJ_USER:" "$dir"
}

# Everything a script run as root needs before it builds: root, a usable
# locale, no stray libpq settings (we always pass -h/-p/-U), the packages
# and the unprivileged user.
zj_prepare_machine() {
    zj_require_root
    zj_fix_locale
    unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGSERVICE PGOPTIONS PGDATA
    zj_install_packages
    zj_ensure_user
}

# zj_stop_server DATADIR: stop a server left running there by an earlier run.
# pg_ctl status 3 means "not running" (a stale pid file); anything else is a
# server we could not stop, whose files must not be deleted.
zj_stop_server() {
    local data=$1 st=0
    [[ -f $data/postmaster.pid ]] || return 0
    zj_log "Stopping the previous server in $data"
    zj_as_user "$ZJ_PG_BIN/pg_ctl" -D "$data" stop -m fast -w && return 0
    zj_as_user "$ZJ_PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1 || st=$?
    [[ $st -eq 3 ]] || zj_die "could not stop the server in $data"
}
