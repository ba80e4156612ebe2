/*
 * errors.c - the one table that turns netd's error kinds into JSON-RPC codes
 * and names (contract section 5), plus symbolic names for errno and
 * getaddrinfo() values, which travel in error.data so that clients can
 * compare them without knowing the daemon's platform numbers.
 */
#include "errors.h"

#include <errno.h>
#include <netdb.h>
#include <stddef.h>

struct kind_entry {
    int code;
    const char *name;
};

/* Indexed by enum netd_err so that code and name lookups are O(1). */
static const struct kind_entry kinds[NETD_E__COUNT] = {
    [NETD_OK] = {0, "ok"},
    [NETD_E_PARSE] = {-32700, "parse error"},
    [NETD_E_INVALID_REQUEST] = {-32600, "invalid request"},
    [NETD_E_METHOD] = {-32601, "method not found"},
    [NETD_E_PARAMS] = {-32602, "invalid params"},
    [NETD_E_INTERNAL] = {-32603, "internal error"},
    [NETD_E_OS] = {-32000, "os"},
    [NETD_E_TIMEOUT] = {-32001, "timeout"},
    [NETD_E_UNKNOWN_HANDLE] = {-32002, "unknown handle"},
    [NETD_E_WRONG_KIND] = {-32003, "wrong kind"},
    [NETD_E_ABORTED] = {-32004, "aborted"},
    [NETD_E_DENIED] = {-32005, "denied"},
    [NETD_E_LIMIT] = {-32006, "limit"},
    [NETD_E_RESOLVE] = {-32007, "resolve"},
    [NETD_E_TLS] = {-32008, "tls"},
};

/* A kind outside the enum can only come from a bug; answering "internal
 * error" keeps such a bug from reaching the client as a bogus code. */
static enum netd_err kind_checked(enum netd_err kind)
{
    if ((int)kind < 0 || kind >= NETD_E__COUNT)
        return NETD_E_INTERNAL;
    return kind;
}

int netd_err_code(enum netd_err kind)
{
    return kinds[kind_checked(kind)].code;
}

const char *netd_err_name(enum netd_err kind)
{
    return kinds[kind_checked(kind)].name;
}

enum netd_err netd_err_from_code(int code)
{
    for (int k = 0; k < NETD_E__COUNT; k++) {
        if (kinds[k].code == code)
            return (enum netd_err)k;
    }
    return NETD_E_INTERNAL;
}

struct name_entry {
    int value;
    const char *name;
};

/* clang-format off */
#define NAME(e) {.value = (e), .name = #e}
/* clang-format on */

/*
 * Several errno names share a value on Linux (EAGAIN/EWOULDBLOCK,
 * EOPNOTSUPP/ENOTSUP, EDEADLK/EDEADLOCK). A lookup returns the first entry
 * with a matching value, so the name POSIX socket documentation uses comes
 * first. Entries are guarded because not every platform defines every name.
 */
