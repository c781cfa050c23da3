"""Shared helpers for the upload tests (upload_test.py): a throwaway PKI, the real
mrv-registry on a free port, an agent site that uploads to it, an HTTPS client for the
registry API (docs/registry-api.md), and the exactly-once comparison of a registry's
records with an agent's journal."""
import base64
import datetime
import gzip
import hashlib
import http.client
import ipaddress
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import textwrap
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness import Site, check, fail, track

SITE = "it-site"
OTHER = "other-site"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def registry_binary(agent):
    """<build>/registry/mrv-registry, the sibling of <build>/agent/mrv-agent."""
    path = pathlib.Path(agent).resolve().parents[1] / "registry" / "mrv-registry"
    if not path.exists():
        fail(f"no registry binary at {path}")
    return str(path)


def write_private(path, data):
    """Key files are 0600 from the first byte: both programs refuse readable keys."""
    path = pathlib.Path(path)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------- PKI

class Pki:
    """A throwaway CA with a server certificate for 127.0.0.1/localhost and client
    certificates (CN = site id), plus an unrelated second CA for the wrong-CA case.
    All keys are ECDSA P-256: small certificates keep TLS records predictable for the
    fault proxy."""

    def __init__(self, folder):
        self.dir = pathlib.Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_key, self.ca_cert = self._ca("mrv-it test CA")
        self.ca = self._write("ca.pem", self.ca_cert)
        self.server, self.server_key = self.issue("server", "127.0.0.1", server=True)
        self.rogue_key, self.rogue_cert = self._ca("mrv-it unrelated CA")
        self.rogue_ca = self._write("rogue-ca.pem", self.rogue_cert)

    def _write(self, name, cert):
        path = self.dir / name
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    @staticmethod
    def _name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def _ca(self, cn):
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(self._name(cn)).issuer_name(self._name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                               critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return key, cert

    def issue(self, name, cn, server=False, rogue=False):
        """(cert path, key path) of a leaf signed by the CA (or by the unrelated one)."""
        ca_key, ca_cert = (self.rogue_key, self.rogue_cert) if rogue else (self.ca_key, self.ca_cert)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        b = (x509.CertificateBuilder()
             .subject_name(self._name(cn)).issuer_name(ca_cert.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(hours=1))
             .not_valid_after(now + datetime.timedelta(days=2))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                            critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                            critical=False))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        else:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        cert_path = self._write(f"{name}.pem", cert)
        key_path = self.dir / f"{name}.key"
        write_private(key_path, key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
        return cert_path, key_path

    def copy_to(self, folder, *paths):
        """Copies files next to a config (which names them relatively), keeping modes."""
        for p in paths:
            shutil.copy2(p, pathlib.Path(folder) / pathlib.Path(p).name)


def new_token():
    token = secrets.token_urlsafe(24)
    return token, hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------------------- registry

PG_BIN = "/usr/lib/postgresql/15/bin"


def own_database(folder, fresh=False):
    """Under `postgres.py run` (MRV_TEST_PG_URL): a database of the test server for the
    registry in `folder` alone, created once (fresh: dropped and created again), so the
    test runs on PostgreSQL unchanged."""
    server = os.environ["MRV_TEST_PG_URL"]
    name = "r" + hashlib.sha256(str(pathlib.Path(folder).resolve()).encode()).hexdigest()[:16]
    psql = [f"{PG_BIN}/psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", server, "-c"]
    if fresh:
        subprocess.run(psql + [f"DROP DATABASE IF EXISTS {name}"], capture_output=True, text=True, check=True)
    held = subprocess.run(psql + [f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                          capture_output=True, text=True, check=True).stdout.strip()
    if not held:
        subprocess.run(psql + [f"CREATE DATABASE {name}"], capture_output=True, text=True, check=True)
    return server.rsplit("/", 1)[0] + "/" + name


class Registry:
    """The real mrv-registry with its config, certificates and data in `folder`.
    sites: {site id: {"token": str or None, "cn": str or None, "keys": [public key PEM
    paths to pin] or None, "extra": more lines of the [[sites]] entry}};
    readers: {name: token}."""

    def __init__(self, agent, folder, pki, sites, readers=None, port=None, extra=""):
        self.binary = registry_binary(agent)
        self.dir = pathlib.Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.pki = pki
        self.port = port or free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        pki.copy_to(self.dir, pki.ca, pki.server, pki.server_key)
        text = textwrap.dedent(f"""\
            listen = "127.0.0.1:{self.port}"
            data_dir = "regdata"
            {extra}
            [tls]
            cert_file = "server.pem"
            key_file = "server.key"
            client_ca_file = "ca.pem"
            """)
        for sid, cred in sites.items():
            text += f'[[sites]]\nid = "{sid}"\n'
            if cred.get("token"):
                text += f'token_sha256 = "{hashlib.sha256(cred["token"].encode()).hexdigest()}"\n'
            if cred.get("cn"):
                text += f'client_cert_cn = "{cred["cn"]}"\n'
            if cred.get("keys"):
                text += "keys = [" + ", ".join(f'"{pathlib.Path(k).resolve()}"' for k in cred["keys"]) + "]\n"
            text += cred.get("extra", "")
        for name, token in (readers or {}).items():
            text += f'[[readers]]\nname = "{name}"\ntoken_sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"\n'
        if os.environ.get("MRV_TEST_PG_URL") and "[database]" not in text:
            text += f'[database]\nurl = "{own_database(self.dir)}"\n'
        self.config = self.dir / "registry.toml"
        self.config.write_text(text)
        self.log_path = self.dir / "registry.log"
        self.proc = None
        self.start()

    def wipe(self):
        """A stopped registry's data gone: its data_dir, and its database if it has one."""
        shutil.rmtree(self.dir / "regdata", ignore_errors=True)
        if os.environ.get("MRV_TEST_PG_URL"):
            own_database(self.dir, fresh=True)

    def backup(self, to):
        """A stopped registry backed up into the folder `to` as docs/operations.md says:
        its data_dir; on PostgreSQL, the whole database (pg_dump -Fc) instead."""
        if not os.environ.get("MRV_TEST_PG_URL"):
            shutil.copytree(self.dir / "regdata", to)
            return
        pathlib.Path(to).mkdir()
        subprocess.run([f"{PG_BIN}/pg_dump", "-Fc", "-d", own_database(self.dir), "-f", str(pathlib.Path(to) / "mrv.dump")],
                       capture_output=True, text=True, check=True)

    def restore(self, backup):
        """A stopped registry restored from backup(): its data_dir copied back; on
        PostgreSQL, the dump restored into an empty database and data_dir/sites moved away,
        so that the registry rebuilds its copies from the database (docs/operations.md)."""
        if not os.environ.get("MRV_TEST_PG_URL"):
            shutil.rmtree(self.dir / "regdata")
            shutil.copytree(backup, self.dir / "regdata")
            return
        shutil.rmtree(self.dir / "regdata" / "sites")
        subprocess.run([f"{PG_BIN}/pg_restore", "--exit-on-error", "-d", own_database(self.dir, fresh=True),
                        str(pathlib.Path(backup) / "mrv.dump")], capture_output=True, text=True, check=True)

    def start(self):
        log = open(self.log_path, "a")
        self.proc = track(subprocess.Popen([self.binary, "--config", str(self.config)],
                                           stdout=log, stderr=log))
        log.close()
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail(f"mrv-registry exited {self.proc.returncode} at start: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        fail(f"mrv-registry does not listen on {self.port}: {self.log_tail()}")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """The registry's exit code (None if it was not running)."""
        if not self.proc or self.proc.poll() is not None:
            return None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail(f"mrv-registry did not stop within {timeout} s of {sig!r}: {self.log_tail()}")

    def log_tail(self, n=1500):
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def db_path(self, site=SITE):
        return self.dir / "regdata" / "sites" / f"{site}.db"

    def db(self, site=SITE):
        """Read-only: the registry must never see a writer from us."""
        return sqlite3.connect(f"file:{self.db_path(site)}?mode=ro", uri=True, timeout=10)

    def max_seq(self, site=SITE):
        """(count, max seq) of the site's stored records; (0, 0) before the first."""
        if not self.db_path(site).exists():
            return 0, 0
        try:
            with self.db(site) as db:
                n, top = db.execute("SELECT count(*), max(seq) FROM records").fetchone()
                return n, top or 0
        except sqlite3.Error:
            return 0, 0  # not created yet: no records

    # -- the HTTP API

    def context(self, cert=None):
        ctx = ssl.create_default_context(cafile=str(self.pki.ca))
        if cert:
            ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        return ctx

    def request(self, method, path, body=b"", headers=None, token=None, cert=None, timeout=60):
        """(status, body bytes, JSON or None). cert: (cert path, key path) for mutual TLS."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context(cert),
                                           timeout=timeout)
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        try:
            try:
                conn.request(method, path, body=body, headers=h)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError):
                pass  # the server answered early (413) and closed: its answer may still be read
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return r.status, data, parsed

    def request_headers_first(self, method, path, body, headers, token=None, wait_s=2.0):
        """Sends the headers, and the body only if no answer has begun within wait_s.
        (status, body bytes, JSON or None); the answer must carry a Content-Length."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        sock = self.context().wrap_socket(raw, server_hostname="127.0.0.1")
        try:
            h = {**headers, "Host": f"127.0.0.1:{self.port}", "Content-Length": str(len(body)),
                 "Connection": "close", **({"Authorization": f"Bearer {token}"} if token else {})}
            sock.sendall((f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
                          + "\r\n").encode())
            sock.settimeout(wait_s)
            try:
                got = sock.recv(65536)  # TLS-level: session tickets are not data
            except socket.timeout:
                sock.settimeout(60)
                sock.sendall(body)
                got = b""
            sock.settimeout(60)
            while b"\r\n\r\n" not in got or len(got) < got.index(b"\r\n\r\n") + 4 + _content_length(got):
                more = sock.recv(65536)
                if not more:
                    break
                got += more
        finally:
            sock.close()
        head, _, data = got.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/") else 0
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return status, data, parsed

    def post_records(self, site, lines, token=None, cert=None, gz=True):
        body = ("".join(l + "\n" for l in lines)).encode()
        headers = {"Content-Type": "application/x-ndjson"}
        if gz:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return self.request("POST", f"/v1/sites/{site}/records", body, headers, token=token, cert=cert)

    def site_info(self, site, token):
        status, data, js = self.request("GET", f"/v1/sites/{site}", token=token)
        if status != 200 or js is None:
            fail(f"GET /v1/sites/{site} answered {status}: {data[:300]!r}")
        return js

    def read_records(self, site, first, last, token=None, cert=None, step=20000):
        """Record lines from the read API, parsed, first..last in chunks."""
        out = []
        for a in range(first, last + 1, step):
            b = min(last, a + step - 1)
            status, data, _ = self.request("GET", f"/v1/sites/{site}/records?from_seq={a}&to_seq={b}",
                                           token=token, cert=cert, timeout=120)
            if status != 200:
                fail(f"GET records {a}..{b} answered {status}: {data[:300]!r}")
            out += [json.loads(l) for l in data.decode().splitlines() if l.strip()]
        return out


def _content_length(response_head):
    m = re.search(rb"(?im)^content-length:\s*(\d+)", response_head)
    return int(m.group(1)) if m else 0


# ---------------------------------------------------------------------------- agent

class UploadSite(Site):
    """A Site whose config has an [upload] section. auth: "token" or "mtls"."""

    def __init__(self, agent, pki, url, site_id=SITE, auth="token", token=None, upload_extra="",
                 **kw):
        super().__init__(agent, **kw)
        self.site_id = site_id
        self.pki = pki
        text = self.config.read_text()
        if site_id != SITE:
            text = text.replace(f'id = "{SITE}"', f'id = "{site_id}"', 1)
        self.config.write_text(text)
        pki.copy_to(self.dir, pki.ca)
        self.token = token
        auth_lines = ""
        if auth == "token":
            write_private(self.dir / "token", (token + "\n").encode())
            auth_lines = 'token_file = "token"'
        elif auth == "mtls":
            cert, key = pki.issue(f"client-{site_id}", site_id)
            pki.copy_to(self.dir, cert, key)
            auth_lines = f'client_cert_file = "{cert.name}"\nclient_key_file = "{key.name}"'
        self.upload = {"url": url, "auth": auth_lines, "extra": upload_extra}
        self._write_upload()
        self.log_path = self.dir / "agent.log"

    def _write_upload(self):
        text = self.config.read_text().split("[upload]")[0]
        u = self.upload
        opts = {"batch_max_records": 5000, "batch_max_bytes": 1048576, "batch_max_age_ms": 1000,
                "timeout_ms": 5000, "backoff_min_ms": 200, "backoff_max_ms": 2000, "gzip_level": 6}
        for line in u["extra"].splitlines():  # overrides, "name = value"
            if "=" in line:
                k, v = (x.strip() for x in line.split("=", 1))
                opts[k] = v
        text += f'[upload]\nurl = "{u["url"]}"\nca_file = "ca.pem"\n{u["auth"]}\n'
        text += "".join(f"{k} = {v}\n" for k, v in opts.items())
        self.config.write_text(text)

    def set_url(self, url):
        self.upload["url"] = url
        self._write_upload()

    def set_interval(self, ms):
        """The simulated source reads on interval boundaries: with a very long interval it
        adds nothing more, and the agent can be watched until its upload lag is 0."""
        text = re.sub(r"^interval_ms = \d+$", f"interval_ms = {ms}", self.config.read_text(), flags=re.M)
        self.config.write_text(text)

    def start(self, *args):
        """stderr to a file, not a pipe nobody reads (a chatty agent would block on it)."""
        log = open(self.log_path, "a")
        log.write(f"--- start {time.strftime('%H:%M:%S')}\n")
        log.flush()
        p = track(subprocess.Popen([self.agent, "run", "--config", str(self.config), *args],
                                   stdout=log, stderr=log))
        log.close()
        return p

    def log_tail(self, n=1500):
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, proc, timeout=40):
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            fail(f"the agent did not stop within {timeout} s of SIGTERM: {self.log_tail()}")
        check(proc.returncode == 0, f"the agent stops on SIGTERM with exit 0 (got {proc.returncode})")

    def status(self):
        p = self.run("status", "--config", str(self.config), "--json", check_rc=False, timeout=60)
        if p.returncode != 0:
            return {}
        try:
            return json.loads(p.stdout)
        except ValueError:
            fail(f"status --json is not JSON: {p.stdout[:300]!r}")

    def journal_db(self):
        return sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=10)

    def last_seq(self):
        try:
            with self.journal_db() as db:
                return db.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0]
        except sqlite3.Error:
            return 0

    def cursor(self):
        """The journal's upload cursor, straight from SQLite (0 before any receipt)."""
        try:
            with self.journal_db() as db:
                return db.execute("SELECT coalesce(max(seq), 0) FROM cursors").fetchone()[0]
        except sqlite3.Error:
            return 0

    def lines(self, first, last):
        """Record lines (docs/record-format.md §3.3) of first..last from the journal."""
        with self.journal_db() as db:
            rows = db.execute("SELECT seq, canonical, hash, sig FROM records WHERE seq BETWEEN ? AND ? "
                              "ORDER BY seq", (first, last)).fetchall()
        return [record_line(*r) for r in rows]

    def wait_drained(self, proc, seconds, what=""):
        """Waits until status shows the whole journal receipted (lag 0, cursor = last_seq),
        twice a second apart; returns the last status."""
        deadline = time.time() + seconds
        stable, st = 0, {}
        while time.time() < deadline:
            if proc is not None and proc.poll() is not None:
                fail(f"the agent exited {proc.returncode} while uploading{what}: {self.log_tail()}")
            st = self.status()
            up, jr = st.get("upload", {}), st.get("journal", {})
            last = jr.get("last_seq", -1)
            if last > 0 and up.get("lag_records") == 0 and up.get("cursor") == last and \
                    jr.get("upload_cursor") == last:
                stable += 1
                if stable >= 2:
                    return st
            else:
                stable = 0
            time.sleep(1)
        fail(f"upload lag did not reach 0 within {seconds} s{what}: upload {st.get('upload')}, "
             f"journal last_seq {st.get('journal', {}).get('last_seq')}\n{self.log_tail()}")

    def drain(self, seconds=120, what=""):
        """Restarts the agent with the slow interval and waits until everything is receipted;
        stops it. Returns the final status."""
        self.set_interval(3_600_000)
        p = self.start()
        time.sleep(2)  # the journal opened, the uploader started
        st = self.wait_drained(p, seconds, what)
        self.stop(p)
        return st


