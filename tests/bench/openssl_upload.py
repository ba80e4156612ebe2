#!/usr/bin/env python3
"""TLS upload over loopback with OpenSSL on both ends (Python's ssl module):
the baseline netd-bench compares netd's TLS with. A server process (a fork,
so the two ends do not share one interpreter lock) reads and counts; the
client sends 64 KiB chunks for SECONDS (default 3). Prints one
JSON line: mb_per_second, bytes, seconds, version, cipher.

The certificate is made for the run by the openssl command, in a temporary
directory that is removed afterwards. Verification is off on the client:
this measures the record layer, not the trust store."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

CHUNK = 65536


def make_cert(d):
    cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    d = tempfile.mkdtemp(prefix="netd-bench-")
    try:
        cert, key = make_cert(d)
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cert, key)
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        port = lsock.getsockname()[1]
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            conn, _ = lsock.accept()
            n_total = 0
            with sctx.wrap_socket(conn, server_side=True) as s:
                buf = bytearray(4 * CHUNK)
                while True:
                    n = s.recv_into(buf)
                    if n == 0:
                        break
                    n_total += n
            os.write(wfd, json.dumps([n_total, time.monotonic()]).encode())
            os._exit(0)
        os.close(wfd)
        lsock.close()
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.check_hostname = False
        cctx.verify_mode = ssl.CERT_NONE
        data = os.urandom(CHUNK)
        with cctx.wrap_socket(socket.create_connection(("127.0.0.1", port))) as c:
            version, cipher = c.version(), c.cipher()[0]
            sent, t0 = 0, time.monotonic()
            end = t0 + seconds
            while time.monotonic() < end:
                c.sendall(data)
                sent += CHUNK
            try:
                c.unwrap()  # close_notify: the server's recv then returns 0
            except (ssl.SSLError, OSError):
                pass  # the server closed without answering it
        got = json.loads(os.read(rfd, 4096).decode())
        os.waitpid(pid, 0)
        took = got[1] - t0
        print(json.dumps({"mb_per_second": got[0] / 1e6 / took, "bytes": got[0],
                          "sent": sent, "seconds": took, "version": version,
                          "cipher": cipher}))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
