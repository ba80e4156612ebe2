/*
 * port.c - the one parser of ports (see port.h).
 *
 * getaddrinfo() and strtoul() would take "65537" as port 1 and " 80" or
 * "+80" as 80, so digits are read here and a string reaches the services
 * database only when it looks like a service name.
 */
#include "port.h"

#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

/* 1..5 ASCII digits whose value is at most 65535; -1 otherwise. */
static long digits_value(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= 65535 ? v : -1;
}

/*
 * A service name as the services database spells them: letters, digits,
 * '-', '_', '.', '+' and '/' (found in real /etc/services aliases), at
 * least one letter, starting with a letter or digit, at most
 * NETD_SERVICE_MAX characters. All digits is a number, never a name.
 */
static int name_shaped(const char *s, size_t n)
{
    if (n == 0 || n > NETD_SERVICE_MAX)
        return 0;
    int letters = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        int digit = c >= '0' && c <= '9';
        if (i == 0 && !alpha && !digit)
            return 0;
        if (!alpha && !digit && !strchr("-_.+/", c))
            return 0;
        letters += alpha;
    }
    return letters > 0;
}

/* The port of service @name for @proto, or -1. */
static long lookup(const char *name, const char *proto)
{
    struct servent se, *res = NULL;
    char buf[4096];
    if (getservbyname_r(name, proto, &se, buf, sizeof buf, &res) != 0 || !res)
        return -1;
    return ntohs((uint16_t)res->s_port);
}

static int parse_bytes(const char *s, size_t n, int socktype, uint16_t *out)
{
    if (memchr(s, '\0', n))
        return NETD_PORT_BAD;
    long v = digits_value(s, n);
    if (v < 0) {
        if (strspn(s, "0123456789") == n || !name_shaped(s, n))
            return NETD_PORT_BAD;
        if (socktype != SOCK_DGRAM)
            v = lookup(s, "tcp");
        if (v < 0 && socktype != SOCK_STREAM)
            v = lookup(s, "udp");
        if (v < 0)
            return NETD_PORT_UNKNOWN;
    }
    *out = (uint16_t)v;
    return NETD_PORT_OK;
}

int netd_port_parse_str(const char *s, int socktype, uint16_t *out)
{
    return s ? parse_bytes(s, strlen(s), socktype, out) : NETD_PORT_BAD;
}

int netd_port_parse(const json_t *v, int socktype, uint16_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > 65535)
            return NETD_PORT_BAD;
        *out = (uint16_t)i;
        return NETD_PORT_OK;
    }
    if (!json_is_string(v))
        return NETD_PORT_BAD;
    return parse_bytes(json_string_value(v), json_string_length(v), socktype, out);
}

int netd_port_valid(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) >= 0 && json_integer_value(v) <= 65535;
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (memchr(s, '\0', n))
        return 0;
    return digits_value(s, n) >= 0 || (strspn(s, "0123456789") != n && name_shaped(s, n));
}

const char *netd_port_rule(void)
{
    return "an integer between 0 and 65535 or a service name";
}
