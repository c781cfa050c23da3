#!/usr/bin/python3
"""A throwaway PostgreSQL server for tests, from Debian's postgresql-15 binaries.

    with Postgres(tmpdir) as pg:       # initdb, start, wait until it answers
        pg.url                         # postgresql://mrv@127.0.0.1:PORT/mrv
        pg.restart()                   # stop (fast) and start again, same data
    standby = Postgres(tmpdir, primary=pg).start()   # a streaming replica (pg_basebackup -R)
    standby.promote()                  # now it takes writes
    # stopped by PID (SIGINT: fast shutdown, then SIGKILL if it lingers)

As a wrapper for ctest:  postgres.py run -- COMMAND ARGS...
runs COMMAND with MRV_TEST_PG_URL set, then stops the server; exits with COMMAND's code.

PostgreSQL refuses to run as root, and CI runs as root: then the server runs as the
unprivileged user `nobody`, which owns the data directory (made under a fresh 0755
directory so nobody can reach it). Loopback TCP only, trust authentication: a test
server that lives as long as the test.
"""
import os
import pwd
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = "/usr/lib/postgresql/15/bin"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    def __init__(self, parent_dir, port=None, database="mrv", user="mrv", primary=None):
        self.base = tempfile.mkdtemp(prefix="pg-", dir=parent_dir)
        os.chmod(self.base, 0o755)
        self.data = os.path.join(self.base, "data")
        self.log = os.path.join(self.base, "postgres.log")
        self.port = port or _free_port()
        self.database, self.user = database, user
        self.proc = None
        self._as_user = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam("nobody")
            self._as_user = (pw.pw_uid, pw.pw_gid)
            os.chown(self.base, *self._as_user)
        if primary:
            self._base_backup(primary)
        else:
            self._initdb()

    @property
    def url(self):
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _demote(self):
        if self._as_user:
            os.setgroups([])
            os.setgid(self._as_user[1])
            os.setuid(self._as_user[0])

    def _run(self, args, **kw):
        return subprocess.run(args, preexec_fn=self._demote, cwd=self.base, capture_output=True, text=True, **kw)

    def _initdb(self):
        r = self._run([f"{BIN}/initdb", "-D", self.data, "-U", self.user, "--auth=trust", "-E", "UTF8",
                       "--locale=C", "--no-sync"])
        if r.returncode != 0:
            raise RuntimeError("initdb failed: " + r.stdout + r.stderr)

    def _base_backup(self, primary):
        """A copy of a running primary that streams its WAL from it from now on (standby.signal
        and primary_conninfo written by -R); initdb's pg_hba.conf lets loopback replicate."""
        r = self._run([f"{BIN}/pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", self.user,
                       "-D", self.data, "-R", "-X", "stream", "-c", "fast", "--no-sync"])
        if r.returncode != 0:
            raise RuntimeError("pg_basebackup failed: " + r.stderr)
        self._created = True  # the primary's databases came with it

    def promote(self):
        """A standby becomes a primary (as after its primary was lost)."""
        if self.psql("SELECT pg_promote(true, 30)") != "t":
            raise RuntimeError("pg_promote did not finish: " + open(self.log).read()[-2000:])

    def dump(self, path):
        """The whole database in pg_dump's custom format, as docs/operations.md backs it up."""
        r = self._run([f"{BIN}/pg_dump", "-Fc", "-d", self.url, "-f", str(path)])
        if r.returncode != 0:
            raise RuntimeError("pg_dump failed: " + r.stderr)

    def restore(self, path):
        r = self._run([f"{BIN}/pg_restore", "--exit-on-error", "-d", self.url, str(path)])
        if r.returncode != 0:
            raise RuntimeError("pg_restore failed: " + r.stderr)

    def start(self):
        logf = open(self.log, "ab")
        # Sockets only on loopback TCP; the data directory holds the lock file.
        self.proc = subprocess.Popen(
            [f"{BIN}/postgres", "-D", self.data, "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
             "-c", "unix_socket_directories=", "-c", "fsync=on", "-c", "max_connections=200"],
            preexec_fn=self._demote, cwd=self.base, stdout=logf, stderr=logf)
        logf.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited: " + open(self.log).read()[-2000:])
            r = self._run([f"{BIN}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user])
            if r.returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("postgres did not start: " + open(self.log).read()[-2000:])
        if not getattr(self, "_created", False):
            r = self._run([f"{BIN}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                           self.database])
            if r.returncode != 0:
                raise RuntimeError("createdb failed: " + r.stderr)
            self._created = True
        return self

    def stop(self, how=signal.SIGINT):
        """SIGINT: fast shutdown (clients disconnected, a clean checkpoint);
        SIGKILL: as a power loss looks to the server (it recovers from its WAL)."""
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(how)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if how == signal.SIGKILL:
            # The postmaster's children outlive it a moment; a new postmaster refuses to
            # start while they hold shared memory.
            deadline = time.time() + 10
            while time.time() < deadline and self._children_alive():
                time.sleep(0.05)

    def _children(self):
        pid, found = str(self.proc.pid), []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        if f.read().split(") ", 1)[1].split()[1] == pid:
                            found.append(int(entry))
                except OSError:
                    pass
        return found

    def _children_alive(self):
        return bool(self._children())

    def freeze(self, frozen=True):
        """SIGSTOP (or SIGCONT) the server and its backends: connections stay open and
        unanswered, as with a hung database host."""
        for pid in [self.proc.pid] + self._children():
            os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    def restart(self, how=signal.SIGINT):
        self.stop(how)
        return self.start()

    def psql(self, sql, database=None):
        url = self.url if database is None else self.url.rsplit("/", 1)[0] + "/" + database
        r = self._run([f"{BIN}/psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        if r.returncode != 0:
            raise RuntimeError("psql: " + r.stderr)
        return r.stdout.strip()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv):
    if len(argv) < 3 or argv[1] != "run" or "--" not in argv:
        print("usage: postgres.py run -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1:]
    with tempfile.TemporaryDirectory(prefix="mrv-pg-") as tmp:
        os.chmod(tmp, 0o755)
        with Postgres(tmp) as pg:
            env = dict(os.environ, MRV_TEST_PG_URL=pg.url)
            return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
