#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""mssim-onelink.py UPSTREAM_PORT PORT_FILE: carry every client of a local
simulator (mssim) command port over ONE connection to the broker's mssim
port, so that tool processes run one after the other (IBM's tss tools,
tpm2-tools with -T mssim) act as a single client: their transient objects
live on between processes, as in one program.  Writes the port it listens
on (P; P+1 is not served: no power-up) to PORT_FILE.  A client's
TPM_SESSION_END ends its link here only.  Stops when killed."""
import socket
import struct
import sys

SEND_COMMAND, SESSION_END = 8, 20


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def serve(client, up):
    while True:
        (code,) = struct.unpack(">I", read_exact(client, 4))
        if code == SESSION_END:
            return
        if code != SEND_COMMAND:
            raise ValueError("mssim code %d not carried" % code)
        loc = read_exact(client, 1)
        (size,) = struct.unpack(">I", read_exact(client, 4))
        cmd = read_exact(client, size)
        up.sendall(struct.pack(">I", SEND_COMMAND) + loc + struct.pack(">I", size) + cmd)
        (rsize,) = struct.unpack(">I", read_exact(up, 4))
        rsp = read_exact(up, rsize)
        ack = read_exact(up, 4)
        client.sendall(struct.pack(">I", rsize) + rsp + ack)


def main():
    up = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    import os
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    while True:
        client, _ = ls.accept()
        try:
            serve(client, up)
        except EOFError:
            pass
        finally:
            client.close()


if __name__ == "__main__":
    main()