def record_line(seq, canonical, h, sig):
    return json.dumps({"seq": seq, "record": bytes(canonical).decode("utf-8"), "hash": bytes(h).hex(),
                       "signature": base64.b64encode(bytes(sig)).decode()}, separators=(",", ":"))


def as_bytes(v, kind):
    """Stored hash/signature as bytes, whether the table holds raw bytes or text."""
    if isinstance(v, (bytes, memoryview)):
        return bytes(v)
    return bytes.fromhex(v) if kind == "hash" else base64.b64decode(v)


def registry_serves(reg, token, what):
    """The registry process runs and answers an authenticated read of SITE: its summary."""
    check(reg.proc.poll() is None, f"{what}: the registry is still running")
    st, data, js = reg.request("GET", f"/v1/sites/{SITE}", token=token, timeout=20)
    check(st == 200 and js and js.get("site") == SITE, f"{what}: ... and answers a site's read ({st})")
    return js


def check_exactly_once(site, registry, token=None, cert=None, read_step=20000):
    """The registry holds exactly the journal's records: seqs 1..N, same canonical bytes,
    hash and signature, nothing missing, nothing extra (its SQLite file and its read API,
    read_step records a request: at most the registry's max_batch_records)."""
    with site.journal_db() as jdb:
        n, lo, hi = jdb.execute("SELECT count(*), min(seq), max(seq) FROM records").fetchone()
    check(n > 0 and lo == 1 and hi == n, f"the journal holds seqs 1..{hi} without a gap ({n} records)")
    rn, rtop = registry.max_seq(site.site_id)
    check(rn == n and rtop == n, f"the registry holds {rn} records through seq {rtop} (journal: {n})")
    missing = extra = differ = 0
    first_bad = None
    with site.journal_db() as jdb, registry.db(site.site_id) as rdb:
        a = jdb.execute("SELECT seq, canonical, hash, sig FROM records ORDER BY seq")
        b = rdb.execute("SELECT seq, canonical, hash, sig FROM records ORDER BY seq")
        ra, rb = a.fetchone(), b.fetchone()
        while ra or rb:
            if rb is None or (ra and ra[0] < rb[0]):
                missing += 1
                first_bad = first_bad or ("missing", ra[0])
                ra = a.fetchone()
            elif ra is None or rb[0] < ra[0]:
                extra += 1
                first_bad = first_bad or ("extra", rb[0])
                rb = b.fetchone()
            else:
                if (bytes(ra[1]) != bytes(rb[1]) or bytes(ra[2]) != as_bytes(rb[2], "hash")
                        or bytes(ra[3]) != as_bytes(rb[3], "sig")):
                    differ += 1
                    first_bad = first_bad or ("different", ra[0])
                ra, rb = a.fetchone(), b.fetchone()
    check(missing == 0 and extra == 0 and differ == 0,
          f"registry == journal, record by record: {missing} missing, {extra} extra, "
          f"{differ} with other bytes (first: {first_bad})")
    got = registry.read_records(site.site_id, 1, n, token=token, cert=cert, step=read_step)
    bad = None
    with site.journal_db() as jdb:
        rows = jdb.execute("SELECT seq, canonical, hash, sig FROM records ORDER BY seq")
        for r, g in zip(rows, got):
            if (g.get("seq") != r[0] or g.get("record", "").encode() != bytes(r[1])
                    or g.get("hash") != bytes(r[2]).hex()
                    or base64.b64decode(g.get("signature", "")) != bytes(r[3])):
                bad = r[0]
                break
    check(len(got) == n and bad is None,
          f"the read API returns the same {len(got)} records (first difference: {bad})")
    return n


