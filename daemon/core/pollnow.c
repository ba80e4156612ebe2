/*
 * pollnow.c - what a descriptor is ready for at this instant, without
 * waiting: the `wait` conditions and `accept {timeout: 0}` ask it.
 */
#include <poll.h>

#include "core.h"

short fd_poll_now(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    return fd >= 0 && poll(&p, 1, 0) == 1 ? p.revents : 0;
}
