"""A pytest suite that drives version-proxy over its control API with plain HTTP (http.client).

No client package: any language that speaks HTTP and JSON can do the same (the routes are in
GET /api/openapi.json and docs/control-api.md). The proxy runs as `./proxy start` on free ports;
the FPSE server and the Office client are the project's simulators (`./proxy simulate`).

    python3 -m pytest examples/test_fpse_scopes.py
"""

import contextlib
import http.client
import json
import pathlib
import subprocess
import tempfile
import threading
import urllib.parse

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROXY_CLI = str(ROOT / "proxy")


def start_and_read(args, is_ready):
    """Starts `./proxy ARGS`, returns (process, first JSON log line on stderr for which is_ready holds)."""
    process = subprocess.Popen([PROXY_CLI, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:  # the log is JSON lines on a pipe (build messages are plain text)
        seen.append(line)
        if line.startswith("{") and is_ready(json.loads(line)):
            # Keep reading the log so that the process never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
            return process, json.loads(line)
    raise RuntimeError(f"./proxy {' '.join(args)} exited before it was ready: {''.join(seen)}")


class Control:
    """The control API: JSON in and out, the bearer token on every request."""

    def __init__(self, url, token_file):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.token = pathlib.Path(token_file).read_text().strip()

    def connection(self, timeout=70):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def headers(self):
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        conn = self.connection()
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=self.headers())
            response = conn.getresponse()
            answer = json.loads(response.read() or b"null")
        finally:
            conn.close()
        if response.status >= 400:
            # {"error", "code", "issues"?}: the message says how to fix the request.
            raise AssertionError(f"{method} {path}: {response.status} {answer['code']}: {answer['error']} {answer.get('issues', '')}")
        return answer

    @contextlib.contextmanager
    def scoped(self, rules, ttl=30_000):
        """Rules in force for the `with` block: a scope with a lease, held on its own connection.

        The hold request is never answered while the scope lives; if this process dies, the
        connection closes and the proxy removes the scope at once. The lease (`ttl`) covers the
        case where the close cannot be seen; a block longer than ttl renews with PUT /api/scopes/ID.
        """
        scope = self.call("POST", "/api/scopes", {"rules": rules, "ttl": ttl})
        hold = self.connection(timeout=None)
        hold.request("GET", f"/api/scopes/{scope['id']}/hold", headers=self.headers())
        try:
            yield scope
        finally:
            self.call("DELETE", f"/api/scopes/{scope['id']}")
            hold.close()


@pytest.fixture(scope="module")
def proxy():
    with tempfile.TemporaryDirectory() as folder:
        token_file = str(pathlib.Path(folder) / "control-token")
        args = ["start", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--control-token-file", token_file, "--log-level", "info", "--no-record"]
        process, listening = start_and_read(args, lambda line: line.get("msg") == "listening")
        try:
            yield {"url": listening["url"], "control": Control(listening["control"], listening["tokenFile"])}
        finally:
            process.terminate()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def sharepoint():
    """A SharePoint 2010 (14.0.0.6029) FPSE server."""
    process, listening = start_and_read(["simulate", "fpse", "--listen", "127.0.0.1:0", "--version", "14.0.0.6029"], lambda line: line.get("msg") == "fpse simulator listening")
    try:
        yield listening["url"]
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(autouse=True)
def fresh(proxy):
    """Each test starts with no runtime rules or scopes, an empty ring and no conversations."""
    proxy["control"].call("POST", "/api/reset")


def office_client(proxy, server, version="12.0.0.6415"):
    """`./proxy simulate fpse-client --json` through the proxy: what the Office client saw."""
    done = subprocess.run([PROXY_CLI, "simulate", "fpse-client", "--server", server, "--via", proxy["url"], "--version", version, "--json"], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_server_downgraded_to_frontpage_2002(proxy, sharepoint):
    control = proxy["control"]
    downgrade = {"id": "looks-like-fp2002", "match": {"protocol": "fpse"}, "actions": [{"serverVersion": "5.0.2.6790"}]}
    with control.scoped([downgrade]):
        seen = office_client(proxy, sharepoint)
        assert seen["serverVersion"] == "5.0.2.6790"
        assert seen["negotiated"] == "5.0.2.6790"  # Min(12.0.0.6415, 5.0.2.6790), MS-FPSE 1.7.1

        # Applied to all four exchanges: discovery, server version, open service, url to web url.
        hits = control.call("GET", "/api/rules/looks-like-fp2002/hits?count=4&wait=5000")
        assert hits["hits"] == 4
        conversation = control.call("GET", "/api/conversations")[0]
        assert conversation["negotiated"] == "5.0.2.6790"
        assert conversation["clientsSeen"] == ["12.0.0.6415", "5.0.2.6790"]  # its own build, then the negotiated one
        query = urllib.parse.urlencode({"filter": 'protocol:fpse operation:"server version"'})
        [server_version] = control.call("GET", f"/api/exchanges?{query}")
        assert server_version["versions"] == {"client": "12.0.0.6415", "server": "5.0.2.6790", "negotiated": "5.0.2.6790"}
        assert [v["code"] for v in server_version["verdicts"]] == ["accepted"]

    assert control.call("GET", "/api/scopes") == []
    assert office_client(proxy, sharepoint)["negotiated"] == "12.0.0.6415"


def test_server_refuses_every_client_as_too_old(proxy, sharepoint):
    control = proxy["control"]
    refuse = {"id": "refuse-old-client", "match": {"protocol": "fpse", "fpseMethod": "server version"}, "actions": [{"reject": "client-too-old"}]}
    with control.scoped([refuse]):
        seen = office_client(proxy, sharepoint)
        assert seen["rejected"] is True
        assert len(seen["steps"]) == 2  # discovery and server version, nothing after the refusal

        hits = control.call("GET", "/api/rules/refuse-old-client/hits?count=1&wait=5000")
        assert hits["hits"] == 1
        summary = control.call("GET", "/api/exchanges?filter=rule:refuse-old-client")[0]
        assert summary["id"] == hits["exchanges"][0]
        # 12.0.0.6415 is not too old (MS-FPSE 1.7.1): the proxy flags the refusal itself.
        verdict = next(v for v in summary["verdicts"] if v["code"] == "rejected-client-too-old")
        assert verdict["level"] == "violation"
