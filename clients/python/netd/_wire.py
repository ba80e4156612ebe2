"""What both clients share: socket names, request lines, errors, and the
reader that splits netd's bytes into messages and gives each descriptor
passed with SCM_RIGHTS to the message it came with.

netd sends a descriptor on a sendmsg() of its own whose bytes are the
answer line, and Linux ends a recvmsg() on a stream socket right after the
bytes of a message that carried descriptors: bytes of earlier messages may
come before them in the same chunk, later ones never do. So the
descriptors of a chunk belong to the last line that begins in it or, when
no line begins in it (a long line cut into chunks), to the line it
continues.
"""

import array
import json
import os
import socket

DEFAULT_SOCKET = "@netd"
CHUNK = 256 * 1024
MAX_FDS = 16
ANCILLARY = socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize)

# netd's error codes (the contract's table); see Error.code.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
OS = -32000
TIMEOUT = -32001
UNKNOWN_HANDLE = -32002
WRONG_KIND = -32003
ABORTED = -32004
DENIED = -32005
LIMIT = -32006
RESOLVE = -32007
TLS = -32008


class Error(Exception):
    """An error answer from netd: its JSON-RPC code, message and data (or None)."""

    def __init__(self, code, message, data=None, method=None):
        super().__init__(f"{method + ': ' if method else ''}{message} ({code})")
        self.code = code
        self.message = message
        self.data = data
        self.method = method


class Notification:
    """A message netd sent on its own, such as `accepted` or `closed`."""

    __slots__ = ("method", "params")

    def __init__(self, method, params):
        self.method = method
        self.params = params

    def __repr__(self):
        return f"Notification({self.method!r}, {self.params!r})"


def address(name):
    """The address to connect to for a socket name: None means $NETD_SOCKET or
    @netd; "@name" is a Linux abstract socket; anything else is a path."""
    if name is None:
        name = os.environ.get("NETD_SOCKET") or DEFAULT_SOCKET
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if name.startswith("@"):
        return "\0" + name[1:]
    return name


def request_line(rid, method, params):
    msg = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        msg["params"] = params
    return (json.dumps(msg, separators=(",", ":")) + "\n").encode()


def fd_of(sock):
    """The descriptor of a socket object, or the int given."""
    return sock if isinstance(sock, int) else sock.fileno()


def ancillary_for(fd):
    return [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]).tobytes())]


def fds_of(ancdata):
    """The descriptors of recvmsg()'s ancillary data."""
    fds = array.array("i")
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % fds.itemsize
            fds.frombytes(data[:usable])
    return list(fds)


def close_fds(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class Reader:
    """Turns chunks of bytes (with their descriptors) into parsed messages."""

    def __init__(self):
        self.partial = bytearray()
        self.partial_fds = []  # descriptors of the line being assembled

    def feed(self, chunk, fds):
        """Returns [(message, fds)] for every line @chunk completes."""
        starts = [0] if not self.partial else []
        starts += [i + 1 for i in range(len(chunk)) if chunk[i] == 10 and i + 1 < len(chunk)]
        if fds and starts:
            owner_start = len(self.partial) + starts[-1]
        else:
            owner_start = 0  # the line being assembled
            self.partial_fds += fds
            fds = []
        data = self.partial + chunk
        out = []
        pos = 0
        while True:
            nl = data.find(b"\n", pos)
            line_fds = self.partial_fds if pos == 0 else []
            if pos == owner_start and fds:
                line_fds = line_fds + fds
            if nl < 0:
                self.partial = data[pos:]
                self.partial_fds = line_fds
                return out
            if pos == 0:
                self.partial_fds = []
            line = bytes(data[pos:nl])
            pos = nl + 1
            try:
                msg = json.loads(line)
            except ValueError:
                close_fds(line_fds)
                raise ConnectionError(f"netd sent a line that is not JSON: {line[:200]!r}")
            out.append((msg, line_fds))


def result_of(method, msg):
    """The result of an answer, or raises its Error."""
    if "error" in msg:
        err = msg["error"] if isinstance(msg["error"], dict) else {}
        raise Error(err.get("code"), err.get("message", ""), err.get("data"), method)
    return msg.get("result")


def socket_from_fd(fd):
    """A socket object owning @fd; its family and type are the kernel's."""
    return socket.socket(fileno=fd)
