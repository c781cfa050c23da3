"""A real mosquitto broker on a free loopback port, a publisher, and an agent site whose
config subscribes to it. Used by mqtt_test.py."""
import json
import pathlib
import signal
import socket
import sqlite3
import subprocess
import textwrap
import time

import paho.mqtt.client as mqtt

from harness import Site, fail, track


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, folder, port=None, persistent=False, tls=None, password_file=None, dynsec_file=None):
        self.folder = pathlib.Path(folder)
        self.port = port or free_port()
        # As root, mosquitto drops to user "mosquitto", who cannot read our temp files.
        lines = ["user root", f"listener {self.port} 127.0.0.1", "allow_anonymous true",
                 "max_queued_messages 0", "max_inflight_messages 0"]
        if persistent:
            lines += ["persistence true", f"persistence_location {self.folder}/",
                      "autosave_interval 1"]
        if password_file:  # one listener: anonymous off, users from a mosquitto_passwd file
            lines[2] = "allow_anonymous false"
            lines.append(f"password_file {password_file}")
        if dynsec_file:  # the dynamic security plugin: users, roles and ACLs that refuse subscriptions
            plugin = next(pathlib.Path("/usr/lib").glob("*/mosquitto_dynamic_security.so"))
            lines[2] = "allow_anonymous false"
            lines += [f"plugin {plugin}", f"plugin_opt_config_file {dynsec_file}"]
        if tls:
            lines += [f"cafile {tls['ca']}", f"certfile {tls['cert']}", f"keyfile {tls['key']}",
                      "require_certificate true"]
        self.conf = self.folder / f"mosquitto-{self.port}.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc = None
        self.start()

    def start(self):
        self.log = open(self.folder / f"mosquitto-{self.port}.log", "a")
        self.proc = track(subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=self.log,
                                           stderr=subprocess.STDOUT))
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        fail("mosquitto did not start: " + (self.folder / f"mosquitto-{self.port}.log").read_text()[-500:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)

    def dynsec(self, *args):
        """A mosquitto_ctrl dynsec command as the admin a `mosquitto_ctrl dynsec init` made."""
        subprocess.run(["mosquitto_ctrl", "-h", "127.0.0.1", "-p", str(self.port), "-u", "admin", "-P", "adminpw",
                        "dynsec", *args], check=True, capture_output=True)

    def publisher(self, client_id="it-publisher", user=None, password=None):
        c = mqtt.Client(client_id=client_id, clean_session=True)
        if user:
            c.username_pw_set(user, password)
        c.connect("127.0.0.1", self.port)
        c.loop_start()
        return c


def wait_connected(journal, timeout=30, connects=1):
    """Until the agent's state file says each of its MQTT sources has connected `connects`
    times and the broker granted every subscription: a message published before that is
    not kept for the agent."""
    state = pathlib.Path(str(journal) + ".state.json")
    deadline = time.time() + timeout
    sources = []
    while time.time() < deadline:
        try:
            sources = json.loads(state.read_text() or "{}").get("mqtt", [])
        except (OSError, ValueError):
            pass
        if sources and all(s.get("state") == "connected" and s.get("connects", 0) >= connects
                           and 0 < s.get("subscriptions", 0) == s.get("subscribed") for s in sources):
            return sources[0]
        time.sleep(0.05)
    fail(f"the agent did not subscribe within {timeout} s: {sources}")


def publish_all(client, messages, qos=1):
    """messages: (topic, payload) pairs; waits until the broker has every one."""
    infos = [client.publish(t, p, qos=qos) for t, p in messages]
    for i in infos:
        i.wait_for_publish(timeout=60)
        if not i.is_published():
            fail("the broker did not take a message")


class MqttSite(Site):
    """A site with points m0..m{n-1}.energy_kwh fed by one MQTT subscription."""

    def __init__(self, agent, broker_url, meters=5, fmt="json", extra_source="", extra_sub="",
                 extra_journal=""):
        super().__init__(agent, points=0, extra_journal=extra_journal)
        text = self.config.read_text().split("[[sources.simulated]]")[0]
        for i in range(meters):
            text += f'[[points]]\nid = "m{i}.energy_kwh"\nunit = "kWh"\nkind = "cumulative"\n'
        text += textwrap.dedent(f"""\
            [[sources.mqtt]]
            name = "site-broker"
            url = "{broker_url}"
            keepalive_s = 5
            reconnect_min_ms = 200
            reconnect_max_ms = 2000
            {extra_source}
            [[sources.mqtt.subscriptions]]
            topic = "site/{{meter}}/energy"
            point = "{{meter}}.energy_kwh"
            format = "{fmt}"
            {extra_sub}
            """)
        self.config.write_text(text)

    def stored_count(self):
        try:
            with sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=5) as db:
                return db.execute("SELECT count(*) FROM records WHERE point != ''").fetchone()[0]
        except sqlite3.Error:
            return 0

    def wait_stored(self, n, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.stored_count() >= n:
                return True
            time.sleep(0.2)
        return False

    def readings(self):
        """(point, value, ts_ms, source) of every reading, from the signed bytes."""
        with sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT canonical FROM records ORDER BY seq").fetchall()
        out = []
        for (c,) in rows:
            r = json.loads(c)
            if r["type"] == "reading":
                out.append((r["point"], r["value"], r["ts_ms"], r["source"]))
        return out

    def wait_mqtt_state(self, predicate, seconds):
        """The first MQTT source's state once predicate(state) holds (or the last seen)."""
        deadline = time.time() + seconds
        st = {}
        while time.time() < deadline:
            st = self.state().get("mqtt", [{}])[0]
            if predicate(st):
                break
            time.sleep(0.25)
        return st

    def state(self):
        p = pathlib.Path(str(self.journal) + ".state.json")
        return json.loads(p.read_text()) if p.exists() else {}
