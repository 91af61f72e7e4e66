"""browser: a real headless Chromium (Debian's `chromium`) driven over the DevTools protocol.

Owns: starting Chromium through crrtest.Proc (its own process group, so
crrtest stops it and every child it forked on any path, and Browser.close
stops it first with Browser.close then SIGTERM), the one page target's
websocket (python3-websocket), commands and their answers, and what the page
did: console errors, uncaught exceptions, log entries of level error, and
every URL it requested. Does not own what a test checks.

    b = browser.Browser()            # starts chromium, connects to its page
    b.goto("http://127.0.0.1:PORT/")
    b.wait_js("document.body.dataset.ready === 'true'", what="page loaded")
    rows = b.js("[...document.querySelectorAll('td')].map(td => td.dataset.value)")
    b.screenshot(path)
    b.close()
"""
import base64
import json
import os
import shutil
import signal
import time
import urllib.request

import websocket

import crrtest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Browser:
    """One headless Chromium with one page, on a random DevTools port of loopback."""

    def __init__(self, width=1440, height=900, timeout=60.0):
        self.profile = crrtest.tmpdir("crrchrome-")
        self.proc = crrtest.Proc([
            CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--metrics-recording-only", "--mute-audio",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank",
        ], name="chromium", insecure=False)
        self.console_errors, self.exceptions, self.log_errors, self.requests = [], [], [], []
        self._next = 0
        port_file = os.path.join(self.profile, "DevToolsActivePort")

        def port():
            if not self.proc.alive():
                raise AssertionError(f"chromium exited {self.proc.p.returncode}:\n{self.proc.stderr()[-3000:]}")
            with open(port_file) as f:
                lines = f.read().split("\n")
            return int(lines[0]) if len(lines) >= 2 and lines[0].isdigit() else None

        self.port = crrtest.wait_until(port, timeout=timeout, what="chromium's DevToolsActivePort")

        def page():
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=5) as r:
                targets = json.loads(r.read())
            return next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)

        url = crrtest.wait_until(page, timeout=timeout, what="chromium's page target")
        self.ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable")

    # ------------------------------------------------------------ protocol

    def _event(self, msg):
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.exceptions.append(d.get("exception", {}).get("description") or d.get("text", ""))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            self.log_errors.append(f"{e.get('source')}: {e.get('text')} {e.get('url', '')}")
        elif method == "Network.requestWillBeSent":
            self.requests.append(p.get("request", {}).get("url", ""))

    def call(self, method, timeout=60.0, **params):
        """Sends one command and returns its result (events that come first are recorded)."""
        self._next += 1
        mid = self._next
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)
        raise AssertionError(f"{method}: no answer within {timeout}s")

    def js(self, expression):
        """The value of a JavaScript expression in the page (awaited when a promise; JSON values)."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"{expression}: {r['exceptionDetails']}")
        return r.get("result", {}).get("value")

    def wait_js(self, expression, timeout=30.0, what=None):
        """Polls an expression until it is truthy; returns its value."""
        return crrtest.wait_until(lambda: self.js(expression), timeout=timeout, what=what or expression, interval=0.1)

    def goto(self, url):
        self.call("Page.navigate", url=url)

    def screenshot(self, path):
        """A PNG of the page as it shows now (the whole page, not only the window)."""
        r = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def close(self):
        """Closes the browser (Browser.close, then SIGTERM, then crrtest's SIGKILL of its group)
        and checks that no process of its group is left."""
        try:
            self.call("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.ws.close()
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except AssertionError:
            self.proc.term(timeout=10)
        self.proc.close()  # SIGKILL to the whole group if anything is left

        def group_gone():
            try:
                os.killpg(self.proc.pid, 0)
                return False
            except ProcessLookupError:
                return True
            except PermissionError:
                return False

        crrtest.wait_until(group_gone, timeout=10, what="chromium's processes to end")
