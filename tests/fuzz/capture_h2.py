#!/usr/bin/env python3
"""Records what HTTP/2 clients send, for the h2_fuzz seed corpus (tests/fuzz/README.md).

A TCP relay on 127.0.0.1: each accepted connection is forwarded to UPSTREAM (an edge with
[server] h2c = true), and the bytes the client sent are written, without the 24-byte client
preface (h2_fuzz sends that itself), to OUT_DIR/NAME-N when the connection ends.

    capture_h2.py UPSTREAM_PORT OUT_DIR NAME    # prints "listening on PORT", Ctrl-C to stop
"""
import os
import selectors
import socket
import sys

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def relay(client, upstream_port, path):
    upstream = socket.create_connection(("127.0.0.1", upstream_port))
    sent = bytearray()
    sel = selectors.DefaultSelector()
    sel.register(client, selectors.EVENT_READ, upstream)
    sel.register(upstream, selectors.EVENT_READ, client)
    open_ends = 2
    while open_ends:
        for key, _ in sel.select(timeout=10):
            data = key.fileobj.recv(65536)
            if key.fileobj is client:
                sent += data
            if not data:
                sel.unregister(key.fileobj)
                open_ends -= 1
                try:
                    key.data.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                continue
            key.data.sendall(data)
    client.close()
    upstream.close()
    if sent.startswith(PREFACE):
        sent = sent[len(PREFACE):]
    with open(path, "wb") as f:
        f.write(sent)


def main():
    upstream_port, out_dir, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    os.makedirs(out_dir, exist_ok=True)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    print("listening on", listener.getsockname()[1], flush=True)
    n = 0
    while True:
        conn, _ = listener.accept()
        relay(conn, upstream_port, os.path.join(out_dir, f"{name}-{n}"))
        n += 1


if __name__ == "__main__":
    main()