class Watch:
    """Samples, throughout a run, that the agent's cursor never passes what the registry
    holds: a cursor moves only on a receipt, a receipt only for stored records."""

    def __init__(self, site, registry):
        self.site, self.registry = site, registry
        self.violations, self.samples = [], 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_event.is_set():
            cursor = self.site.cursor()  # first: the registry's count only grows after it
            _, held = self.registry.max_seq(self.site.site_id)
            if cursor > held:
                self.violations.append((cursor, held))
            self.samples += 1
            self.stop_event.wait(0.2)

    def finish(self):
        self.stop_event.set()
        self.thread.join()
        check(not self.violations and self.samples > 0,
              f"in {self.samples} samples the agent's cursor never passed the registry's records "
              f"(violations: {self.violations[:3]})")


# ---------------------------------------------------------------------------- by hand

def plain_site(agent, site_id, **kw):
    """An agent site without [upload]: a test posts its records by hand."""
    s = Site(agent, **kw)
    s.site_id = site_id
    if site_id != SITE:
        s.config.write_text(s.config.read_text().replace(f'id = "{SITE}"', f'id = "{site_id}"', 1))
    return s


def journal_lines(site, first, last):
    with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT seq, canonical, hash, sig FROM records WHERE seq BETWEEN ? AND ? "
                          "ORDER BY seq", (first, last)).fetchall()
    return [record_line(*r) for r in rows]


def merkle_root(leaves):
    """RFC 6962 MTH over the leaf hashes (docs/verification.md §2)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:])).digest()


def site_root(site, size):
    with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT canonical FROM records WHERE seq <= ? ORDER BY seq", (size,)).fetchall()
    return merkle_root([hashlib.sha256(b"\x00" + bytes(c)).digest() for (c,) in rows])


def sign_note(site, tree_size, root, ms=None):
    """A C2SP signed checkpoint note (docs/verification.md §3) signed with the site's key."""
    key = serialization.load_pem_private_key(site.key.read_bytes(), password=None)
    origin = f"mrv-agent/{site.site_id}"
    text = f"{origin}\n{tree_size}\n{base64.b64encode(root).decode()}\nmrv-time-ms {ms or int(time.time() * 1000)}\n"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        key_hash = hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()[:4]
        sig = key.sign(text.encode())
    else:
        der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        key_hash = hashlib.sha256(der).digest()[:4]
        sig = key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))
    return text + "\n" + f"\u2014 {origin} {base64.b64encode(key_hash + sig).decode()}\n"
