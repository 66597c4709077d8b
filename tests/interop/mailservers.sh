#!/usr/bin/env bash
# Real mail servers for the interop tier and the mail benchmark: Debian's Postfix (SMTP with
# STARTTLS, plus an SMTPS listener) delivering over LMTP into Dovecot (IMAP + IMAPS, POP3 +
# POP3S, STARTTLS/STLS on the plain ports), on 127.0.0.1 high ports chosen at run time.
#
#   mailservers.sh install      install the packages (idempotent; needs root and apt-get)
#   mailservers.sh start DIR    configure and start both servers in the scratch directory DIR
#                               and write DIR/env (shell-sourceable KEY=VALUE lines)
#   mailservers.sh stop DIR     stop the servers started in DIR (by their recorded PIDs)
#
# `servers.sh install` calls `mailservers.sh install` too, so one command installs every real
# server of the interop tier.
#
# Nothing here is meant for production: a throw-away CA and server key are generated into DIR
# at every start, the mail user gets a fresh random password, everything listens on loopback,
# and Postfix cannot relay anywhere (mail for any domain but the test domain is refused, the
# default transport is an error, DNS is never consulted).
# Environment: PCINTEROP_MAIL_USER (default pcmail) names the local system user that owns the
# maildir and runs Dovecot's mail processes; PCINTEROP_MAIL_DOMAIN (default
# mail.protoclients.test) is the domain Postfix accepts mail for.
set -euo pipefail

PACKAGES=(dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix swaks isync fetchmail curl openssl
    time)
MAIL_USER=${PCINTEROP_MAIL_USER:-pcmail}
MAIL_DOMAIN=${PCINTEROP_MAIL_DOMAIN:-mail.protoclients.test}
READY_TIMEOUT=${PCINTEROP_READY_TIMEOUT:-20}   # seconds to wait for the ports to accept

export PATH="$PATH:/usr/sbin:/sbin"

SCRIPT_NAME=mailservers.sh
# shellcheck source=tests/interop/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# ---------------------------------------------------------------------------------------- install

before_apt_install() {
    # Postfix asks what kind of mail system this is; "No configuration" leaves /etc/postfix
    # alone (every instance here gets its own configuration directory anyway).
    if command -v debconf-set-selections >/dev/null 2>&1; then
        printf '%s\n' \
            "postfix postfix/main_mailer_type select No configuration" \
            "postfix postfix/mailname string localhost" | debconf-set-selections
    fi
}

cmd_install() {
    install_packages "install Dovecot (imapd, pop3d, lmtpd), Postfix, swaks, isync, fetchmail \
and curl with your package manager to run the mail tier" "${PACKAGES[@]}"
}

# ------------------------------------------------------------------------------------------ start

# Print N free TCP ports on 127.0.0.1, each bound to port 0 by the kernel (all held at once, so
# they differ).
free_ports() {
    python3 - "$1" <<'EOF'
import socket
import sys

held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(*(s.getsockname()[1] for s in held))
for s in held:
    s.close()
EOF
}

make_certs() {
    local tls=$1
    mkdir -p "$tls"
    (
        cd "$tls"
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout ca.key -out ca.pem -days 2 -subj "/CN=protoclients mail interop throw-away CA" \
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
        rm -f server.csr ca.srl ca.key
    )
}

ensure_mail_user() {
    if ! id -u "$MAIL_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --comment "protoclients interop mail user" "$MAIL_USER"
    fi
}