static const struct name_entry errno_names[] = {
    NAME(EPERM),
    NAME(ENOENT),
    NAME(ESRCH),
    NAME(EINTR),
    NAME(EIO),
    NAME(ENXIO),
    NAME(E2BIG),
    NAME(ENOEXEC),
    NAME(EBADF),
    NAME(ECHILD),
    NAME(EAGAIN),
    NAME(ENOMEM),
    NAME(EACCES),
    NAME(EFAULT),
#ifdef ENOTBLK
    NAME(ENOTBLK),
#endif
    NAME(EBUSY),
    NAME(EEXIST),
    NAME(EXDEV),
    NAME(ENODEV),
    NAME(ENOTDIR),
    NAME(EISDIR),
    NAME(EINVAL),
    NAME(ENFILE),
    NAME(EMFILE),
    NAME(ENOTTY),
    NAME(ETXTBSY),
    NAME(EFBIG),
    NAME(ENOSPC),
    NAME(ESPIPE),
    NAME(EROFS),
    NAME(EMLINK),
    NAME(EPIPE),
    NAME(EDOM),
    NAME(ERANGE),
    NAME(EDEADLK),
    NAME(ENAMETOOLONG),
    NAME(ENOLCK),
    NAME(ENOSYS),
    NAME(ENOTEMPTY),
    NAME(ELOOP),
    NAME(EWOULDBLOCK),
    NAME(ENOMSG),
    NAME(EIDRM),
    NAME(ENOSTR),
    NAME(ENODATA),
    NAME(ETIME),
    NAME(ENOSR),
    NAME(ENOLINK),
    NAME(EPROTO),
    NAME(EBADMSG),
    NAME(EOVERFLOW),
    NAME(EILSEQ),
    NAME(EUSERS),
    NAME(ENOTSOCK),
    NAME(EDESTADDRREQ),
    NAME(EMSGSIZE),
    NAME(EPROTOTYPE),
    NAME(ENOPROTOOPT),
    NAME(EPROTONOSUPPORT),
#ifdef ESOCKTNOSUPPORT
    NAME(ESOCKTNOSUPPORT),
#endif
    NAME(EOPNOTSUPP),
    NAME(ENOTSUP),
#ifdef EPFNOSUPPORT
    NAME(EPFNOSUPPORT),
#endif
    NAME(EAFNOSUPPORT),
    NAME(EADDRINUSE),
    NAME(EADDRNOTAVAIL),
    NAME(ENETDOWN),
    NAME(ENETUNREACH),
    NAME(ENETRESET),
    NAME(ECONNABORTED),
    NAME(ECONNRESET),
    NAME(ENOBUFS),
    NAME(EISCONN),
    NAME(ENOTCONN),
#ifdef ESHUTDOWN
    NAME(ESHUTDOWN),
#endif
#ifdef ETOOMANYREFS
    NAME(ETOOMANYREFS),
#endif
    NAME(ETIMEDOUT),
    NAME(ECONNREFUSED),
#ifdef EHOSTDOWN
    NAME(EHOSTDOWN),
#endif
    NAME(EHOSTUNREACH),
    NAME(EALREADY),
    NAME(EINPROGRESS),
    NAME(ESTALE),
    NAME(EDQUOT),
    NAME(ECANCELED),
    NAME(EOWNERDEAD),
    NAME(ENOTRECOVERABLE),
#ifdef EREMOTEIO
    NAME(EREMOTEIO),
#endif
#ifdef ENOKEY
    NAME(ENOKEY),
#endif
#ifdef EKEYEXPIRED
    NAME(EKEYEXPIRED),
#endif
#ifdef EKEYREVOKED
    NAME(EKEYREVOKED),
#endif
#ifdef EKEYREJECTED
    NAME(EKEYREJECTED),
#endif
#ifdef ERFKILL
    NAME(ERFKILL),
#endif
#ifdef EHWPOISON
    NAME(EHWPOISON),
#endif
#ifdef ENOMEDIUM
    NAME(ENOMEDIUM),
#endif
#ifdef EMEDIUMTYPE
    NAME(EMEDIUMTYPE),
#endif
#ifdef ENONET
    NAME(ENONET),
#endif
#ifdef ECOMM
    NAME(ECOMM),
#endif
#ifdef EBADFD
    NAME(EBADFD),
#endif
#ifdef ERESTART
    NAME(ERESTART),
#endif
#ifdef ESTRPIPE
    NAME(ESTRPIPE),
#endif
#ifdef EUCLEAN
    NAME(EUCLEAN),
#endif
#ifdef EREMCHG
    NAME(EREMCHG),
#endif
#ifdef ENOTUNIQ
    NAME(ENOTUNIQ),
#endif
#ifdef EMULTIHOP
    NAME(EMULTIHOP),
#endif
#ifdef EREMOTE
    NAME(EREMOTE),
#endif
#ifdef ECHRNG
    NAME(ECHRNG),
#endif
#ifdef EL2NSYNC
    NAME(EL2NSYNC),
#endif
#ifdef EL3HLT
    NAME(EL3HLT),
#endif
#ifdef EL3RST
    NAME(EL3RST),
#endif
#ifdef ELNRNG
    NAME(ELNRNG),
#endif
#ifdef EUNATCH
    NAME(EUNATCH),
#endif
#ifdef ENOCSI
    NAME(ENOCSI),
#endif
#ifdef EL2HLT
    NAME(EL2HLT),
#endif
#ifdef EBADE
    NAME(EBADE),
#endif
#ifdef EBADR
    NAME(EBADR),
#endif
#ifdef EXFULL
    NAME(EXFULL),
#endif
#ifdef ENOANO
    NAME(ENOANO),
#endif
#ifdef EBADRQC
    NAME(EBADRQC),
#endif
#ifdef EBADSLT
    NAME(EBADSLT),
#endif
#ifdef EBFONT
    NAME(EBFONT),
#endif
#ifdef ENOPKG
    NAME(ENOPKG),
#endif
#ifdef EADV
    NAME(EADV),
#endif
#ifdef ESRMNT
    NAME(ESRMNT),
#endif
#ifdef EDOTDOT
    NAME(EDOTDOT),
#endif
#ifdef ELIBACC
    NAME(ELIBACC),
#endif
#ifdef ELIBBAD
    NAME(ELIBBAD),
#endif
#ifdef ELIBSCN
    NAME(ELIBSCN),
#endif
#ifdef ELIBMAX
    NAME(ELIBMAX),
#endif
#ifdef ELIBEXEC
    NAME(ELIBEXEC),
#endif
#ifdef ENOTNAM
    NAME(ENOTNAM),
#endif
#ifdef ENAVAIL
    NAME(ENAVAIL),
#endif
#ifdef EISNAM
    NAME(EISNAM),
#endif
};

