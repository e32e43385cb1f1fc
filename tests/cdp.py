"""Drive headless chromium through the DevTools protocol over ``--remote-debugging-pipe`` (file
descriptors 3 and 4, NUL-terminated JSON messages): no websocket client and no extra package.

    with Browser(tmp_path) as b:
        b.open(page.as_uri())
        b.eval("document.title")
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from report_fixture import chromium


class CdpError(RuntimeError):
    pass


class Browser:
    def __init__(self, tmp_path: Path, width: int = 1280, height: int = 900, timeout: float = 60.0):
        self.tmp, self.timeout = Path(tmp_path), timeout
        self.size = (width, height)
        self._id = 0
        self._buf = b""
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def __enter__(self) -> Browser:
        r, self._w = os.pipe()
        self._r, w = os.pipe()
        # above 4, so that the child's 3<&N 4>&M cannot overwrite one end with the other
        to_child_r, from_child_w = fcntl.fcntl(r, fcntl.F_DUPFD, 10), fcntl.fcntl(w, fcntl.F_DUPFD, 10)
        os.close(r)
        os.close(w)
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--remote-debugging-pipe",
                f"--window-size={self.size[0]},{self.size[1]}", f"--user-data-dir={self.tmp / 'chrome-profile'}",
                "about:blank"]
        shell = f'exec "$0" "$@" 3<&{to_child_r} 4>&{from_child_w} {to_child_r}<&- {from_child_w}>&-'
        self.proc = subprocess.Popen(["bash", "-c", shell, chromium(), *args], pass_fds=(to_child_r, from_child_w),
                                     stdout=subprocess.DEVNULL, stderr=open(self.tmp / "chromium.log", "wb"),
                                     env={**os.environ, "HOME": str(self.tmp)})
        os.close(to_child_r)
        os.close(from_child_w)
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.send("Browser.close", session=False)
        except Exception:  # noqa: BLE001 - the browser may be gone already
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)

    def send(self, method: str, session: bool = True, **params: Any) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._next()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _next(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buf:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise CdpError("chromium stopped answering; see chromium.log")
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise CdpError("chromium closed the pipe; see chromium.log")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def open(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression (a promise is awaited); a thrown error raises CdpError."""
        res = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in res:
            raise CdpError(f"{expression[:80]}: {res['exceptionDetails'].get('exception', {}).get('description')}")
        return res["result"].get("value")

    def wait_for(self, condition: str, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.eval(f"!!({condition})"):
            if time.monotonic() > deadline:
                raise CdpError(f"timed out waiting for {condition}")
            time.sleep(0.1)

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            w, h = self.eval("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", **params)["data"]))
        return path

    def allow_downloads(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.send("Browser.setDownloadBehavior", session=False, behavior="allow", downloadPath=str(folder),
                  eventsEnabled=True)