# write_dovecot_conf DIR IMAP IMAPS POP3 POP3S
write_dovecot_conf() {
    local dir=$1 imap=$2 imaps=$3 pop3=$4 pop3s=$5 uid gid
    uid=$(id -u "$MAIL_USER")
    gid=$(id -g "$MAIL_USER")
    cat >"$dir/dovecot.conf" <<EOF
# Written by tests/interop/mailservers.sh -- loopback only, throw-away.
# Dovecot 2.3: no include of /etc/dovecot, everything is here.
base_dir = $dir/dovecot-run
state_dir = $dir/dovecot-state
instance_name = protoclients-$(basename "$dir")
protocols = imap pop3 lmtp
listen = 127.0.0.1
log_path = $dir/logs/dovecot.log
info_log_path = $dir/logs/dovecot.log
debug_log_path = $dir/logs/dovecot.log
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = $uid
last_valid_uid = $uid

ssl = yes
ssl_cert = <$dir/tls/server-chain.pem
ssl_key = <$dir/tls/server.key
ssl_min_protocol = TLSv1.2
# Plain-text logins are fine on loopback (and over TLS); STARTTLS/STLS is offered on the
# plain ports, never required.
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_cache_size = 0
auth_failure_delay = 0

passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT $dir/dovecot-users
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$dir/mail/%u
}
mail_location = maildir:~/Maildir
mail_privileged_group =
mail_fsync = optimized
maildir_very_dirty_syncs = no
pop3_uidl_format = %08Xu%08Xv
pop3_no_flag_updates = yes
imap_idle_notify_interval = 2 mins
protocol lmtp {
  postmaster_address = postmaster@$MAIL_DOMAIN
}
lmtp_save_to_detail_mailbox = no
recipient_delimiter =
auth_username_format = %Ln

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $imaps
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $pop3
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $pop3s
    ssl = yes
  }
}
service lmtp {
  unix_listener $dir/dovecot-lmtp {
    mode = 0666
  }
}
# No "auth penalty" (2, 4, 8... up to 15 s added by anvil to every login from an address
# after failed ones, successful ones included), which would slow every test after a
# wrong-password test; the documented switch is to make anvil's penalty socket unusable.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  unix_listener auth-userdb {
    mode = 0600
  }
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \\Sent
    auto = create
  }
  mailbox Trash {
    special_use = \\Trash
    auto = create
  }
}
EOF
}

# write_postfix_conf DIR SMTP_PORT SMTPS_PORT
write_postfix_conf() {
    local dir=$1 smtp=$2 smtps=$3 pf=$1/postfix
    mkdir -p "$pf"
    cat >"$pf/main.cf" <<EOF
# Written by tests/interop/mailservers.sh -- loopback only, throw-away; relaying impossible.
compatibility_level = 3.6
queue_directory = $dir/postfix-queue
data_directory = $dir/postfix-data
mail_owner = postfix
setgid_group = postdrop
myhostname = localhost
mydomain = localdomain
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mynetworks_style = host
relayhost =
relay_domains =
relay_transport = error:relaying is disabled in the protoclients interop tier
default_transport = error:relaying is disabled in the protoclients interop tier
virtual_mailbox_domains = $MAIL_DOMAIN
virtual_mailbox_maps = inline:{ {$MAIL_USER@$MAIL_DOMAIN=ok} }
virtual_transport = lmtp:unix:$dir/dovecot-lmtp
virtual_alias_maps =
alias_maps =
alias_database =
local_recipient_maps =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = reject_unauth_destination
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
biff = no
message_size_limit = 52428800
smtpd_banner = \$myhostname ESMTP Postfix (protoclients interop)
smtpd_tls_security_level = may
smtpd_tls_cert_file = $dir/tls/server-chain.pem
smtpd_tls_key_file = $dir/tls/server.key
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_loglevel = 0
smtp_tls_security_level = none
smtpd_sasl_auth_enable = no
smtputf8_enable = yes
maillog_file = $dir/logs/postfix.log
maillog_file_prefixes = $dir/logs
shlib_directory = /usr/lib/postfix
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
command_directory = /usr/sbin
# Keep the reply and queue timers short: a test run should never wait minutes.
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 200
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
anvil_rate_time_unit = 60s
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
EOF
    # master.cf: only what this instance needs; no local delivery, no pickup from sendmail
    # beyond the default, smtp on the chosen port, smtps (implicit TLS) on another.
    cat >"$pf/master.cf" <<EOF
# Written by tests/interop/mailservers.sh.
127.0.0.1:$smtp inet n - n - - smtpd
127.0.0.1:$smtps inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}


# True while PID runs. A zombie counts as exited.

# The PID in a pid file, once it names a running process; empty otherwise.
pid_from() {
    local pid
    [ -s "$1" ] || return 0
    pid=$(tr -dc '0-9' <"$1")
    [ -n "$pid" ] && alive "$pid" && printf '%s\n' "$pid"
    return 0
}