/* Resolver errors; EAI_NODATA, EAI_ADDRFAMILY and the asynchronous ones
 * (getaddrinfo_a) are GNU extensions, so they are guarded. */
static const struct name_entry gai_names[] = {
    NAME(EAI_BADFLAGS),    NAME(EAI_NONAME),   NAME(EAI_AGAIN),   NAME(EAI_FAIL),
    NAME(EAI_FAMILY),      NAME(EAI_SOCKTYPE), NAME(EAI_SERVICE), NAME(EAI_MEMORY),
    NAME(EAI_SYSTEM),      NAME(EAI_OVERFLOW),
#ifdef EAI_NODATA
    NAME(EAI_NODATA),
#endif
#ifdef EAI_ADDRFAMILY
    NAME(EAI_ADDRFAMILY),
#endif
#ifdef EAI_INPROGRESS
    NAME(EAI_INPROGRESS),
#endif
#ifdef EAI_CANCELED
    NAME(EAI_CANCELED),
#endif
#ifdef EAI_NOTCANCELED
    NAME(EAI_NOTCANCELED),
#endif
#ifdef EAI_ALLDONE
    NAME(EAI_ALLDONE),
#endif
#ifdef EAI_INTR
    NAME(EAI_INTR),
#endif
#ifdef EAI_IDN_ENCODE
    NAME(EAI_IDN_ENCODE),
#endif
};

#undef NAME

/* Errors are rare and the tables short, so a linear scan is cheap enough
 * and keeps the "first name wins" rule for aliases simple. */
static const char *lookup(const struct name_entry *t, size_t n, int value, const char *unknown)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i].value == value)
            return t[i].name;
    }
    return unknown;
}

const char *netd_errno_name(int errnum)
{
    return lookup(errno_names, sizeof errno_names / sizeof errno_names[0], errnum, "EUNKNOWN");
}

const char *netd_gai_name(int gaierr)
{
    return lookup(gai_names, sizeof gai_names / sizeof gai_names[0], gaierr, "EAI_UNKNOWN");
}
