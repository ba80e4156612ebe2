# bash completion for netctl(1)                            -*- shell-script -*-
#
# Completes global options, commands (and the words of the `udp` and `policy` groups),
# each command's options, the fixed words some arguments take (shutdown
# modes, wait states, socket options, method names), and handle names,
# which come live from the running netd: `netctl --json ls`, asked on the
# same socket as the command line names (--socket, or $NETD_SOCKET).
#
# Needs bash 4 and nothing else (not the bash-completion package). The
# tables below follow netctl's command table (client/netctl*.c), the socket
# options of proto/methods.c and the methods of proto/netd.openrpc.json;
# tests/completion/test_completion.py checks them against those.

_netctl_globals="--socket --json --json=pretty --json=short --timeout --no-legend --version --help -h"
_netctl_commands="call ping resolve connect listen accept accept-loop udp read chunk cat write
    flush shutdown close cancel pending localname peername status wait setsockopt getsockopt
    keep ls stats addrs pair assign release attach nc proxy starttls policy monitor methods describe help"

_netctl_udp="listen connect send recv"
_netctl_policy="explain"
_netctl_sockopts="so-broadcast so-reuseaddr so-reuseport so-keepalive so-linger so-rcvbuf
    so-sndbuf so-rcvlowat so-sndlowat so-dontroute so-debug so-oobinline so-timestamp so-type
    so-error so-acceptconn tcp-nodelay tcp-cork tcp-keepidle tcp-keepintvl tcp-keepcnt ip-ttl
    ip-multicast-ttl ip-multicast-loop ip-add-membership ip-drop-membership ipv6-v6only
    ipv6-multicast-hops ipv6-unicast-hops ipv6-join-group ipv6-leave-group so-rcvtimeo
    so-sndtimeo ip-multicast-if ipv6-multicast-if"
_netctl_methods="ping rpc.discover address address-unpack connect listen accept read chunk
    write pending flush shutdown close cancel localname peername status wait keep handles
    stats accept-loop server recv-from send-to setsockopt getsockopt pair local-addresses
    release assign starttls tls-config disconnect attach splice policy-explain monitor"


# The options of one command (its name with a space for a group command).
_netctl_options() {
    local tls="--tls --cafile --servername --insecure --alpn"
    case $1 in
    resolve) echo "--all --datagram" ;;
    connect) echo "--unix --bind --bind-port --datagram $tls" ;;
    listen) echo "--unix --backlog --datagram --loop" ;;
    "udp listen") echo "--unix" ;;
    "udp connect") echo "--unix --bind --bind-port" ;;
    "udp send") echo "--to --unix --timeout" ;;
    "udp recv") echo "--max --timeout" ;;
    accept | read | chunk | write | wait) echo "--timeout" ;;
    ls | addrs | methods) echo "--no-legend" ;;
    pair) echo "--datagram" ;;
    assign) echo "--fd" ;;
    monitor) echo "--count" ;;
    nc) echo "--unix $tls" ;;
    proxy) echo "--tls-cert --tls-key $tls" ;;
    starttls) echo "--server --cert --key --cafile --servername --insecure --alpn --timeout" ;;
    "policy explain") echo "--unix --uid --bind --bind-port --datagram" ;;
    esac
    echo "--help"
}

# Commands whose first argument is a handle.
_netctl_takes_handle() {
    case $1 in
    accept | accept-loop | "udp send" | "udp recv" | read | chunk | cat | write | flush | \
        shutdown | close | cancel | pending | localname | peername | status | wait | \
        setsockopt | getsockopt | keep | release | attach | starttls) return 0 ;;
    esac
    return 1
}

