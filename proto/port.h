/*
 * port.h - ports, strictly (contract section 9, "Ports"): an integer
 * 0..65535, or a string that is either 1 to 5 decimal digits up to 65535 or
 * a service name. Nothing else is a port: no sign, no spaces, no hex, no
 * exponent, no value that would wrap. Every place a port is taken (address,
 * connect, listen, bindport, send-to destinations, netctl's arguments) uses
 * these, so a string never means another port than the number would.
 */
#ifndef NETD_PROTO_PORT_H
#define NETD_PROTO_PORT_H

#include <stdint.h>
#include <jansson.h>

/** What netd_port_parse() and friends found. */
enum netd_port_rc {
    NETD_PORT_OK = 0,
    NETD_PORT_BAD = -1,     /* not a port at all: -32602 */
    NETD_PORT_UNKNOWN = -2, /* shaped like a service name, but the services database lacks it */
};

/** Longest service name taken (RFC 6335 allows 15; /etc/services has longer aliases). */
#define NETD_SERVICE_MAX 32

/**
 * Parses the port in @s (NUL-terminated). Digits give their value; a
 * service name is looked up in the services database (getservbyname_r,
 * normally /etc/services) for "udp" when @socktype is SOCK_DGRAM, "tcp"
 * when it is SOCK_STREAM, either (tcp first) when it is 0. Sets *@out on
 * NETD_PORT_OK only. Thread-safe.
 */
int netd_port_parse_str(const char *s, int socktype, uint16_t *out);

/** netd_port_parse_str() for a JSON value: an integer 0..65535, or a string as above. */
int netd_port_parse(const json_t *v, int socktype, uint16_t *out);

/**
 * 1 if @v has the form of a port (an integer 0..65535, digits up to 65535,
 * or a well-formed service name), else 0. Looks nothing up, so it is cheap
 * enough for the parameter checks of every request.
 */
int netd_port_valid(const json_t *v);

/**
 * What a port must be, for error messages: "an integer between 0 and 65535
 * or a service name" (a name the services database knows; one it does not
 * is refused like any other bad port, -32602).
 */
const char *netd_port_rule(void);

#endif
