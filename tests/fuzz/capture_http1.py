#!/usr/bin/env python3
"""Records what HTTP/1.1 clients send, for the http1_fuzz seed corpus (tests/fuzz/README.md).

Listens on 127.0.0.1; answers every request head it sees with an empty 200 (keep-alive) and,
when the client closes, writes every byte the client sent on that connection to OUT_DIR/NAME-N.

    capture_http1.py OUT_DIR NAME    # prints "listening on PORT", Ctrl-C to stop
"""
import os
import socket
import sys
import threading

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def serve(conn, path):
    sent = bytearray()
    answered = 0
    conn.settimeout(10)
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            sent += data
            heads = sent.count(b"\r\n\r\n")
            if b"Expect: 100-continue" in data:
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            while answered < heads:
                conn.sendall(OK)
                answered += 1
    except OSError:
        pass
    conn.close()
    with open(path, "wb") as f:
        f.write(bytes(sent))


def main():
    out_dir, name = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print("listening on", listener.getsockname()[1], flush=True)
    n = 0
    while True:
        conn, _ = listener.accept()
        n += 1
        threading.Thread(target=serve, args=(conn, os.path.join(out_dir, f"{name}-{n}"))).start()


if __name__ == "__main__":
    main()
