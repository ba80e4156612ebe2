"""netd: a client for netd's JSON-RPC control socket, standard library only.

    import netd
    with netd.Client() as c:              # $NETD_SOCKET, else @netd
        h = c.call("connect", {"host": "localhost", "port": 7007})["handle"]
        c.call("write", {"handle": h, "data": "hi\\n", "encoding": "utf8"})

netd.Client is the blocking client; netd.aio.Client the asyncio one.
"""

from ._wire import (ABORTED, DENIED, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, LIMIT,
                    METHOD_NOT_FOUND, OS, PARSE_ERROR, RESOLVE, TIMEOUT, TLS, UNKNOWN_HANDLE,
                    WRONG_KIND, Error, Notification)
from .client import Client

__version__ = "0.1.0"
__all__ = ["Client", "Error", "Notification", "aio"] + [
    "PARSE_ERROR", "INVALID_REQUEST", "METHOD_NOT_FOUND", "INVALID_PARAMS", "INTERNAL_ERROR",
    "OS", "TIMEOUT", "UNKNOWN_HANDLE", "WRONG_KIND", "ABORTED", "DENIED", "LIMIT", "RESOLVE",
    "TLS"]


def __getattr__(name):
    # netd.aio imports asyncio, which programs that never use it need not pay for.
    if name == "aio":
        from . import aio
        return aio
    raise AttributeError(f"module 'netd' has no attribute {name!r}")
