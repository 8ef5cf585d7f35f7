#!/usr/bin/env python3
"""Probe the wire exchange with Kamailio's msrp module used as an RFC 4976 relay.

Stdlib only. Start Kamailio first (see README.md), then:

    python3 benches/kamailio/probe.py --relay 127.0.0.1:2855            # all scenarios
    python3 benches/kamailio/probe.py --relay 127.0.0.1:2855 --only one-hop

Every frame sent and received is printed with CR and LF made visible ("\\r\\n"), bodies
longer than 64 bytes shortened, so the output can be pasted into README.md.
Exit status 0 when every scenario behaved as README.md documents, 1 otherwise.
"""

import argparse
import re
import socket
import sys
import time

CRLF = b"\r\n"


def show(tag, data, limit=64):
    """Print a frame with CRLFs visible; shorten long bodies."""
    text = data.decode("latin-1")
    head, sep, rest = text.partition("\r\n\r\n")
    if sep and len(rest) > limit + 40:
        # keep the end-line visible
        end = rest.rfind("\r\n-------")
        body = rest[:end] if end >= 0 else rest
        tail = rest[end:] if end >= 0 else ""
        rest = body[:limit] + "...<%d body bytes>..." % len(body) + tail
    text = head + sep + rest
    print("%s (%d bytes):" % (tag, len(data)))
    for line in text.replace("\r\n", "\\r\\n\n").splitlines():
        print("    " + line)
    sys.stdout.flush()


