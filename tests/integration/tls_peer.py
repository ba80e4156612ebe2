#!/usr/bin/env python3
"""tls_peer.py - TLS peers (Python's ssl module) for netd's TLS tests.

Servers print "PORT <n>" once they listen on 127.0.0.1, then one line per
event the test wants to see; clients print one result line ("OK ..." or
"ERR ...").  Every line is flushed at once: the test reads them through a
pipe.  The process runs until the test kills it (servers) or its work is
done (clients).

  server MODE --cert F --key F [--cafile F --verify-client] [--alpn P,...]
      echo      echo every connection until its end; report "END clean|ragged <bytes>"
      greet     send "hello from python\\n", then end with close_notify
      truncate  send "hello from python\\n", then close TCP without close_notify
      stall     complete the handshake and never read
      blob      send SIZE pattern bytes at once, then as echo
      starttls  "220 ready", wait for "STARTTLS", "220 go ahead", then TLS echo
  client MODE --port N [--cafile F] [--cert F --key F] [--servername S] [--size N]
      hello     send "hello netd\\n", print "OK <the line that comes back>"
      bulk      send SIZE pattern bytes while reading them back: "OK <bytes>"
      starttls  plain greeting, then "STARTTLS\\r\\n" and the ClientHello in one
                send, then the plain "220" answer; then as hello
"""
import argparse
import select
import socket
import ssl
import sys
import threading


def say(*words):
    print(*words, flush=True)


def pattern(n):
    """Bytes the tests can recompute: byte i is (i * 7 + i // 251) % 256."""
    block = bytes((i * 7 + i // 251) % 256 for i in range(251 * 256))
    reps = n // len(block) + 1
    return (block * reps)[:n]


def server_context(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    if a.verify_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(a.cafile)
    if a.alpn:
        ctx.set_alpn_protocols(a.alpn.split(","))
    return ctx


def client_context(a):
    ctx = ssl.create_default_context(cafile=a.cafile)
    if a.cert:
        ctx.load_cert_chain(a.cert, a.key)
    return ctx


def read_to_end(t):
    """Reads until the peer ends; says whether it sent close_notify."""
    total = 0
    try:
        while True:
            data = t.recv(65536)
            if not data:
                return "clean", total
            total += len(data)
    except ssl.SSLEOFError:
        return "ragged", total
    except OSError:
        return "reset", total


def serve_echo(t):
    total = 0
    try:
        while True:
            data = t.recv(65536)
            if not data:
                how = "clean"
                break
            total += len(data)
            t.sendall(data)
    except ssl.SSLEOFError:
        how = "ragged"
    except OSError:
        how = "reset"
    say("END", how, total)
    if how == "clean":
        try:
            t.unwrap()
        except OSError:
            pass


def serve_one(a, ctx, conn):
    try:
        if a.mode == "starttls":
            conn.sendall(b"220 ready\r\n")
            line = recv_line(conn)
            if line != b"STARTTLS\r\n":
                say("ERR expected STARTTLS, got", repr(line))
                return
            conn.sendall(b"220 go ahead\r\n")
        t = ctx.wrap_socket(conn, server_side=True, suppress_ragged_eofs=False)
    except (OSError, ssl.SSLError) as e:
        say("HANDSHAKE-FAILED", type(e).__name__, e)
        conn.close()
        return
    if a.mode == "blob":
        t.sendall(pattern(a.size))
    if a.mode in ("echo", "starttls", "blob"):
        serve_echo(t)
    elif a.mode in ("greet", "truncate"):
        t.sendall(b"hello from python\n")
        if a.mode == "greet":
            t.unwrap()
        conn.close()
    elif a.mode == "stall":
        threading.Event().wait()


def recv_line(conn):
    """Reads one line byte by byte, so nothing after it is taken from the socket."""
    line = b""
    while not line.endswith(b"\n"):
        c = conn.recv(1)
        if not c:
            break
        line += c
    return line


def server(a):
    ctx = server_context(a)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if a.mode == "stall":
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ls.bind(("127.0.0.1", 0))
    ls.listen(128)
    say("PORT", ls.getsockname()[1])
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve_one, args=(a, ctx, conn), daemon=True).start()


def client_hello(a, t):
    t.sendall(b"hello netd\n")
    line = recv_line(t)
    if line.endswith(b"\n"):
        say("OK", line.decode().rstrip("\n"))
    else:
        say("ERR the server ended the stream:", repr(line))


def client_bulk(a, t):
    """Sends a.size bytes and reads them back, in one thread: an SSL object
    must not be read and written from two threads at once."""
    data = pattern(a.size)
    t.setblocking(False)
    sent, got = 0, bytearray()
    while len(got) < a.size:
        want_write = sent < len(data)
        r, w, _ = select.select([t], [t] if want_write else [], [], 60)
        if not r and not w:
            break
        if w:
            try:
                sent += t.send(data[sent:sent + (1 << 16)])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
        try:
            while len(got) < a.size:
                chunk = t.recv(min(1 << 20, a.size - len(got)))
                if not chunk:
                    break
                got += chunk
            else:
                break
            if not chunk:
                break
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
    if got == data:
        say("OK", len(got))
    else:
        at = next((i for i in range(min(len(got), len(data))) if got[i] != data[i]), len(got))
        say("ERR mismatch at", at, "of", len(got))


def starttls_pipelined(a, ctx, sock):
    """Sends STARTTLS and the ClientHello in one segment (so netd reads the
    TLS bytes together with the plaintext), then speaks TLS through memory BIOs."""
    greeting = recv_line(sock)
    if not greeting.startswith(b"220"):
        raise RuntimeError("no greeting: %r" % greeting)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=a.servername)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    sock.sendall(b"STARTTLS\r\n" + out.read())
    answer = recv_line(sock)
    if not answer.startswith(b"220"):
        raise RuntimeError("STARTTLS refused: %r" % answer)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(out.read())
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("the server ended the handshake")
            inc.write(data)
    obj.write(b"hello netd\n")
    sock.sendall(out.read())
    line = b""
    while not line.endswith(b"\n"):
        try:
            line += obj.read(1024)
        except ssl.SSLWantReadError:
            sock.sendall(out.read())
            inc.write(sock.recv(65536))
    say("OK", line.decode().rstrip("\n"))


def client(a):
    ctx = client_context(a)
    try:
        sock = socket.create_connection(("127.0.0.1", a.port), timeout=60)
        if a.mode == "starttls":
            starttls_pipelined(a, ctx, sock)
            return
        t = ctx.wrap_socket(sock, server_hostname=a.servername)
        if a.mode == "hello":
            client_hello(a, t)
        elif a.mode == "bulk":
            client_bulk(a, t)
        t.close()
    except (OSError, ssl.SSLError, RuntimeError) as e:
        say("ERR", type(e).__name__, e)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("mode")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--cafile")
    p.add_argument("--verify-client", action="store_true")
    p.add_argument("--alpn")
    p.add_argument("--port", type=int)
    p.add_argument("--servername", default="localhost")
    p.add_argument("--size", type=int, default=0)
    a = p.parse_args()
    server(a) if a.role == "server" else client(a)


if __name__ == "__main__":
    main()
