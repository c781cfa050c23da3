"""A plain TCP proxy in front of several registries (TLS stays end to end): each new
client connection goes to the next upstream in turn (round-robin); an upstream that
refuses the connection is skipped for the next one (failover). So that one agent's
consecutive requests do reach different upstreams although it keeps its connection
alive, a connection older than `cut_after_s` is closed once an answer has gone back: when
the client begins its next request (not forwarded) or both sides are quiet, as when a
server closes a kept-alive connection (the agent sends the request again on a new one).

Per upstream it counts connections, and uploads answered: a client turn of at least
`request_bytes` of TLS application data followed by the upstream's answer (a batch of
records, or a config; not the handshake's Finished, a GET, a key or a checkpoint)."""
import select
import socket
import threading
import time

from fault_proxy import TlsRecordCounter


class AlternatingProxy:
    def __init__(self, upstream_ports, cut_after_s=0.05, request_bytes=2000):
        self.upstreams = list(upstream_ports)
        self.cut_after_s, self.request_bytes = cut_after_s, request_bytes
        self.lock = threading.Lock()
        self.turn = 0
        self.connections = {p: 0 for p in self.upstreams}
        self.requests = {p: 0 for p in self.upstreams}
        self.failovers = 0  # connections that went to another upstream than their turn's
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.closing = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def counts(self):
        """{port: (connections, requests answered)}, a snapshot."""
        with self.lock:
            return {p: (self.connections[p], self.requests[p]) for p in self.upstreams}

    def close(self):
        self.closing.set()
        self.listener.close()

    def _accept(self):
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                first = self.turn % len(self.upstreams)
                self.turn += 1
            threading.Thread(target=self._serve, args=(client, first), daemon=True).start()

    def _serve(self, client, first):
        server = None
        for i in range(len(self.upstreams)):
            port = self.upstreams[(first + i) % len(self.upstreams)]
            try:
                server = socket.create_connection(("127.0.0.1", port), timeout=2)
                break
            except OSError:
                continue
        if server is None:
            client.close()  # every upstream down: the agent sees a closed connection
            return
        with self.lock:
            self.connections[port] += 1
            self.failovers += i > 0
        try:
            self._forward(client, server, port)
        except OSError:
            pass
        finally:
            server.close()
            client.close()

    def _forward(self, client, server, port):
        server.settimeout(None)
        counter = TlsRecordCounter()
        start = time.time()
        turn_bytes = 0           # application data of the client's current turn
        answered = True          # the upstream has spoken since the client's last bytes
        last_server = 0.0
        while not self.closing.is_set():
            r, _, _ = select.select([client, server], [], [], 0.02)
            now = time.time()
            if client in r:
                data = client.recv(65536)
                if not data:
                    return
                if answered:
                    if now - start > self.cut_after_s and last_server:
                        return  # a new request on an old connection: closed unanswered
                    turn_bytes, answered = 0, False
                before = counter.app_bytes
                counter.feed(data)
                turn_bytes += counter.app_bytes - before
                server.sendall(data)
            if server in r:
                data = server.recv(65536)
                if not data:
                    return
                if not answered and turn_bytes >= self.request_bytes:
                    with self.lock:
                        self.requests[port] += 1
                answered, last_server = True, now
                client.sendall(data)
            if answered and now - start > self.cut_after_s and last_server and now - last_server > 0.03:
                return  # an answer went back and both sides are quiet: close, as when idle