# Poll (bounded) until every port accepts a connection and the LMTP socket exists.
wait_ready() {
    local dir=$1 deadline=$((SECONDS + READY_TIMEOUT)) port all
    shift
    while :; do
        all=1
        [ -S "$dir/dovecot-lmtp" ] || all=0
        if [ "$all" = 1 ]; then
            for port in "$@"; do
                port_open "$port" || { all=0; break; }
            done
        fi
        [ "$all" = 1 ] && return 0
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
        *[[:space:]]* | *\'* | *\"* | *\$* | *\\* | *\{* | *\}* | *=* | *,*)
            die "DIR must not contain spaces, quotes, braces, '=' or ',': $dir" ;;
    esac
    [ -e "$dir/env" ] && die "$dir/env exists: servers already started there? ($0 stop $dir)"
    is_root || die "the mail servers need root (Postfix and Dovecot drop privileges themselves)"
    local bin
    for bin in dovecot postfix openssl; do
        command -v "$bin" >/dev/null 2>&1 || die "$bin is not installed (run: $0 install)"
    done
    [ -x /usr/lib/dovecot/lmtp ] || die "dovecot-lmtpd is not installed (run: $0 install)"
    [ -x /usr/lib/dovecot/pop3 ] || die "dovecot-pop3d is not installed (run: $0 install)"
    [ -x /usr/lib/dovecot/imap ] || die "dovecot-imapd is not installed (run: $0 install)"
    ensure_mail_user

    # Every parent of DIR must be traversable by the unprivileged server processes.
    chmod 711 "$dir"
    mkdir -p "$dir/logs" "$dir/dovecot-state" "$dir/postfix-queue" "$dir/mail/$MAIL_USER"
    # Postfix creates the queue's subdirectories (and its data directory) itself on start.
    chmod 755 "$dir/postfix-queue"
    chown "$MAIL_USER": "$dir/mail" "$dir/mail/$MAIL_USER"
    chmod 700 "$dir/mail/$MAIL_USER"
    chmod 755 "$dir/mail"
    if ! runuser -u "$MAIL_USER" -- test -w "$dir/mail/$MAIL_USER"; then
        die "user $MAIL_USER cannot reach $dir (a parent directory is not traversable);" \
            "use a directory such as one made by mktemp -d under /tmp or /dev/shm"
    fi
    make_certs "$dir/tls"

    local smtp_port smtps_port imap_port imaps_port pop3_port pop3s_port
    read -r smtp_port smtps_port imap_port imaps_port pop3_port pop3s_port <<<"$(free_ports 6)"

    local password
    password=$(openssl rand -hex 16)
    umask 077
    # nodelay: no pause before a failed-login reply (tests log in with wrong passwords).
    printf '%s:%s::::::nodelay=yes\n' "$MAIL_USER" "$(doveadm pw -s SHA512-CRYPT -p "$password")" \
        >"$dir/dovecot-users"
    umask 022
    # Dovecot's auth worker reads it as the dovecot user.
    chown root:dovecot "$dir/dovecot-users"
    chmod 640 "$dir/dovecot-users"

    write_dovecot_conf "$dir" "$imap_port" "$imaps_port" "$pop3_port" "$pop3s_port"
    write_postfix_conf "$dir" "$smtp_port" "$smtps_port"

    # Dovecot daemonizes but keeps the caller's stderr: give it /dev/null and a log file.
    dovecot -c "$dir/dovecot.conf" </dev/null >>"$dir/logs/dovecot.out" 2>&1 \
        || { tail -n 20 "$dir/logs/dovecot.out" "$dir/logs/dovecot.log" >&2 2>/dev/null || true
             die "dovecot did not start"; }

    # Postfix builds its queue under DIR (postfix-queue) owned by the postfix user.
    if ! postfix -c "$dir/postfix" check >>"$dir/logs/postfix.out" 2>&1; then
        # `postfix check` creates the queue directories on first run and may warn; a hard
        # failure shows up in `start` below.
        log "postfix check reported problems (see $dir/logs/postfix.out)"
    fi
    if ! postfix -c "$dir/postfix" start </dev/null >>"$dir/logs/postfix.out" 2>&1; then
        tail -n 20 "$dir/logs/postfix.out" "$dir/logs/postfix.log" >&2 2>/dev/null || true
        cmd_stop "$dir" || true
        die "postfix did not start"
    fi

    if ! wait_ready "$dir" "$smtp_port" "$smtps_port" "$imap_port" "$imaps_port" \
        "$pop3_port" "$pop3s_port"; then
        log "mail servers did not become ready within ${READY_TIMEOUT}s; logs:"
        tail -n 20 "$dir"/logs/* >&2 || true
        cmd_stop "$dir" || true
        exit 1
    fi
    # Record the master PIDs (from the servers' own pid files), for `stop`.
    local dovecot_pid postfix_pid
    dovecot_pid=$(pid_from "$dir/dovecot-run/master.pid")
    postfix_pid=$(pid_from "$dir/postfix-queue/pid/master.pid")
    printf '%s\n' "$dovecot_pid" >"$dir/dovecot.master.pid"
    printf '%s\n' "$postfix_pid" >"$dir/postfix.master.pid"

    local base=127.0.0.1 u=$MAIL_USER
    local tmp="$dir/env.tmp"
    {
        echo "# Written by tests/interop/mailservers.sh start; source it or parse KEY=VALUE lines."
        echo "MAIL_SERVERS_DIR=$dir"
        echo "SMTP_URL=smtp://$base:$smtp_port/"
        echo "SMTPS_URL=smtps://$base:$smtps_port/"
        echo "IMAP_URL=imap://$u@$base:$imap_port/"
        echo "IMAPS_URL=imaps://$u@$base:$imaps_port/"
        echo "POP3_URL=pop3://$u@$base:$pop3_port/"
        echo "POP3S_URL=pop3s://$u@$base:$pop3s_port/"
        echo "MAIL_HOST=$base"
        echo "SMTP_PORT=$smtp_port"
        echo "SMTPS_PORT=$smtps_port"
        echo "IMAP_PORT=$imap_port"
        echo "IMAPS_PORT=$imaps_port"
        echo "POP3_PORT=$pop3_port"
        echo "POP3S_PORT=$pop3s_port"
        echo "MAIL_USER=$u"
        echo "MAIL_PASSWORD=$password"
        echo "MAIL_ADDRESS=$u@$MAIL_DOMAIN"
        echo "MAIL_DOMAIN=$MAIL_DOMAIN"
        echo "MAILDIR=$dir/mail/$u/Maildir"
        echo "CA_FILE=$dir/tls/ca.pem"
        echo "DOVECOT_CONF=$dir/dovecot.conf"
        echo "POSTFIX_CONFIG_DIR=$dir/postfix"
        echo "DOVECOT_PID=$dovecot_pid"
        echo "POSTFIX_PID=$postfix_pid"
        echo "DOVECOT_VERSION=\"$(dovecot --version 2>/dev/null | cut -d' ' -f1)\""
        echo "POSTFIX_VERSION=$(postconf -c "$dir/postfix" -h mail_version 2>/dev/null)"
        echo "LOG_DIR=$dir/logs"
    } >"$tmp"
    chmod 600 "$tmp"
    mv "$tmp" "$dir/env"
    log "postfix on smtp://$base:$smtp_port/ and smtps://$base:$smtps_port/ (pid $postfix_pid)"
    log "dovecot on imap :$imap_port, imaps :$imaps_port, pop3 :$pop3_port, pop3s :$pop3s_port" \
        "(pid $dovecot_pid), user $u, address $u@$MAIL_DOMAIN"
    log "environment written to $dir/env"
}

# ------------------------------------------------------------------------------------------- stop

stop_pid() {
    local name=$1 pid=$2 i
    [ -n "$pid" ] || return 0
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
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
    dir=$(cd "$dir" && pwd -P)
    local pid
    # Postfix: its own stop first (waits for the master to exit), then the recorded PID.
    if [ -f "$dir/postfix/main.cf" ] && [ -n "$(pid_from "$dir/postfix-queue/pid/master.pid")" ]
    then
        postfix -c "$dir/postfix" stop >>"$dir/logs/postfix.out" 2>&1 || true
    fi
    for name in postfix dovecot; do
        pid=""
        [ -f "$dir/$name.master.pid" ] && pid=$(tr -dc '0-9' <"$dir/$name.master.pid")
        # If start died before recording, fall back to the server's own pid file in DIR.
        if [ -z "$pid" ]; then
            case $name in
                postfix) pid=$(pid_from "$dir/postfix-queue/pid/master.pid") ;;
                dovecot) pid=$(pid_from "$dir/dovecot-run/master.pid") ;;
            esac
        fi
        stop_pid "$name" "$pid"
        rm -f "$dir/$name.master.pid"
    done
    rm -f "$dir/env"
}

case "${1:-}" in
    install) cmd_install ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
