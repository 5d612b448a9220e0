#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests (and for trying apo on PostgreSQL):
#   deploy/postgres-cluster.sh start DIR [PORT [ADDRESSES]]
#       initdb into DIR, start it listening on ADDRESSES (default 127.0.0.1; comma-separated),
#       print its URL. Other addresses than loopback get trust authentication for their /24.
#   deploy/postgres-cluster.sh tls DIR [NAMES]    give it TLS: a new CA (DIR.tls/ca.crt, printed) and a
#       server certificate it signed for localhost, 127.0.0.1 and NAMES (comma-separated DNS names
#       or IPv4 addresses), ssl = on, restart. Connect with ?sslmode=verify-full&sslrootcert=DIR.tls/ca.crt
#   deploy/postgres-cluster.sh client-cert DIR USER   after tls: a client certificate for USER signed by
#       the same CA (DIR.tls/USER.crt, .key; printed), and USER may log in only with it (pg_hba cert)
#   deploy/postgres-cluster.sh restart DIR        restart it (fast: every connection is dropped)
#   deploy/postgres-cluster.sh stop DIR           stop it (the folder is left for you to remove)
# initdb refuses to run as root, so as root the cluster belongs to an unprivileged user
# (`postgres`, which Debian's package creates). Trust authentication on 127.0.0.1 only.
set -euo pipefail
command=${1:?usage: postgres-cluster.sh start|tls|client-cert|restart|stop DIR [PORT [ADDRESSES]]}
dir=${2:?usage: postgres-cluster.sh start|tls|client-cert|restart|stop DIR [PORT [ADDRESSES]]}
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
tls)
    tls="$dir.tls"
    names=${3:-}
    mkdir -p "$tls"
    sans="DNS:localhost,IP:127.0.0.1"
    for name in ${names//,/ }; do
        if [[ $name =~ ^[0-9.]+$ ]]; then sans+=",IP:$name"; else sans+=",DNS:$name"; fi
    done
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=apo test CA" \
        -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$dir/server.key" -out "$tls/server.csr" 2>/dev/null
    printf 'subjectAltName=%s\n' "$sans" >"$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial -days 30 \
        -extfile "$tls/server.ext" -out "$dir/server.crt" 2>/dev/null
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/server.key" "$dir/server.crt"
    chmod 600 "$dir/server.key"
    grep -q '^ssl = on' "$dir/postgresql.conf" || echo "ssl = on" >>"$dir/postgresql.conf"
    as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -m fast -w restart >/dev/null
    echo "$tls/ca.crt"
    ;;
client-cert)
    tls="$dir.tls"
    user=${3:?usage: postgres-cluster.sh client-cert DIR USER}
    [ -f "$tls/ca.crt" ] || { echo "postgres-cluster.sh: run 'tls $dir' first" >&2; exit 1; }
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$user" -keyout "$tls/$user.key" -out "$tls/$user.csr" 2>/dev/null
    openssl x509 -req -in "$tls/$user.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial -days 30 \
        -out "$tls/$user.crt" 2>/dev/null
    chmod 600 "$tls/$user.key"
    cp "$tls/ca.crt" "$dir/root.crt"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/root.crt"
    grep -q '^ssl_ca_file' "$dir/postgresql.conf" || echo "ssl_ca_file = 'root.crt'" >>"$dir/postgresql.conf"
    # First match wins: USER's cert line goes above initdb's trust lines.
    { echo "hostssl all $user 127.0.0.1/32 cert"; echo "host all $user 127.0.0.1/32 reject"; cat "$dir/pg_hba.conf"; } >"$dir/pg_hba.new"
    mv "$dir/pg_hba.new" "$dir/pg_hba.conf"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/pg_hba.conf"
    as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -m fast -w restart >/dev/null
    echo "$tls/$user.crt"
    ;;
stop)
    as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
    ;;
restart)
    as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -m fast -w restart >/dev/null
    ;;
*)
    echo "usage: postgres-cluster.sh start|tls|client-cert|restart|stop DIR …" >&2; exit 2 ;;
esac
