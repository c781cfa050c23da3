"""Network faults for the upload tests.

FaultProxy: a plain TCP forwarder between the agent and the registry, so TLS stays end to
end (the agent still checks the registry's certificate). Each new connection takes the
next mode of a cycle:
  pass            forward both ways; after `pass_s` seconds the proxy closes the
                  connection right after a response, as a server closing an idle
                  keep-alive connection would (so new connections, and modes, keep coming)
  cut-request     forward part of a request (some kB of application data), then close
                  both sides: the registry sees a request cut short
  drop-response   forward the request whole, swallow the registry's answer, close: the
                  registry has stored the batch but the agent never sees the receipt
  stall           accept and say nothing (no handshake) for `stall_s`, then close
  stall-response  forward the request, hold the answer back silently for `stall_s`
The proxy cannot read the encrypted HTTP, so it counts the client's TLS application-data
bytes (record type 23) to tell a request from the handshake: `request_bytes` is more than
a TLS 1.3 client's encrypted Finished (and certificate) but less than a batch of records.

FakeRegistry: an HTTPS server (same certificates as the real registry) whose answers to
uploads are all bad: 500, 503, garbage bytes that are not HTTP, a response cut short,
and a 200 whose receipt names another batch. Site reads and key and config registration
get plausible answers so that the agent reaches its uploads."""
import gzip
import hashlib
import http.server
import json
import select
import socket
import socketserver
import ssl
import threading
import time

from cryptography.hazmat.primitives import serialization


class TlsRecordCounter:
    """Counts the payload bytes of TLS application-data records in one direction."""

    def __init__(self):
        self.app_bytes = 0
        self._header = b""
        self._left = 0
        self._type = 0

    def feed(self, data, threshold=None):
        """Counts `data`; returns the offset in it at which the count reached `threshold`
        (None if it did not reach it in this chunk)."""
        i, hit = 0, None
        while i < len(data):
            if self._left == 0:
                need = 5 - len(self._header)
                self._header += data[i:i + need]
                i += min(need, len(data) - i)
                if len(self._header) == 5:
                    self._type = self._header[0]
                    self._left = int.from_bytes(self._header[3:5], "big")
                    self._header = b""
                continue
            take = min(self._left, len(data) - i)
            if self._type == 23:
                before = self.app_bytes
                self.app_bytes += take
                if threshold is not None and hit is None and before < threshold <= self.app_bytes:
                    hit = i + (threshold - before)
            self._left -= take
            i += take
        return hit


class FaultProxy:
    MODES = ("pass", "cut-request", "drop-response", "stall", "pass", "stall-response")

    def __init__(self, upstream_port, modes=MODES, stall_s=4.0, pass_s=3.0, request_bytes=4096,
                 on_event=None):
        self.upstream = ("127.0.0.1", upstream_port)
        self.modes = list(modes)
        self.stall_s, self.pass_s, self.request_bytes = stall_s, pass_s, request_bytes
        self.on_event = on_event  # called (mode, what) when a fault fires
        self.events = []          # (mode, what) of every connection's outcome
        self.lock = threading.Lock()
        self.count = 0
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.closing = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def fired(self, mode):
        """How many connections of `mode` actually did their fault."""
        with self.lock:
            return sum(1 for m, what in self.events if m == mode and what != "idle")

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
                mode = self.modes[self.count % len(self.modes)]
                self.count += 1
            threading.Thread(target=self._serve, args=(client, mode), daemon=True).start()

    def _event(self, mode, what):
        with self.lock:
            self.events.append((mode, what))
        if self.on_event and what != "idle":
            self.on_event(mode, what)

    def _serve(self, client, mode):
        try:
            if mode == "stall":
                self._stall(client)
            else:
                self._forward(client, mode)
        except OSError:
            pass
        finally:
            client.close()

    def _stall(self, client):
        """Reads and discards what the client sends, answers nothing, then closes."""
        start = time.time()
        got, how = 0, "then the proxy closed"
        while time.time() < start + self.stall_s and not self.closing.is_set():
            r, _, _ = select.select([client], [], [], 0.1)
            if r:
                data = client.recv(65536)
                if not data:
                    how = "the client gave up"
                    break
                got += len(data)
        self._event("stall", f"{got} bytes unanswered for {time.time() - start:.1f} s, {how}")

    def _forward(self, client, mode):
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            self._event(mode, "idle")  # upstream down: the agent sees a closed connection
            return
        server.settimeout(None)
        counter = TlsRecordCounter()
        start = time.time()
        last_client = time.time()   # when the client last sent anything
        swallowed = 0               # response bytes held back (drop-/stall-response)
        swallow_since = None
        response_done = False       # pass: a response has just gone through
        last_server = 0.0
        outcome = "idle"
        try:
            while not self.closing.is_set():
                r, _, _ = select.select([client, server], [], [], 0.05)
                now = time.time()
                if client in r:
                    data = client.recv(65536)
                    if not data:
                        if swallowed:
                            outcome = (f"held a {swallowed}-byte response until the client gave up "
                                       f"after {now - swallow_since:.1f} s")
                        break
                    last_client = now
                    response_done = False
                    threshold = None
                    if mode == "cut-request":
                        # cut some way into a request (inside a TLS record, as a rule)
                        threshold = self.request_bytes + 1537
                    hit = counter.feed(data, threshold)
                    if hit is not None:
                        server.sendall(data[:hit])
                        outcome = f"request cut after {threshold} bytes of application data"
                        break
                    server.sendall(data)
                if server in r:
                    data = server.recv(65536)
                    if not data:
                        if outcome == "idle" and swallowed:
                            outcome = (f"dropped a {swallowed}-byte response after a whole request "
                                       f"(the server closed)" if mode == "drop-response" else
                                       f"held a {swallowed}-byte response, the server closed")
                        break
                    last_server = now
                    if mode in ("drop-response", "stall-response") and counter.app_bytes >= self.request_bytes:
                        swallowed += len(data)
                        swallow_since = swallow_since or now
                    else:
                        client.sendall(data)
                        response_done = True
                # drop-response: the answer came after the client finished its request
                if (mode == "drop-response" and swallowed and now - last_client > 0.05
                        and last_server > last_client):
                    outcome = f"dropped a {swallowed}-byte response after a whole request"
                    break
                if mode == "stall-response" and swallow_since and now - swallow_since > self.stall_s:
                    outcome = f"held a {swallowed}-byte response for {self.stall_s} s, then the proxy closed"
                    break
                if (mode == "pass" and now - start > self.pass_s and response_done
                        and now - max(last_client, last_server) > 0.1):
                    outcome = "closed after a response, as an idle keep-alive"
                    break
            if mode == "pass" and outcome == "idle" and counter.app_bytes:
                outcome = "passed"
        finally:
            server.close()
            self._event(mode, outcome)


