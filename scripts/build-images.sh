#!/usr/bin/env bash
# Builds the container images sluice's tests and examples use, locally: no
# registry is reachable here, Debian's mirror is. Cached: the debootstrap root
# filesystem is kept as a tarball and every image is skipped when it exists.
#
#   localhost/sluice/debian:12     Debian 12 minbase (podman import of debootstrap)
#   localhost/sluice/python:3.11   + python3 (3.11), venv, pip, ca-certificates, bash, procps
#   localhost/sluice/redis:7       redis-server on 0.0.0.0:6379, protected mode off
#   localhost/sluice/postgres:15   postgresql-15, official-image-like entrypoint
#   localhost/sluice/server-base:12  git, ca-certificates and a "sluice" user: the base on which
#                                  `make image` lays the server with sluice's own image builder
#
# Env: SLUICE_IMAGE_CACHE (default ~/.cache/sluice-images), SLUICE_DEBIAN_MIRROR,
# SLUICE_REBUILD=1 to rebuild every image (the rootfs tarball is still reused).
set -euo pipefail

CACHE="${SLUICE_IMAGE_CACHE:-$HOME/.cache/sluice-images}"
MIRROR="${SLUICE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
BASE=localhost/sluice/debian:12
START=$SECONDS

say() { echo "build-images: [$((SECONDS - START))s] $*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "build-images: must run as root (debootstrap and the root Podman store)" >&2
  exit 1
fi
for tool in podman debootstrap; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-images: $tool missing; run scripts/podman-setup.sh first" >&2; exit 1; }
done
mkdir -p "$CACHE/apt"

have() { [ "${SLUICE_REBUILD:-}" != 1 ] && podman image exists "$1"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- base: debootstrap minbase, cached as a tarball --------------------------
rootfs_tar="$CACHE/debian-12-minbase.tar"
if [ ! -s "$rootfs_tar" ]; then
  say "debootstrap $SUITE minbase from $MIRROR (cold; about a minute)"
  root="$work/rootfs"
  debootstrap --variant=minbase --cache-dir="$CACHE/apt" "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  printf 'deb %s %s main\ndeb %s %s-updates main\n' "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" >"$root/etc/apt/sources.list"
  # Images never need man pages or docs; keeping them out makes every layer smaller.
  cat >"$root/etc/dpkg/dpkg.cfg.d/01-sluice-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  say "packing root filesystem into $rootfs_tar"
  tar --numeric-owner -C "$root" -cf "$rootfs_tar.tmp" .
  mv "$rootfs_tar.tmp" "$rootfs_tar"
else
  say "root filesystem cached: $rootfs_tar"
fi

if have "$BASE"; then
  say "$BASE exists"
else
  say "importing $BASE"
  podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    "$rootfs_tar" "$BASE" >/dev/null 2>&1
fi

# build TAG DIR: podman build of DIR/Containerfile. Host network: the build
# containers reach Debian's mirror without depending on a bridge; apt's
# downloads are cached across builds.
build() {
  local tag=$1 dir=$2
  if have "$tag"; then say "$tag exists"; return; fi
  say "building $tag"
  if ! podman build --network host -v "$CACHE/apt:/var/cache/apt/archives" -t "$tag" "$dir" >"$work/build.log" 2>&1; then
    tail -n 30 "$work/build.log" >&2
    exit 1
  fi
}

# APT_RUN is the common install prologue/epilogue; keep-downloaded keeps .debs in the cache mount.
apt_install() {
  echo "RUN apt-get -o APT::Keep-Downloaded-Packages=true update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o APT::Keep-Downloaded-Packages=true install -y -qq --no-install-recommends $* && rm -rf /var/lib/apt/lists/*"
}

# --- python --------------------------------------------------------------------
mkdir -p "$work/python"
cat >"$work/python/Containerfile" <<EOF
FROM $BASE
$(apt_install python3 python3-venv python3-pip ca-certificates bash procps)
# Like the official python images, pip may install into the system interpreter.
RUN rm -f /usr/lib/python3*/EXTERNALLY-MANAGED && ln -sf /usr/bin/python3 /usr/local/bin/python
CMD ["python3"]
EOF
build localhost/sluice/python:3.11 "$work/python"

# --- redis -----------------------------------------------------------------------
mkdir -p "$work/redis"
cat >"$work/redis/Containerfile" <<EOF
FROM $BASE
$(apt_install redis-server)
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
EOF
build localhost/sluice/redis:7 "$work/redis"

# --- server base: what `sluice serve` needs besides its binary ---------------------
mkdir -p "$work/server-base"
cat >"$work/server-base/Containerfile" <<EOF
FROM $BASE
$(apt_install git ca-certificates)
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/sluice --create-home --shell /usr/sbin/nologin sluice
EOF
build localhost/sluice/server-base:12 "$work/server-base"

# --- postgres ----------------------------------------------------------------------
mkdir -p "$work/postgres"
cat >"$work/postgres/entrypoint.sh" <<'EOF'
#!/bin/bash
# Official-image-like entrypoint: initdb into $PGDATA when it is empty, honouring
# POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, POSTGRES_HOST_AUTH_METHOD and
# /docker-entrypoint-initdb.d/*.sql|*.sh, then run the server on 0.0.0.0:5432.
set -euo pipefail
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

if [ "${1:-}" != postgres ]; then exec "$@"; fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    echo "error: database is uninitialized and superuser password is not specified." >&2
    echo "       Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust)." >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
  initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host="$auth" >/dev/null
  rm -f "$pwfile"
  printf 'host all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
  # The temporary server listens only on a private socket: a health check
  # (pg_isready on the default socket) must not pass before the real start.
  initsock=$(mktemp -d)
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=$initsock" -w start >/dev/null
  if [ "$db" != postgres ]; then
    psql -h "$initsock" -v ON_ERROR_STOP=1 --username "$user" --dbname postgres -q -c "CREATE DATABASE \"$db\""
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sql) psql -h "$initsock" -v ON_ERROR_STOP=1 --username "$user" --dbname "$db" -q -f "$f" ;;
      *.sh) PGHOST="$initsock" . "$f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "PostgreSQL init process complete; ready for start up."
fi

shift
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
EOF
cat >"$work/postgres/Containerfile" <<EOF
FROM $BASE
# No main cluster at install time: the entrypoint creates one in \$PGDATA.
RUN mkdir -p /etc/postgresql-common/createcluster.d && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/sluice.conf
$(apt_install postgresql-15)
RUN mkdir -p /docker-entrypoint-initdb.d
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENV PGDATA=/var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
EOF
build localhost/sluice/postgres:15 "$work/postgres"

say "done"
