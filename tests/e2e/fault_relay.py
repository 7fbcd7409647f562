#!/usr/bin/env python3
"""fault_relay: a TCP relay on loopback that can play a cut network.

    fault_relay.py LISTEN_PORT_FILE TARGET_PORT

Listens on 127.0.0.1 (a free port, written to LISTEN_PORT_FILE once
listening) and forwards every connection to 127.0.0.1:TARGET_PORT.

SIGUSR1 cuts the network: from then on nothing is read, written or
accepted, but no socket is closed, so both ends still see an established
TCP connection whose kernel answers TCP keepalives and window probes —
only an application-level keepalive can tell. SIGUSR2 heals it: the
connections that were cut are closed (a real peer would get a reset once
packets flow again) and new ones are forwarded. SIGTERM ends the relay.
"""
import os
import selectors
import signal
import socket
import sys

cut = False
heal = False


def on_cut(_sig, _frame):
    global cut
    cut = True


def on_heal(_sig, _frame):
    global heal
    heal = True


def main():
    global cut, heal
    port_file, target = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGUSR1, on_cut)
    signal.signal(signal.SIGUSR2, on_heal)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    lsock.setblocking(False)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % lsock.getsockname()[1])
    os.rename(tmp, port_file)

    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, None)
    peers = {}  # socket -> its other end
    pending = {}  # socket -> bytes waiting to be written to it
    frozen = False

    def close_pair(s):
        o = peers.pop(s, None)
        for x in (s, o):
            if x is None:
                continue
            peers.pop(x, None)
            pending.pop(x, None)
            try:
                sel.unregister(x)
            except (KeyError, ValueError):
                pass
            x.close()

    def watch(s):
        """Reads from s while its peer has nothing waiting; writes to s
        while something waits for it."""
        if s not in peers:
            return
        ev = 0
        if not pending.get(peers[s]):
            ev |= selectors.EVENT_READ
        if pending.get(s):
            ev |= selectors.EVENT_WRITE
        registered = s in sel.get_map()
        if ev == 0:
            if registered:
                sel.unregister(s)
        elif registered:
            sel.modify(s, ev, None)
        else:
            sel.register(s, ev, None)

    while True:
        if cut and not frozen:
            frozen = True
            cut = False
            for key in list(sel.get_map().values()):
                sel.unregister(key.fileobj)
            print("fault_relay: cut (%d connection(s) frozen)" % (len(peers) // 2),
                  file=sys.stderr, flush=True)
        if heal:
            heal = False
            n = len(peers) // 2
            for s in list(peers):
                if s in peers:
                    close_pair(s)
            if frozen:
                frozen = False
                sel.register(lsock, selectors.EVENT_READ, None)
            print("fault_relay: healed (%d cut connection(s) closed)" % n,
                  file=sys.stderr, flush=True)
        if frozen:
            signal.pause()
            continue
        try:
            events = sel.select(timeout=0.5)
        except InterruptedError:
            continue
        for key, mask in events:
            s = key.fileobj
            if s is lsock:
                try:
                    c, _ = lsock.accept()
                except BlockingIOError:
                    continue
                u = socket.socket()
                try:
                    u.connect(("127.0.0.1", target))
                except OSError:
                    c.close()
                    u.close()
                    continue
                for x in (c, u):
                    x.setblocking(False)
                    x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                peers[c], peers[u] = u, c
                watch(c)
                watch(u)
                continue
            if s not in peers:
                continue
            o = peers[s]
            if mask & selectors.EVENT_WRITE and pending.get(s):
                try:
                    n = s.send(pending[s])
                    pending[s] = pending[s][n:]
                except BlockingIOError:
                    pass
                except OSError:
                    close_pair(s)
                    continue
            if mask & selectors.EVENT_READ and not pending.get(o):
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    # s is done: what it sent before goes out first
                    if pending.get(o):
                        try:
                            o.setblocking(True)
                            o.sendall(pending[o])
                        except OSError:
                            pass
                    close_pair(s)
                    continue
                if data:
                    pending[o] = data
            watch(s)
            watch(o)


if __name__ == "__main__":
    main()