class Conn:
    """One client TCP connection with an MSRP frame reader."""

    def __init__(self, name, relay):
        self.name = name
        self.sock = socket.create_connection(relay, timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lhost, self.lport = self.sock.getsockname()[:2]
        self.buf = b""
        self.uri = "msrp://%s:%d/%s;tcp" % (self.lhost, self.lport, name)

    def send(self, frame, quiet=False):
        if not quiet:
            show("%s sends" % self.name, frame)
        self.sock.sendall(frame)

    def recv_frame(self, timeout=2.0, quiet=False):
        """Return one complete frame, or None on timeout/EOF."""
        deadline = time.time() + timeout
        while True:
            frame = self._cut()
            if frame is not None:
                if not quiet:
                    show("%s receives" % self.name, frame)
                return frame
            left = deadline - time.time()
            if left <= 0:
                if not quiet:
                    print("%s receives nothing within %.1fs" % (self.name, timeout))
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(262144)
            except socket.timeout:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                if not quiet:
                    print("%s: connection closed by the relay (EOF)" % self.name)
                return None
            self.buf += chunk

    def _cut(self):
        m = re.match(rb"MSRP ([A-Za-z0-9.\-+%=]+) ", self.buf)
        if not m:
            return None
        tid = m.group(1)
        end = re.search(rb"\r\n-------" + re.escape(tid) + rb"[$+#]\r\n", self.buf)
        if not end:
            return None
        frame = self.buf[: end.end()]
        self.buf = self.buf[end.end():]
        return frame

    def close(self):
        self.sock.close()


def send_frame(tid, to_path, from_path, headers=(), body=None, flag="$"):
    lines = ["MSRP %s SEND" % tid, "To-Path: " + to_path, "From-Path: " + from_path]
    lines += list(headers)
    out = CRLF.join(x.encode() for x in lines) + CRLF
    if body is not None:
        out += CRLF + body + CRLF
    out += b"-------" + tid.encode() + flag.encode() + CRLF
    return out


def auth(conn, relay_uri, expires=None):
    """AUTH to the relay; return the Use-Path URI from the 200."""
    tid = "a" + conn.name
    lines = ["MSRP %s AUTH" % tid, "To-Path: " + relay_uri, "From-Path: " + conn.uri]
    if expires is not None:
        lines.append("Expires: %d" % expires)
    frame = CRLF.join(x.encode() for x in lines) + CRLF + b"-------" + tid.encode() + b"$" + CRLF
    conn.send(frame)
    rsp = conn.recv_frame()
    if rsp is None:
        return None
    m = re.search(rb"\r\nUse-Path: (\S+)\r\n", rsp)
    return m.group(1).decode() if m else None


def status_of(frame):
    if frame is None:
        return None
    m = re.match(rb"MSRP \S+ (\d{3})", frame)
    return int(m.group(1)) if m else None


def body_bytes(n):
    pat = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/"
    return (pat * (n // len(pat) + 1))[:n]


def drain(conn, timeout=0.3):
    frames = []
    while True:
        f = conn.recv_frame(timeout=timeout, quiet=True)
        if f is None:
            return frames
        frames.append(f)


class Probe:
    def __init__(self, relay):
        self.relay = relay
        self.relay_uri = "msrp://%s:%d;tcp" % relay
        self.ok = True

    def check(self, cond, what):
        print(("  OK   " if cond else "  FAIL ") + what)
        if not cond:
            self.ok = False

    def pair(self):
        a = Conn("alice", self.relay)
        b = Conn("bob", self.relay)
        ua = auth(a, self.relay_uri)
        ub = auth(b, self.relay_uri)
        return a, b, ua, ub

    def one_hop(self):
        print("\n=== one-hop: A -> B through the relay (B's Use-Path + B), 1 KiB ===")
        a, b, ua, ub = self.pair()
        self.check(ua is not None and ub is not None, "AUTH answered 200 with Use-Path")
        body = body_bytes(1024)
        send = send_frame("t1", "%s %s" % (ub, b.uri), a.uri,
                          ["Message-ID: m1", "Byte-Range: 1-1024/1024",
                           "Content-Type: text/plain"], body)
        a.send(send)
        rsp_a = a.recv_frame()
        got_b = b.recv_frame()
        self.check(status_of(rsp_a) == 200, "relay answers 200 to A itself (hop-by-hop)")
        self.check(got_b is not None and b"MSRP t1 SEND" in got_b,
                   "B receives the SEND with A's transaction id unchanged")
        if got_b:
            self.check(("To-Path: %s\r\nFrom-Path: %s %s\r\n" % (b.uri, ub, a.uri)).encode() in got_b,
                       "relay popped its URI from To-Path and pushed it on From-Path")
            self.check(body in got_b, "body unchanged")
            # B answers 200 hop-by-hop to the relay
            m = re.search(rb"From-Path: (\S+)", got_b)
            prev = m.group(1).decode()
            r = ("MSRP t1 200 OK\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: m1\r\n-------t1$\r\n"
                 % (prev, b.uri)).encode()
            b.send(r)
            extra = a.recv_frame(timeout=0.5)
            self.check(extra is None, "B's 200 is consumed by the relay, A sees nothing more")
        a.close()
        b.close()

    def reverse_and_noauth(self):
        print("\n=== B -> A (A's Use-Path), and a sender that never AUTHed ===")
        a, b, ua, ub = self.pair()
        c = Conn("carol", self.relay)   # no AUTH on this connection
        send = send_frame("t2", "%s %s" % (ua, a.uri), b.uri,
                          ["Message-ID: m2", "Byte-Range: 1-5/5", "Content-Type: text/plain"], b"hello")
        b.send(send)
        self.check(status_of(b.recv_frame()) == 200, "B gets 200")
        self.check(a.recv_frame() is not None, "A receives the SEND")
        send = send_frame("t3", "%s %s" % (ua, a.uri), c.uri,
                          ["Message-ID: m3", "Byte-Range: 1-5/5", "Content-Type: text/plain"], b"hello")
        c.send(send)
        self.check(status_of(c.recv_frame()) == 200, "un-AUTHed C gets 200 too (no AUTH needed to send)")
        self.check(a.recv_frame() is not None, "A receives C's SEND")
        bad = send_frame("t4", "msrp://%s:%d/nosuchsession;tcp %s" % (self.relay + (a.uri,)), c.uri,
                         ["Message-ID: m4", "Byte-Range: 1-5/5", "Content-Type: text/plain"], b"hello")
        c.send(bad)
        self.check(status_of(c.recv_frame()) == 481, "unknown relay session id -> 481")
        for x in (a, b, c):
            x.close()

    def two_hop(self):
        print("\n=== two relay URIs: To-Path = A's Use-Path, B's Use-Path, B (RFC 4976 full form) ===")
        a, b, ua, ub = self.pair()
        send = send_frame("t5", "%s %s %s" % (ua, ub, b.uri), a.uri,
                          ["Message-ID: m5", "Byte-Range: 1-5/5", "Content-Type: text/plain"], b"hello")
        a.send(send)
        self.check(status_of(a.recv_frame()) == 200, "A gets 200")
        got = b.recv_frame()
        self.check(got is not None and ("To-Path: %s\r\nFrom-Path: %s %s %s\r\n"
                                        % (b.uri, ub, ua, a.uri)).encode() in got,
                   "B receives it with From-Path: B's relay URI, A's relay URI, A")
        extra = drain(a)
        self.check(not extra, "A sees nothing more")
        a.close()
        b.close()

    def sizes(self):
        print("\n=== body size limits (one frame per message) ===")
        results = {}
        for n in (1024, 8192, 10000, 10240, 11000, 11200, 12000, 14000, 16384, 65536):
            a, b, ua, ub = self.pair()
            tid = "s%d" % n
            send = send_frame(tid, "%s %s" % (ub, b.uri), a.uri,
                              ["Message-ID: m%d" % n, "Byte-Range: 1-%d/%d" % (n, n),
                               "Content-Type: application/octet-stream"], body_bytes(n))
            a.send(send, quiet=True)
            rsp = a.recv_frame(timeout=1.5, quiet=True)
            got = b.recv_frame(timeout=1.5, quiet=True)
            results[n] = (status_of(rsp), got is not None and len(got))
            print("  body %6d bytes (frame %6d): A gets %s, B gets %s"
                  % (n, len(send), status_of(rsp) or "nothing",
                     ("%d bytes" % len(got)) if got else "nothing"))
            if n == 65536 and rsp is None:
                # is the connection still usable?
                try:
                    a.send(send_frame("after", "%s %s" % (ub, b.uri), a.uri,
                                      ["Message-ID: after", "Byte-Range: 1-2/2",
                                       "Content-Type: text/plain"], b"hi"), quiet=True)
                    r2 = a.recv_frame(timeout=1.5, quiet=True)
                    print("  after the 64 KiB frame, a small SEND on the same connection gets: %s"
                          % (status_of(r2) or "nothing"))
                except OSError as e:
                    print("  after the 64 KiB frame the connection is dead: %s" % e)
            a.close()
            b.close()
        self.check(results[1024][0] == 200 and results[8192][0] == 200, "1 KiB and 8 KiB relayed")
        return results

    def chunks(self):
        print("\n=== one 64 KiB message as eight 8 KiB chunks ===")
        a, b, ua, ub = self.pair()
        total = 65536
        step = 8192
        data = body_bytes(total)
        ok = 0
        got = 0
        for i in range(total // step):
            start = i * step + 1
            end = start + step - 1
            flag = "$" if end == total else "+"
            tid = "c%d" % i
            fr = send_frame(tid, "%s %s" % (ub, b.uri), a.uri,
                            ["Message-ID: big1", "Byte-Range: %d-%d/%d" % (start, end, total),
                             "Content-Type: application/octet-stream"], data[start - 1:end], flag)
            a.send(fr, quiet=(i not in (0, 7)))
            if status_of(a.recv_frame(quiet=(i not in (0, 7)))) == 200:
                ok += 1
            f = b.recv_frame(quiet=True)
            if f is not None and data[start - 1:end] in f and f.endswith(("-------%s%s\r\n" % (tid, flag)).encode()):
                got += 1
        self.check(ok == 8 and got == 8, "8/8 chunks answered 200 and delivered with their +/$ flags (%d, %d)" % (ok, got))
        a.close()
        b.close()

    def expires(self):
        print("\n=== AUTH with Expires, AUTH with an Authorization header ===")
        a = Conn("dave", self.relay)
        auth(a, self.relay_uri, expires=30)
        a.close()
        a = Conn("erin", self.relay)
        frame = ("MSRP ae AUTH\r\nTo-Path: %s\r\nFrom-Path: %s\r\nAuthorization: Digest username=\"x\"\r\n"
                 "Expires: 600\r\n-------ae$\r\n" % (self.relay_uri, a.uri)).encode()
        a.send(frame)
        a.recv_frame()
        a.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--relay", default="127.0.0.1:2855", help="Kamailio MSRP address host:port")
    ap.add_argument("--only", choices=["one-hop", "reverse", "two-hop", "sizes", "chunks", "expires"])
    args = ap.parse_args()
    host, port = args.relay.rsplit(":", 1)
    p = Probe((host, int(port)))
    steps = {"one-hop": p.one_hop, "reverse": p.reverse_and_noauth, "two-hop": p.two_hop,
             "sizes": p.sizes, "chunks": p.chunks, "expires": p.expires}
    for name, fn in steps.items():
        if args.only in (None, name):
            fn()
    print("\nresult: %s" % ("all checks passed" if p.ok else "SOME CHECKS FAILED"))
    return 0 if p.ok else 1


if __name__ == "__main__":
    sys.exit(main())
