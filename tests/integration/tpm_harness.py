"""A software TPM for the tests: Debian's swtpm on loopback, manufactured by swtpm_setup
with an endorsement key certificate that swtpm_localca issues under a throwaway CA (the
stand-in for a TPM manufacturer's CA)."""
import os
import pathlib
import socket
import subprocess
import tempfile
import time

from harness import fail, track


def _free_port_pair():
    """A port P with P and P + 1 free on loopback (the swtpm TCTI uses P + 1 for control)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    fail("no free pair of loopback ports for swtpm")


class SoftwareTpm:
    """swtpm with its own state and CA folder (or `ca_of`'s: two TPMs of one manufacturer);
    `tcti` is what [signing] tpm_tcti takes."""

    def __init__(self, name="tpm", ca_of=None):
        self.tmp = tempfile.TemporaryDirectory(prefix=f"mrv-{name}-")
        self.dir = pathlib.Path(self.tmp.name)
        self.state = self.dir / "state"
        self.ca = ca_of.ca if ca_of else self.dir / "ca"
        self.state.mkdir()
        self.ca.mkdir(exist_ok=True)
        (self.dir / "localca.conf").write_text(
            f"statedir = {self.ca}\nsigningkey = {self.ca}/signkey.pem\n"
            f"issuercert = {self.ca}/issuercert.pem\ncertserial = {self.ca}/certserial\n")
        (self.dir / "setup.conf").write_text(
            "create_certs_tool = /usr/bin/swtpm_localca\n"
            f"create_certs_tool_config = {self.dir}/localca.conf\n"
            "create_certs_tool_options = /etc/swtpm-localca.options\n"
            "active_pcr_banks = sha256\n")
        p = subprocess.run(["swtpm_setup", "--tpm2", "--tpmstate", str(self.state), "--create-ek-cert",
                            "--config", str(self.dir / "setup.conf"), "--overwrite"],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            fail(f"swtpm_setup exited {p.returncode}: {p.stdout}{p.stderr}")
        self.root_ca = self.ca / "swtpm-localca-rootca-cert.pem"  # the manufacturer's root
        self.process = None
        self.start()

    def start(self):
        self.port = _free_port_pair()
        self.tcti = f"swtpm:host=127.0.0.1,port={self.port}"
        self.process = track(subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.state}",
             "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
             "--ctrl", f"type=tcp,port={self.port + 1},bindaddr=127.0.0.1",
             "--flags", "not-need-init,startup-clear"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port + 1), timeout=0.5).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    fail(f"swtpm exited {self.process.returncode}: {self.process.stderr.read()}")
                time.sleep(0.05)
        fail("swtpm did not listen within 10 s")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def env(self):
        """The environment for tpm2-tools and openssl's tpm2 provider against this TPM."""
        return dict(os.environ, TPM2TOOLS_TCTI=self.tcti, TPM2OPENSSL_TCTI=self.tcti)
