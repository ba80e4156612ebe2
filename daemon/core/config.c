/*
 * config.c - netd's settings, with their defaults. options.c builds them
 * from the configuration file and the command line before any worker
 * starts, and again at a reload; workers only read them.
 */
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "core.h"

#define NETD_DEFAULTS                                                                              \
    {                                                                                              \
        .max_request = 16u << 20, .max_handles = 4096, .max_buffer = 1u << 20,                     \
        .max_read = 16u << 20, .max_queued = 64u << 20, /* 4 x max_request */                      \
            .max_inflight = 4096, .out_high = 4u << 20, .out_low = 1u << 20,                       \
        .log_level = LOG_INFO, .drain_timeout = 5.0, .max_memory = 64u << 20,                         \
        .max_memory_conn = 0 /* options.c: 32 MiB, or --max-request + 64 KiB */,                   \
        .max_memory_total = 0 /* options.c: half the machine's memory */, .max_conns_uid = 256,    \
        .max_lookups_uid = 4,                                                                      \
    }

struct netd_config netd_cfg = NETD_DEFAULTS;

struct netd_config config_defaults(void)
{
    return (struct netd_config)NETD_DEFAULTS;
}

/* Each control socket's address and, for one bound to a path, the device
 * and inode of its file then: a link (symbolic or hard) to the file is
 * recognised by them, whatever path a request names. */
static struct {
    struct sockaddr_storage ss;
    socklen_t len;
    bool has_file;
    dev_t dev;
    ino_t ino;
} control[NETD_MAX_CONTROL];
static int ncontrol;

void netd_control_addr_add(int fd)
{
    if (ncontrol == NETD_MAX_CONTROL)
        return;
    control[ncontrol].len = sizeof control[ncontrol].ss;
    if (getsockname(fd, (struct sockaddr *)&control[ncontrol].ss, &control[ncontrol].len) < 0)
        return;
    const struct sockaddr_un *un = (const struct sockaddr_un *)&control[ncontrol].ss;
    struct stat st;
    if (un->sun_family == AF_UNIX && control[ncontrol].len > sizeof un->sun_family &&
        un->sun_path[0] != '\0' && stat(un->sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        control[ncontrol].has_file = true;
        control[ncontrol].dev = st.st_dev;
        control[ncontrol].ino = st.st_ino;
    }
    ncontrol++;
}

bool netd_is_control_file(const struct stat *st)
{
    for (int i = 0; i < ncontrol; i++)
        if (control[i].has_file && control[i].dev == st->st_dev && control[i].ino == st->st_ino)
            return true;
    return false;
}

bool netd_is_control_addr(const struct sockaddr *sa, socklen_t len)
{
    for (int i = 0; i < ncontrol; i++)
        if (control[i].len == len && memcmp(&control[i].ss, sa, len) == 0)
            return true;
    return false;
}
