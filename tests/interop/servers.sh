#!/usr/bin/env bash
# Real servers for the interop tier and the benchmark: Debian's nginx (HTTP, HTTPS, WebDAV
# PUT/DELETE, autoindex) and vsftpd (FTP + explicit FTPS, and a second instance with implicit
# FTPS), on 127.0.0.1 high ports only.
#
#   servers.sh install      install the packages (idempotent; needs root and apt-get), and
#                           the mail servers' packages too (mailservers.sh install)
#   servers.sh start DIR    configure and start both servers in the scratch directory DIR and
#                           write DIR/env (shell-sourceable KEY=VALUE lines)
#   servers.sh stop DIR     stop the servers started in DIR (by their recorded PIDs)
#
# Nothing here is meant for production: a throw-away CA and server key are generated into DIR at
# every start, the FTP user gets a fresh random password, and everything listens on loopback.
# Environment: PCINTEROP_FTP_USER (default pcinterop) names the local system user for FTP.
set -euo pipefail

PACKAGES=(nginx libnginx-mod-http-dav-ext vsftpd openssl time)
FTP_USER=${PCINTEROP_FTP_USER:-pcinterop}
PAM_SERVICE=protoclients-interop-ftp
DAV_PATH=/dav/
READY_TIMEOUT=${PCINTEROP_READY_TIMEOUT:-20}   # seconds to wait for the ports to accept

export PATH="$PATH:/usr/sbin:/sbin"

SCRIPT_NAME=servers.sh
# shellcheck source=tests/interop/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# ---------------------------------------------------------------------------------------- install

cmd_install() {
    install_packages "install nginx (with the WebDAV module), vsftpd and openssl with your \
package manager to run the interop tier" "${PACKAGES[@]}"
}

# ------------------------------------------------------------------------------------------ start

# Print N free TCP ports on 127.0.0.1 (bound to port 0 by the kernel), then a free consecutive
# range of PASV_COUNT ports for vsftpd's passive data connections, as "p1 p2 ... lo hi".
free_ports() {
    python3 - "$1" "$2" <<'EOF'
import random
import socket
import sys

count, pasv_count = int(sys.argv[1]), int(sys.argv[2])
held = []
ports = []
for _ in range(count):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
    ports.append(s.getsockname()[1])


def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        return False
    finally:
        s.close()
    return True


rng = random.SystemRandom()
for _ in range(200):
    lo = rng.randrange(20000, 60000 - pasv_count)
    rng_ports = range(lo, lo + pasv_count)
    if not set(rng_ports) & set(ports) and all(free(p) for p in rng_ports):
        break
else:
    sys.exit("no free passive port range found")
for s in held:
    s.close()
print(*ports, lo, lo + pasv_count - 1)
EOF
}

make_certs() {
    local tls=$1
    mkdir -p "$tls"
    (
        cd "$tls"
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout ca.key -out ca.pem -days 2 -subj "/CN=protoclients interop throw-away CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
        cat >server.ext <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out server.crt -days 2 -extfile server.ext 2>/dev/null
        cat server.crt ca.pem >server-chain.pem
        chmod 644 ca.pem server.crt server-chain.pem
        rm -f server.csr ca.srl
    )
}

ensure_ftp_user() {
    local dir=$1 password=$2
    if ! id -u "$FTP_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir "$dir/ftproot" \
            --shell /usr/sbin/nologin --comment "protoclients interop FTP user" "$FTP_USER"
    else
        usermod --home "$dir/ftproot" "$FTP_USER"
    fi
    # SHA-512 crypt, not Debian's default yescrypt: a yescrypt check costs ~0.14 s per login
    # here, and the tests log in many times with this random throw-away password.
    printf '%s:%s\n' "$FTP_USER" "$(printf '%s' "$password" | openssl passwd -6 -stdin)" \
        | chpasswd -e
    # A PAM service of our own: Debian's /etc/pam.d/vsftpd insists on a login shell listed in
    # /etc/shells, and this user has none.
    local pam=/etc/pam.d/$PAM_SERVICE
    local want='# protoclients interop tier (tests/interop/servers.sh): vsftpd local logins
auth     required pam_unix.so nodelay
account  required pam_unix.so
session  required pam_permit.so'
    if [ ! -f "$pam" ] || [ "$(cat "$pam")" != "$want" ]; then
        printf '%s\n' "$want" >"$pam"
    fi
}