# ---------------------------------------------------------------------------- fake registry

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        fake = self.server.fake
        fake.requests.append(("GET", self.path, self.headers, b""))
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) == 3:  # /v1/sites/{site}: nothing held
            self._json(200, {"site": parts[2], "held_through": 0, "first_seq": 0, "records": 0,
                             "tree_size": 0, "latest_checkpoint": None})
        else:
            self._json(404, {"error": "not_found", "check": "format", "message": "fake"})

    def do_PUT(self):
        fake = self.server.fake
        body = self._body()
        fake.requests.append(("PUT", self.path, self.headers, body))
        if not self.path.endswith("/keys"):  # other registrations (configs): taken
            self._json(200, {"site": self.path.split("/")[3], "sha256": hashlib.sha256(body).hexdigest()})
            return
        try:  # a plausible key receipt: the agent then goes on to post its records
            key = serialization.load_pem_public_key(body)
            der = key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
            alg = "ed25519" if len(der) == 44 else "ecdsa-p256"
            self._json(200, {"site": self.path.split("/")[3], "key_id": hashlib.sha256(der).hexdigest(),
                             "algorithm": alg})
        except (ValueError, IndexError):
            self._json(400, {"error": "malformed", "check": "format", "message": "fake"})

    def do_POST(self):
        fake = self.server.fake
        body = self._body()
        fake.requests.append(("POST", self.path, self.headers, body))
        if not self.path.endswith("/records"):
            self._json(503, {"error": "busy", "check": "storage", "message": "fake: busy"})
            return
        with fake.lock:
            answer = fake.answers[fake.next % len(fake.answers)]
            fake.next += 1
            fake.served[answer] = fake.served.get(answer, 0) + 1
        self.close_connection = True
        if answer == "500":
            self._json(500, {"error": "storage", "check": "storage", "message": "fake: disk error"})
        elif answer == "503":
            self._json(503, {"error": "busy", "check": "storage", "message": "fake: busy"})
        elif answer == "garbage":
            self.wfile.write(b"\x00\xffNOT HTTP AT ALL\r\n\x16\x03\x01garbage" * 20)
        elif answer == "truncated":
            data = json.dumps({"site": "it-site", "first_seq": 1, "last_seq": 999999,
                               "records": 999999, "last_hash": "00" * 32}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data) + 200))
            self.end_headers()
            self.wfile.write(data[:40])
        elif answer == "wrong-receipt":
            # 200, but for another batch: the cursor must not move on it
            lines = _lines(body, self.headers)
            first = lines[0]["seq"] if lines else 1
            self._json(200, {"site": "it-site", "first_seq": first, "last_seq": first + 10**6,
                             "records": 10**6 + 1, "last_hash": "ab" * 32})
        self.wfile.flush()


def _lines(body, headers):
    try:
        if headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        return [json.loads(l) for l in body.decode().splitlines() if l.strip()]
    except (ValueError, OSError, EOFError):
        return []


class _TlsServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up on a bad answer is what these tests expect


class FakeRegistry:
    ANSWERS = ("500", "503", "garbage", "truncated", "wrong-receipt")

    def __init__(self, cert, key, answers=ANSWERS):
        self.answers = list(answers)
        self.next = 0
        self.served = {}
        self.requests = []  # (method, path, headers, body) of every request
        self.lock = threading.Lock()
        self.server = _TlsServer(("127.0.0.1", 0), _Handler)
        self.server.fake = self
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        # The handshake in the handler's thread: a client stuck in it blocks no one else.
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True,
                                             do_handshake_on_connect=False)
        self.port = self.server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def record_posts(self):
        """The parsed record lines of every POST .../records."""
        return [(h, _lines(b, h)) for m, p, h, b in self.requests if m == "POST" and p.endswith("/records")]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
