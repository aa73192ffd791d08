#!/usr/bin/env python3
# mlogcheck.py: an independent reader of tpmbroker's measurement log
# (src/common/mlog.h's format, parsed here from the spec, not with the
# daemon's code), for the measure-* tests.
#
#   mlogcheck.py LOG check                 every record valid, seq 1..N without
#                                          gaps, no torn tail; prints "records N"
#   mlogcheck.py LOG replay TYPE IDX ALG   the register's value: its last section's
#                                          base folded with its events (hex)
#   mlogcheck.py LOG stream TYPE IDX ALG S the stream's virtual register: the fold
#                                          of its events from zeros (hex)
#   mlogcheck.py LOG seqs                  the event records' seq numbers, one a line
#   mlogcheck.py LOG rtmr IDX              the sha384 digests of the RTMR's events,
#                                          concatenated, hex (what its file must hold)
#   mlogcheck.py LOG order TYPE IDX        event data of the register in log order
# TYPE: pcr | rtmr; ALG: sha1 | sha256 | sha384 | sha512
import fcntl
import hashlib
import struct
import sys

ALGS = {0x0004: "sha1", 0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512"}
SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}


def records(path):
    with open(path, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_SH)  # as every reader: the writer appends under LOCK_EX
        data = f.read()
    if data[:8] != b"TBMLOG\r\n" or struct.unpack(">II", data[8:16]) != (1, 32):
        sys.exit("not a tpmbroker measurement log")
    off = 32
    out = []
    while off < len(data):
        if len(data) - off < 12:
            sys.exit("torn tail: %d bytes at %d" % (len(data) - off, off))
        magic, ln = struct.unpack(">II", data[off:off + 8])
        if magic != 0x54424D52 or off + ln > len(data):
            sys.exit("bad record at %d (torn tail or damage)" % off)
        rec = data[off:off + ln]
        if hashlib.sha256(rec[:-8]).digest()[:8] != rec[-8:]:
            sys.exit("bad check at %d" % off)
        seq, rc, rs, t, kind, rtype, ndig, reg, evt, uid, pid = struct.unpack(
            ">QIIQBBHIIII", rec[8:52])
        p = 52
        digs = {}
        for _ in range(ndig):
            alg, sz = struct.unpack(">HH", rec[p:p + 4])
            digs[ALGS.get(alg, hex(alg))] = rec[p + 4:p + 4 + sz]
            p += 4 + sz
        (sl,) = struct.unpack(">H", rec[p:p + 2])
        stream = rec[p + 2:p + 2 + sl].decode()
        p += 2 + sl
        (dl,) = struct.unpack(">H", rec[p:p + 2])
        desc = rec[p + 2:p + 2 + dl].decode()
        p += 2 + dl
        (nl,) = struct.unpack(">I", rec[p:p + 4])
        evdata = rec[p + 4:p + 4 + nl]
        if p + 4 + nl != ln - 8:
            sys.exit("bad lengths in record %d" % seq)
        out.append(dict(seq=seq, epoch=(rc, rs), kind=kind, type=rtype, reg=reg,
                        evt=evt, digs=digs, stream=stream, desc=desc, data=evdata))
        off += ln
    return out


def fold(v, d, alg):
    return hashlib.new(alg, v + d).digest()


def main():
    log, what = sys.argv[1], sys.argv[2]
    recs = records(log)
    tmap = {"pcr": 0, "rtmr": 1}
    if what == "check":
        for i, r in enumerate(recs):
            if r["seq"] != i + 1:
                sys.exit("seq %d where %d was due" % (r["seq"], i + 1))
            if r["kind"] == 1:
                for alg, d in r["digs"].items():
                    if alg in SIZES and hashlib.new(alg, r["data"]).digest() != d:
                        sys.exit("record %d: %s digest is not the hash of its data"
                                 % (r["seq"], alg))
        print("records %d" % len(recs))
    elif what == "seqs":
        for r in recs:
            if r["kind"] == 1:
                print(r["seq"])
    elif what == "acks":
        # every acknowledged event (lines "SEQ STREAM DATA" of mclient -a) is in
        # the log under its number, with its data; then each stream's virtual
        # register from the clients' own data, in seq order, against the log's
        typ, idx, alg = tmap[sys.argv[3]], int(sys.argv[4]), sys.argv[5]
        byseq = {r["seq"]: r for r in recs if r["kind"] == 1}
        streams = {}
        n = 0
        for path in sys.argv[6:]:
            for line in open(path):
                seq, stream, data = line.rstrip("\n").split(" ", 2)
                r = byseq.get(int(seq))
                if r is None or r["data"] != data.encode() or r["type"] != typ \
                        or r["reg"] != idx:
                    sys.exit("acknowledged event %s (%s) is not in the log as sent"
                             % (seq, data))
                if stream != "-" and r["stream"] != stream:
                    sys.exit("event %s: stream %r in the log, %r sent" % (seq, r["stream"], stream))
                streams.setdefault(stream, []).append((int(seq), data.encode()))
                n += 1
        for s, evs in sorted(streams.items()):
            v = bytes(SIZES[alg])
            for _, d in sorted(evs):
                v = fold(v, hashlib.new(alg, d).digest(), alg)
            w = bytes(SIZES[alg])
            for r in recs:
                if r["kind"] == 1 and r["type"] == typ and r["reg"] == idx and r["stream"] == s:
                    w = fold(w, r["digs"][alg], alg)
            if s != "-" and v != w:
                sys.exit("stream %s: clients' fold %s, log's %s" % (s, v.hex(), w.hex()))
            print("stream %s %d events %s" % (s, len(evs), v.hex()))
        print("acks %d" % n)
    elif what in ("replay", "stream", "order"):
        typ, idx = tmap[sys.argv[3]], int(sys.argv[4])
        mine = [r for r in recs if r["type"] == typ and r["reg"] == idx]
        if what == "order":
            for r in mine:
                if r["kind"] == 1:
                    print(r["data"].decode(errors="replace"))
            return
        alg = sys.argv[5]
        if what == "replay":
            last = max(i for i, r in enumerate(mine) if r["kind"] == 2)
            v = mine[last]["digs"][alg]
            for r in mine[last + 1:]:
                if r["kind"] == 1:
                    v = fold(v, r["digs"][alg], alg)
        else:
            v = bytes(SIZES[alg])
            for r in mine:
                if r["kind"] == 1 and r["stream"] == sys.argv[6]:
                    v = fold(v, r["digs"][alg], alg)
        print(v.hex())
    elif what == "rtmr":
        idx = int(sys.argv[3])
        print("".join(r["digs"]["sha384"].hex() for r in recs
                      if r["type"] == 1 and r["reg"] == idx and r["kind"] == 1))
    else:
        sys.exit("unknown command " + what)


main()