write_nginx_conf() {
    local dir=$1 http_port=$2 https_port=$3 user_line=$4 dav_ext_line=$5 dav_ext_methods=$6
    cat >"$dir/nginx.conf" <<EOF
# Written by tests/interop/servers.sh -- loopback only, throw-away.
$user_line
$dav_ext_line
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/nginx-error.log notice;

events {
    worker_connections 256;
}

http {
    access_log $dir/logs/nginx-access.log;
    client_body_temp_path $dir/nginx-tmp/body;
    proxy_temp_path $dir/nginx-tmp/proxy;
    fastcgi_temp_path $dir/nginx-tmp/fastcgi;
    uwsgi_temp_path $dir/nginx-tmp/uwsgi;
    scgi_temp_path $dir/nginx-tmp/scgi;
    default_type application/octet-stream;
    types {
        text/html html;
        text/plain txt;
    }
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 30;
    server_tokens on;

    server {
        listen 127.0.0.1:$http_port;
        listen 127.0.0.1:$https_port ssl;
        server_name 127.0.0.1 localhost;
        ssl_certificate $dir/tls/server-chain.pem;
        ssl_certificate_key $dir/tls/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $dir/www;

        location / {
            autoindex on;
        }

        location $DAV_PATH {
            dav_methods PUT DELETE MKCOL COPY MOVE;
            $dav_ext_methods
            create_full_put_path on;
            dav_access user:rw group:r all:r;
            client_max_body_size 0;
            autoindex on;
        }
    }
}
EOF
}

# write_vsftpd_conf DIR NAME PORT PASV_LO PASV_HI IMPLICIT(YES|NO)
write_vsftpd_conf() {
    local dir=$1 name=$2 port=$3 pasv_lo=$4 pasv_hi=$5 implicit=$6
    cat >"$dir/$name.conf" <<EOF
# Written by tests/interop/servers.sh -- loopback only, throw-away.
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$port
background=NO
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
secure_chroot_dir=$dir/vsftpd-empty
pam_service_name=$PAM_SERVICE
anonymous_enable=NO
local_enable=YES
local_root=$dir/ftproot
write_enable=YES
local_umask=022
chroot_local_user=YES
allow_writeable_chroot=YES
pasv_enable=YES
pasv_min_port=$pasv_lo
pasv_max_port=$pasv_hi
port_enable=YES
connect_from_port_20=NO
ssl_enable=YES
implicit_ssl=$implicit
rsa_cert_file=$dir/tls/server-chain.pem
rsa_private_key_file=$dir/tls/server.key
ssl_ciphers=HIGH
ssl_request_cert=NO
require_ssl_reuse=NO
allow_anon_ssl=NO
force_local_logins_ssl=NO
force_local_data_ssl=NO
xferlog_enable=YES
xferlog_std_format=NO
vsftpd_log_file=$dir/logs/$name.log
dual_log_enable=NO
delay_failed_login=0
idle_session_timeout=120
data_connection_timeout=120
EOF
    chown root:root "$dir/$name.conf"
    chmod 600 "$dir/$name.conf"
}


# Poll until every port accepts a connection; fail fast if a server process died.
wait_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT)) port pid all
    while :; do
        all=1
        for port in "${WAIT_PORTS[@]}"; do
            port_open "$port" || { all=0; break; }
        done
        [ "$all" = 1 ] && return 0
        for pid in "${WAIT_PIDS[@]}"; do
            alive "$pid" || return 1
        done
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

