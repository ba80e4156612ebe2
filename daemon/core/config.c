/*
 * config.c - netd's settings, with their defaults. main.c fills them from
 * the command line before any worker starts; afterwards every thread only
 * reads them.
 */
#include "core.h"

struct netd_config netd_cfg = {
    .socket_name = "@netd",
    .max_request = 16u << 20,
    .max_handles = 4096,
    .max_buffer = 1u << 20,
    .max_read = 16u << 20,
    .max_queued = 64u << 20, /* main.c makes it 4 x max_request */
    .max_inflight = 4096,
    .out_high = 4u << 20,
    .out_low = 1u << 20,
    .log_level = LOG_INFO,
};
