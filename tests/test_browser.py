"""Browser tests of the reports: headless Chromium opens every page from file://.

Chromium is driven through the DevTools protocol over ``--remote-debugging-pipe`` (file
descriptors 3 and 4, NUL-separated JSON messages), which needs nothing beyond the standard
library. For each page the tests assert that

* nothing is requested except the page itself and data: URIs, and no console message or
  uncaught exception of level error or warning occurs;
* every forest plot is rendered with a visible, non-empty box, also with JavaScript off;
* with print media emulated, every figure fits on one A4 page.

Screenshots of each page (full page) and of each forest plot are written to
``test-artifacts/`` (gitignored) so that a human can look at them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from test_report import FIXTURES, load_config, render_all

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which(
    "google-chrome")
# A4 landscape height minus the 1.2 cm margins of the print stylesheet, in CSS pixels
A4_PRINTABLE_PX = (21.0 - 2 * 1.2) / 2.54 * 96

if CHROMIUM is None:
    pytest.skip("chromium is not installed (CI installs it; apt-get install chromium)",
                allow_module_level=True)


class Browser:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="ketameta-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_fds() -> None:  # runs in the child: the pipe ends become fds 3 and 4
            # duplicate first, so that a pipe end that already is fd 3 or 4 is not lost
            read_end, write_end = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", "--remote-debugging-pipe",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire_fds, close_fds=False)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the debugging pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: str | None = None, timeout: float = 60, **params):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = 60) -> dict:
        for i, event in enumerate(self.events):
            if event.get("method") == method and event.get("sessionId") == session:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            event = self._read_message(deadline)
            if event.get("method") == method and event.get("sessionId") == session:
                return event
            self.events.append(event)

    def open(self, url: str, *, javascript: bool = True, media: str = "screen") -> str:
        """Open ``url`` in a new tab and return its session id once the page has loaded."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session)
        self.send("Emulation.setDeviceMetricsOverride", session, width=1280, height=900,
                  deviceScaleFactor=1, mobile=False)
        self.send("Emulation.setScriptExecutionDisabled", session, value=not javascript)
        self.send("Emulation.setEmulatedMedia", session, media=media)
        self.send("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired", session)
        return session

    def evaluate(self, session: str, expression: str):
        result = self.send("Runtime.evaluate", session, expression=expression,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self, session: str, path: Path, element: str | None = None) -> None:
        """Save a PNG of the whole page, or of the element with id ``element``."""
        if element is None:
            size = self.send("Page.getLayoutMetrics", session)["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
        else:
            clip = json.loads(self.evaluate(session, f"""(() => {{
                const el = document.getElementById({json.dumps(element)});
                el.scrollIntoView();
                const r = el.getBoundingClientRect();
                return JSON.stringify({{x: r.left + scrollX, y: r.top + scrollY,
                                        width: r.width, height: r.height}});
            }})()"""))
        data = self.send("Page.captureScreenshot", session, format="png",
                         captureBeyondViewport=element is None, clip={**clip, "scale": 1})["data"]
        path.write_bytes(base64.b64decode(data))

    def session_events(self, session: str) -> list[dict]:
        return [e for e in self.events if e.get("sessionId") == session]


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    return render_all(load_config(), FIXTURES / "processed", tmp_path_factory.mktemp("reports"))


def problems(browser: Browser, session: str, page_url: str) -> list[str]:
    """Console errors and warnings, exceptions, failed or external requests of a page."""
    found = []
    for event in browser.session_events(session):
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning",
                                                                           "assert"):
            found.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            found.append(f"exception: {params.get('exceptionDetails')}")
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            found.append(f"log {params['entry']['level']}: {params['entry'].get('text')}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if url != page_url and not url.startswith("data:"):
                found.append(f"request: {url}")
        elif method == "Network.loadingFailed":
            found.append(f"failed load: {params.get('errorText')}")
    return found


FOREST_BOXES = """
JSON.stringify(Array.from(document.querySelectorAll('svg[id^="forest-"]')).map(svg => {
  const r = svg.getBoundingClientRect();
  const s = getComputedStyle(svg);
  return {id: svg.id, x: r.left + scrollX, y: r.top + scrollY, width: r.width,
          height: r.height, visible: s.visibility === 'visible' && s.display !== 'none'
          && parseFloat(s.opacity) > 0, texts: svg.querySelectorAll('text').length};
}))
"""


def test_pages_open_without_errors_and_show_their_forest_plots(browser, pages):
    ARTIFACTS.mkdir(exist_ok=True)
    for name, path in pages.items():
        url = path.resolve().as_uri()
        session = browser.open(url)
        boxes = json.loads(browser.evaluate(session, FOREST_BOXES))
        assert problems(browser, session, url) == [], name
        expected = 1 if name == "index" else len(
            [a for a, e in load_config()["analyses"].items() if e["condition"] == name])
        assert len(boxes) == expected, name
        for box in boxes:
            assert box["visible"] and box["width"] > 300 and box["height"] > 80, box
            assert box["texts"] > 5, box
            # the figure fits the 1280 px window: no horizontal cut
            assert box["x"] >= 0 and box["x"] + box["width"] <= 1280, box
            browser.screenshot(session, ARTIFACTS / f"{name}-{box['id']}.png", element=box["id"])
        browser.screenshot(session, ARTIFACTS / f"{name}.png")
        # the enhancement script ran: sortable tables got their buttons
        assert browser.evaluate(session, "document.querySelectorAll('th button').length") > 0


def test_pages_read_the_same_without_javascript(browser, pages):
    for name, path in pages.items():
        url = path.resolve().as_uri()
        session = browser.open(url, javascript=False)
        boxes = json.loads(browser.evaluate(session, FOREST_BOXES))
        assert problems(browser, session, url) == [], name
        assert boxes and all(b["visible"] and b["height"] > 80 for b in boxes), name
        assert browser.evaluate(session, "document.querySelectorAll('th button').length") == 0
        assert browser.evaluate(session, "document.querySelectorAll('table tbody tr').length") > 0


def test_every_figure_fits_on_one_printed_page(browser, pages):
    for name, path in pages.items():
        url = path.resolve().as_uri()
        session = browser.open(url, media="print")
        heights = browser.evaluate(
            session, "Array.from(document.querySelectorAll('figure.plot')).map("
                     "f => f.getBoundingClientRect().height)")
        assert heights, name
        assert max(heights) < A4_PRINTABLE_PX, (name, max(heights))
        pdf = browser.send("Page.printToPDF", session, preferCSSPageSize=True)
        assert base64.b64decode(pdf["data"]).startswith(b"%PDF")


FIGURE_BOXES = """
JSON.stringify(Array.from(document.querySelectorAll('svg[id^="PREFIX"]')).map(svg => {
  const r = svg.getBoundingClientRect();
  return {id: svg.id, width: r.width, height: r.height,
          texts: svg.querySelectorAll('text').length};
}))
"""


def test_time_course_and_subgroup_figures_render(browser, pages):
    """Every condition page draws its time course and its subgroup forests, without errors.

    Screenshots of each page at 1400 px, and of each of these figures, are kept in
    test-artifacts/ for a human to look at.
    """
    import json as _json

    ARTIFACTS.mkdir(exist_ok=True)
    config = load_config()
    for name, path in pages.items():
        if name == "index":
            continue
        url = path.resolve().as_uri()
        session = browser.open(url)
        browser.send("Emulation.setDeviceMetricsOverride", session, width=1400, height=900,
                     deviceScaleFactor=1, mobile=False)
        expected_subgroups = 0
        for aid, entry in config["analyses"].items():
            if entry["condition"] != name:
                continue
            s = _json.loads((FIXTURES / "processed" / aid / "summary.json").read_text())
            if s["k"] >= 2:
                expected_subgroups += len(s["subgroups"])
        courses = json.loads(browser.evaluate(session, FIGURE_BOXES.replace("PREFIX",
                                                                             "timecourse-")))
        subgroups = json.loads(browser.evaluate(session, FIGURE_BOXES.replace("PREFIX",
                                                                               "subgroup-")))
        assert problems(browser, session, url) == [], name
        assert courses, name  # every condition page shows its time course
        assert len(subgroups) == expected_subgroups, name
        for box in courses + subgroups:
            assert box["width"] > 300 and box["height"] > 80 and box["texts"] > 5, box
            browser.screenshot(session, ARTIFACTS / f"{name}-{box['id']}.png", element=box["id"])
        browser.screenshot(session, ARTIFACTS / f"{name}-1400.png")
