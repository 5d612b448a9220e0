#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests (and for trying apo on PostgreSQL):
#   deploy/postgres-cluster.sh start DIR [PORT [ADDRESSES]]
#       initdb into DIR, start it listening on ADDRESSES (default 127.0.0.1; comma-separated),
#       print its URL. Other addresses than loopback get trust authentication for their /24.
#   deploy/postgres-cluster.sh restart DIR        restart it (fast: every connection is dropped)
#   deploy/postgres-cluster.sh stop DIR           stop it (the folder is left for you to remove)
# initdb refuses to run as root, so as root the cluster belongs to an unprivileged user
# (`postgres`, which Debian's package creates). Trust authentication on 127.0.0.1 only.
set -euo pipefail
command=${1:?usage: postgres-cluster.sh start|restart|stop DIR [PORT [ADDRESSES]]}
dir=${2:?usage: postgres-cluster.sh start|restart|stop DIR [PORT [ADDRESSES]]}
port=${3:-55432}
addresses=${4:-127.0.0.1}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bindir" ] || { echo "postgres-cluster.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$command" in
start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
        as_owner "$bindir/initdb" -D "$dir" -U apo --auth=trust -E UTF8 --no-instructions >"$dir.initdb.log" 2>&1 \
            || { cat "$dir.initdb.log" >&2; exit 1; }
        for address in ${addresses//,/ }; do
            [ "$address" = 127.0.0.1 ] && continue
            echo "host all all ${address%.*}.0/24 trust" >>"$dir/pg_hba.conf"
        done
    fi
    as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
        -o "-h $addresses -p $port -k $dir -c max_connections=300 -c fsync=off -c synchronous_commit=off" start >/dev/null
    echo "postgres://apo@127.0.0.1:$port/postgres"
    ;;
stop)
    as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
    ;;
restart)
    as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -m fast -w restart >/dev/null
    ;;
*)
    echo "usage: postgres-cluster.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