# COMPREPLY: the caller's handles that begin with $cur. $@: netctl and the
# global options that pick the socket; nothing when netd does not answer.
# The names are taken from the JSON (compact or pretty) rather than from
# the table `ls` prints, whose layout is for people, and are compared as
# plain strings (compgen -W would expand them).
_netctl_handles() {
    local out name re='"handle"[[:space:]]*:[[:space:]]*"([^"\\]*)"'
    COMPREPLY=()
    out=$("$@" --timeout 2 --json ls 2>/dev/null) || return 0
    while [[ $out =~ $re ]]; do
        name=${BASH_REMATCH[1]}
        [[ $name == "$cur"* ]] && COMPREPLY+=("$name")
        out=${out#*"${BASH_REMATCH[0]}"}
    done
}

# COMPREPLY from compgen ARGS, one candidate a line (file names may hold spaces).
_netctl_reply() {
    mapfile -t COMPREPLY < <(compgen "$@")
}

# bash splits "--json=pretty" at "=" (COMP_WORDBREAKS); _netctl_rejoin puts
# COMP_WORDS[0..COMP_CWORD] back together into words[] and sets cword.
_netctl_rejoin() {
    words=() cword=0
    local k w
    for ((k = 0; k <= COMP_CWORD; k++)); do
        w=${COMP_WORDS[k]}
        if ((k > 0)) && [[ $w == =* && ${words[-1]} == --* && ${words[-1]} != *=* ]]; then
            words[-1]+=$w
            if ((k < COMP_CWORD)) && [[ $w == = ]]; then
                ((k++))
                words[-1]+=${COMP_WORDS[k]}
            fi
        else
            words+=("$w")
        fi
    done
    cword=$((${#words[@]} - 1))
}

_netctl() {
    local -a words
    local cword
    _netctl_rejoin
    local cur=${words[cword]} prev=""
    ((cword > 0)) && prev=${words[cword - 1]}
    COMPREPLY=()
    _netctl_complete
    # Readline replaces only the part after the last "=": drop what precedes it.
    if [[ $cur == --*=* && $COMP_WORDBREAKS == *=* ]]; then
        COMPREPLY=("${COMPREPLY[@]#"${cur%=*}="}")
    fi
    return 0
}

_netctl_complete() {
    # Global options up to the command; --socket is passed on to `ls`.
    local -a netctl=("${words[0]}")
    local i=1 w
    while ((i < cword)); do
        w=${words[i]}
        case $w in
        --socket | --timeout)
            [[ $w == --socket ]] && netctl+=(--socket "${words[i + 1]}")
            ((i += 2))
            continue
            ;;
        --socket=*) netctl+=("$w") ;;
        -*) ;;
        *) break ;;
        esac
        ((i++))
    done
    if ((i >= cword)); then
        case $prev in
        --socket)
            # The default abstract name, then socket files.
            _netctl_reply -f -- "$cur"
            [[ @netd == "$cur"* ]] && COMPREPLY=(@netd "${COMPREPLY[@]}")
            return
            ;;
        --timeout) return ;;
        esac
        if [[ $cur == -* ]]; then
            _netctl_reply -W "$_netctl_globals" -- "$cur"
        else
            _netctl_reply -W "$_netctl_commands" -- "$cur"
        fi
        return
    fi

    local cmd=${words[i]}
    ((i++))
    if [[ $cmd == udp || $cmd == policy ]]; then
        if ((i >= cword)); then
            local group=_netctl_$cmd
            _netctl_reply -W "${!group}" -- "$cur"
            return
        fi
        cmd="$cmd ${words[i]}"
        ((i++))
    fi

    # The value of an option.
    case $prev in
    --unix | --cafile | --cert | --key)
        _netctl_reply -f -- "$cur"
        return
        ;;
    --to)
        _netctl_handles "${netctl[@]}"
        return
        ;;
    --bind | --bind-port | --servername | --alpn | --backlog | --timeout | --max | --fd | --uid)
        return
        ;;
    esac

    # Which argument this is: words that are not options or their values.
    local -a args=()
    local dashdash=0
    while ((i < cword)); do
        w=${words[i]}
        if ((dashdash)); then
            args+=("$w")
        elif [[ $w == -- ]]; then
            dashdash=1
        elif [[ $w == --*=* ]]; then
            :
        elif [[ $w == --* ]]; then
            case $w in
            --unix | --cafile | --cert | --key | --to | --bind | --bind-port | --servername | \
                --alpn | --backlog | --timeout | --max | --fd | --uid) ((i++)) ;;
            esac
        else
            args+=("$w")
        fi
        ((i++))
    done

    # `release H -- COMMAND ARGS`, `attach H -- ...`: a program, then its own arguments.
    if ((dashdash)); then
        if [[ ($cmd == release || $cmd == attach) && ${#args[@]} -eq 1 ]]; then
            _netctl_reply -c -- "$cur"
        else
            _netctl_reply -f -- "$cur"
        fi
        return
    fi
    if [[ $cur == -* ]]; then
        _netctl_reply -W "$(_netctl_options "$cmd")" -- "$cur"
        return
    fi

    local n=${#args[@]}
    if ((n == 0)) && _netctl_takes_handle "$cmd"; then
        _netctl_handles "${netctl[@]}"
        return
    fi
    local choices=""
    case $cmd/$n in
    call/0 | describe/0) choices=$_netctl_methods ;;
    help/0) choices=$_netctl_commands ;;
    help/1) [[ ${args[0]} == udp ]] && choices=$_netctl_udp
        [[ ${args[0]} == policy ]] && choices=$_netctl_policy ;;
    "policy explain/0") choices="connect listen send-to" ;;
    shutdown/1) choices="r w rw" ;;
    wait/1) choices="resolved connected readable writable drained error" ;;
    setsockopt/1 | getsockopt/1) choices=$_netctl_sockopts ;;
    read/1) choices="all" ;;
    write/1) choices="-" ;;
    esac
    [[ -n $choices ]] && _netctl_reply -W "$choices" -- "$cur"
    return 0
}

complete -F _netctl netctl