cmd_start() {
    local dir=${1:-}
    [ -n "$dir" ] || die "usage: $0 start DIR"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    case "$dir" in
        *[[:space:]]* | *\'* | *\"* | *\$* | *\\*) die "DIR must not contain spaces or quotes: $dir" ;;
    esac
    [ -e "$dir/env" ] && die "$dir/env exists: servers already started there? ($0 stop $dir)"
    command -v nginx >/dev/null 2>&1 || die "nginx is not installed (run: $0 install)"
    command -v openssl >/dev/null 2>&1 || die "openssl is not installed (run: $0 install)"

    local with_ftp=1 ftp_skip=""
    if ! command -v vsftpd >/dev/null 2>&1; then
        with_ftp=0 ftp_skip="vsftpd is not installed (run: $0 install)"
    elif ! is_root; then
        with_ftp=0 ftp_skip="vsftpd needs root (its config must be owned by root; local user login)"
    fi
    [ "$with_ftp" = 1 ] || log "not starting vsftpd: $ftp_skip"

    mkdir -p "$dir/logs" "$dir/www${DAV_PATH%/}" "$dir/nginx-tmp" "$dir/ftproot" "$dir/vsftpd-empty"
    # The servers' unprivileged processes run as the FTP user and must be able to reach DIR.
    chmod 711 "$dir"
    chmod 755 "$dir/vsftpd-empty" "$dir/www"
    make_certs "$dir/tls"

    local ports http_port https_port ftp_port pasv_lo pasv_hi
    local ftps_port
    ports=$(free_ports 4 32)
    read -r http_port https_port ftp_port ftps_port pasv_lo pasv_hi <<<"$ports"

    local user_line="" password=""
    if is_root; then
        password=$(openssl rand -hex 16)
        ensure_ftp_user "$dir" "$password"
        chown "$FTP_USER": "$dir/ftproot" "$dir/www${DAV_PATH%/}"
        user_line="user $FTP_USER;"
        # The unprivileged user must reach its directories through every parent of DIR.
        if ! runuser -u "$FTP_USER" -- test -w "$dir/ftproot" -a -x "$dir/www"; then
            die "user $FTP_USER cannot reach $dir (a parent directory is not traversable);" \
                "use a directory such as one made by mktemp -d under /tmp or /dev/shm"
        fi
    fi
    local dav_ext_line="" dav_ext_methods=""
    local mod=/usr/lib/nginx/modules/ngx_http_dav_ext_module.so
    if [ -f "$mod" ]; then
        dav_ext_line="load_module $mod;"
        dav_ext_methods="dav_ext_methods PROPFIND OPTIONS;"
    fi
    write_nginx_conf "$dir" "$http_port" "$https_port" "$user_line" "$dav_ext_line" "$dav_ext_methods"
    nginx -t -q -p "$dir" -e "$dir/logs/nginx-error.log" -c "$dir/nginx.conf" \
        || die "nginx rejected $dir/nginx.conf (see $dir/logs/nginx-error.log)"

    nginx -p "$dir" -e "$dir/logs/nginx-error.log" -c "$dir/nginx.conf" \
        </dev/null >>"$dir/logs/nginx.out" 2>&1 &
    local nginx_pid=$!
    WAIT_PORTS=("$http_port" "$https_port")
    WAIT_PIDS=("$nginx_pid")

    # Two vsftpd instances on one FTP root: explicit FTPS (AUTH TLS, plain allowed) and
    # implicit FTPS (TLS from the first byte), each with half of the passive port range.
    local vsftpd_pid="" vsftpd_implicit_pid="" pasv_mid=$(((pasv_lo + pasv_hi) / 2))
    if [ "$with_ftp" = 1 ]; then
        write_vsftpd_conf "$dir" vsftpd "$ftp_port" "$pasv_lo" "$pasv_mid" NO
        write_vsftpd_conf "$dir" vsftpd-implicit "$ftps_port" "$((pasv_mid + 1))" "$pasv_hi" YES
        vsftpd "$dir/vsftpd.conf" </dev/null >>"$dir/logs/vsftpd.out" 2>&1 &
        vsftpd_pid=$!
        vsftpd "$dir/vsftpd-implicit.conf" </dev/null >>"$dir/logs/vsftpd-implicit.out" 2>&1 &
        vsftpd_implicit_pid=$!
        WAIT_PORTS+=("$ftp_port" "$ftps_port")
        WAIT_PIDS+=("$vsftpd_pid" "$vsftpd_implicit_pid")
    fi

    # Record the PIDs before waiting, so that `stop` works even if readiness fails.
    printf '%s\n' "$nginx_pid" >"$dir/nginx.master.pid"
    if [ -n "$vsftpd_pid" ]; then
        printf '%s\n' "$vsftpd_pid" >"$dir/vsftpd.pid"
        printf '%s\n' "$vsftpd_implicit_pid" >"$dir/vsftpd-implicit.pid"
    fi

    if ! wait_ready; then
        log "servers did not become ready within ${READY_TIMEOUT}s; logs:"
        tail -n 20 "$dir"/logs/* >&2 || true
        cmd_stop "$dir" || true
        exit 1
    fi

    local base=127.0.0.1
    local tmp="$dir/env.tmp"
    {
        echo "# Written by tests/interop/servers.sh start; source it or parse KEY=VALUE lines."
        echo "SERVERS_DIR=$dir"
        echo "HTTP_URL=http://$base:$http_port/"
        echo "HTTPS_URL=https://$base:$https_port/"
        echo "DAV_PATH=$DAV_PATH"
        echo "HTTP_DAV_URL=http://$base:$http_port$DAV_PATH"
        echo "HTTPS_DAV_URL=https://$base:$https_port$DAV_PATH"
        echo "HTTP_ROOT=$dir/www"
        echo "CA_FILE=$dir/tls/ca.pem"
        echo "NGINX_PID=$nginx_pid"
        echo "NGINX_VERSION=$(nginx -v 2>&1 | sed 's/^nginx version: //')"
        if [ "$with_ftp" = 1 ]; then
            echo "FTP_URL=ftp://$base:$ftp_port/"
            echo "FTP_HOST=$base"
            echo "FTP_PORT=$ftp_port"
            echo "FTP_USER=$FTP_USER"
            echo "FTP_PASSWORD=$password"
            echo "FTP_ROOT=$dir/ftproot"
            echo "FTP_PASV_PORTS=$pasv_lo-$pasv_hi"
            echo "FTPS_URL=ftps://$base:$ftps_port/"
            echo "FTPS_PORT=$ftps_port"
            echo "VSFTPD_PID=$vsftpd_pid"
            echo "VSFTPD_IMPLICIT_PID=$vsftpd_implicit_pid"
        else
            echo "FTP_URL="
            echo "FTP_SKIP_REASON=\"$ftp_skip\""
        fi
        echo "LOG_DIR=$dir/logs"
    } >"$tmp"
    chmod 600 "$tmp"
    mv "$tmp" "$dir/env"
    log "nginx on http://$base:$http_port/ and https://$base:$https_port/ (pid $nginx_pid)"
    if [ "$with_ftp" = 1 ]; then
        log "vsftpd on ftp://$base:$ftp_port/ (pid $vsftpd_pid) and ftps://$base:$ftps_port/" \
            "(pid $vsftpd_implicit_pid), user $FTP_USER"
    fi
    log "environment written to $dir/env"
}

# ------------------------------------------------------------------------------------------- stop

# True while PID runs. A server whose parent shell is gone is reaped by PID 1, which may take
# a while in containers; a zombie counts as exited.

stop_pid() {
    local name=$1 pid=$2 children i
    alive "$pid" || return 0
    # vsftpd forks one process per session; stop those (children of the recorded PID) too.
    children=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
    kill -TERM "$pid" 2>/dev/null || true
    # shellcheck disable=SC2086
    [ -z "$children" ] || kill -TERM $children 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || { log "stopped $name (pid $pid)"; return 0; }
        sleep 0.05
    done
    log "$name (pid $pid) did not exit after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

cmd_stop() {
    local dir=${1:-}
    [ -n "$dir" ] || die "usage: $0 stop DIR"
    [ -d "$dir" ] || { log "no such directory: $dir"; return 0; }
    local f name
    for f in nginx.master.pid vsftpd.pid vsftpd-implicit.pid; do
        if [ -f "$dir/$f" ]; then
            name=${f%.pid}
            stop_pid "${name%.master}" "$(cat "$dir/$f")"
            rm -f "$dir/$f"
        fi
    done
    rm -f "$dir/env"
}

case "${1:-}" in
    install)
        cmd_install
        # The mail servers (Postfix + Dovecot) have a script of their own; one install for all.
        bash "$(dirname "${BASH_SOURCE[0]}")/mailservers.sh" install
        ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
