"""The browser's origin allowlist against hostile pages: real Chromium, two loopback sites, one allowed ("home"), one
refused ("away"). Each escape must be refused before away's server sees any request (its access log stays empty) and
the step must say what was refused."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from environments.actions import Click, Type, Wait
from environments.base import Observation
from environments.browser import BrowserConfig, BrowserEnv
from environments.errors import OriginNotAllowedError
from tests.environments.sites import Page, Redirect, Site, serve_site

VIEWPORT = (400, 300)
RED = (255, 0, 0)
# A link or button at the top left (CSS 20..140 x 20..60) and a second one below it (20..140 x 100..140).
FIRST, SECOND = (60, 40), (60, 120)
BOX = "position:absolute;left:20px;width:120px;height:40px;display:block"
CLICKS = "<script>window.clicks = []; document.addEventListener('click', e => clicks.push(e.target.id));</script>"


def away_routes() -> dict[str, Page | Redirect]:
    # Whatever away would show is red and reports that its script ran; none of it may ever be requested.
    page = Page("<!doctype html><title>away</title><body style='margin:0;background:#f00'><script>fetch('/ran')</script>")
    return {path: page for path in ("/frame", "/slow", "/post", "/start", "/tab", "/popup", "/prefetch", "/object")}


def home_routes(away: Site) -> dict[str, Page | Redirect]:
    ws = away.ws_url
    return {
        "/": Page(f"<!doctype html><title>home</title><button id=b style='{BOX};top:20px'>b</button>{CLICKS}"),
        "/iframe.html": Page(
            "<!doctype html><title>iframe</title><body style='margin:0'>"
            "<iframe src='/frame-hop' style='position:absolute;left:0;top:0;width:400px;height:300px;border:0'></iframe>"
        ),
        "/frame-hop": Redirect(f"{away.url}/frame"),
        "/object.html": Page("<!doctype html><title>object</title><object data='/object-hop' type='text/html'></object>"),
        "/object-hop": Redirect(f"{away.url}/object"),
        "/slow.html": Page(
            f"<!doctype html><title>slow</title><a id=a href='/slow-hop' style='{BOX};top:20px'>a</a>"
            f"<button id=b style='{BOX};top:100px'>b</button>{CLICKS}"
        ),
        "/slow-hop": Redirect(f"{away.url}/slow", delay=1.5),
        "/form.html": Page(
            "<!doctype html><title>form</title><form method=post action='/post-hop'>"
            f"<input type=hidden name=secret value=s3cret><button id=s style='{BOX};top:20px'>send</button></form>"
        ),
        "/post-hop": Redirect(f"{away.url}/post", status=307),
        "/start-hop": Redirect(f"{away.url}/start"),
        "/tab.html": Page(
            f"<!doctype html><title>tab</title><a id=a href='/tab-hop' target=_blank style='{BOX};top:20px'>a</a>"
            f"<button id=b onclick=\"window.open('{away.url}/popup')\" style='{BOX};top:100px'>b</button>"
        ),
        "/tab-hop": Redirect(f"{away.url}/tab"),
        "/speculation.html": Page(
            "<!doctype html><title>speculation</title><script type=speculationrules>"
            f'{{"prefetch": [{{"urls": ["{away.url}/prefetch"]}}], "prerender": [{{"urls": ["{away.url}/prerender"]}}]}}'
            f"</script><a id=a href='{away.url}/prefetch' style='{BOX};top:20px'>a</a>"
        ),
        # Every kind of sub-resource to away, then a same-origin request that says the page has tried them all.
        "/subresources.html": Page(
            "<!doctype html><title>subresources</title>"
            f"<img src='{away.url}/image.png'><link rel=stylesheet href='{away.url}/style.css'>"
            f"<script async src='{away.url}/script.js'></script><script>"
            f"fetch('{away.url}/fetch').catch(() => 0);"
            f"navigator.sendBeacon('{away.url}/beacon', 'data');"
            f"try {{ new WebSocket('{ws}/socket'); }} catch (e) {{}}"
            "const worker = new Worker('/worker.js');"
            "fetch('/data').then(r => r.text()).then(t => { document.title = 'same origin: ' + t; fetch('/done'); });"
            "</script>"
        ),
        "/worker.js": Page(
            f"try {{ new WebSocket('{ws}/worker-socket'); }} catch (e) {{}}"
            f"fetch('{away.url}/worker-fetch').catch(() => 0).finally(() => fetch('/worker-done'));",
            "text/javascript",
        ),
        "/data": Page("ok", "text/plain"),
        "/webrtc.html": Page(
            "<!doctype html><title>webrtc</title><script>"
            "const port = new URLSearchParams(location.search).get('port');"
            "const connection = new RTCPeerConnection({iceServers: [{urls: 'stun:127.0.0.1:' + port}]});"
            "connection.createDataChannel('x');"
            "connection.createOffer().then(offer => connection.setLocalDescription(offer));"
            "</script>"
        ),
        "/many.html": Page(
            "<!doctype html><title>many</title><script>"
            f"for (let i = 0; i < 120; i++) {{ const image = new Image(); image.src = '{away.url}/many/' + i; }}"
            f"new Image().src = '{away.url}/long?' + 'x'.repeat(100000);"
            "</script>"
        ),
    }


@pytest.fixture(scope="module")
def away() -> Iterator[Site]:
    with serve_site(away_routes()) as site:
        yield site


@pytest.fixture(scope="module")
def home(away: Site) -> Iterator[Site]:
    with serve_site(home_routes(away)) as site:
        yield site


@pytest.fixture(autouse=True)
def fresh_logs(home: Site, away: Site) -> Iterator[None]:
    home.log.clear()
    away.log.clear()
    yield
    assert away.paths() == [], "the refused site was reached"


def config(home: Site, **kwargs: Any) -> BrowserConfig:
    return BrowserConfig(home.url + "/", viewport=VIEWPORT, allowed_origins=(home.origin,), **kwargs)


@pytest.fixture(scope="module")
def browser(home: Site) -> Iterator[BrowserEnv]:
    with BrowserEnv(config(home)) as env:
        yield env


@pytest.fixture(scope="module")
def strict_browser(home: Site) -> Iterator[BrowserEnv]:
    with BrowserEnv(config(home, strict_origins=True)) as env:
        yield env


def open_page(env: BrowserEnv, home: Site, path: str) -> Observation:
    observation = env.reset(options={"url": home.url + path})
    assert observation.info["url"] == home.url + path
    return observation


def blocked_until(env: BrowserEnv, condition: Any, first: Observation | None = None, steps: int = 20) -> list[dict]:
    """Every ``info["blocked"]`` entry of ``first`` and of up to ``steps`` short waits, until ``condition`` holds."""
    blocked = list(first.info["blocked"]) if first is not None else []
    for _ in range(steps):
        if condition(blocked):
            return blocked
        blocked += env.step(Wait(0.25)).info["blocked"]
    pytest.fail(f"the expected refusals were not reported; blocked: {blocked}")


def test_an_iframe_that_redirects_out_is_refused_before_the_request(browser: BrowserEnv, home: Site, away: Site) -> None:
    observation = open_page(browser, home, "/iframe.html")
    blocked = blocked_until(browser, lambda entries: entries, observation)
    assert blocked == [{"url": f"{away.url}/frame", "kind": "frame", "method": "GET", "redirected_from": f"{home.url}/frame-hop"}]
    frame = browser.page.frames[1]
    assert frame.url in ("", "about:blank")  # the frame kept its initial empty document
    assert observation.screenshot.getpixel((200, 150)) != RED
    assert browser.step(Click((200, 150))).error is None  # a click on the frame reaches nothing of away
    assert "/frame-hop" in home.paths()


def test_an_object_frame_that_redirects_out_is_refused(browser: BrowserEnv, home: Site, away: Site) -> None:
    observation = open_page(browser, home, "/object.html")
    blocked = blocked_until(browser, lambda entries: entries, observation)
    assert [(entry["url"], entry["kind"]) for entry in blocked] == [(f"{away.url}/object", "frame")]


def test_a_slow_redirect_is_refused_when_it_arrives_after_the_capture(browser: BrowserEnv, home: Site, away: Site) -> None:
    open_page(browser, home, "/slow.html")
    observation = browser.step(Click(FIRST))  # the server answers the link with a redirect only after 1.5 s
    assert observation.info["url"] == f"{home.url}/slow.html"
    blocked = blocked_until(browser, lambda entries: entries, observation)
    assert blocked == [{"url": f"{away.url}/slow", "kind": "page", "method": "GET", "redirected_from": f"{home.url}/slow-hop"}]
    # The tab is still the page the model saw: its next click lands there.
    observation = browser.step(Click(SECOND))
    assert observation.info["url"] == f"{home.url}/slow.html" and observation.error is None
    assert browser.page.evaluate("window.clicks") == ["a", "b"]


def test_a_307_post_redirect_never_resends_the_body_out(browser: BrowserEnv, home: Site, away: Site) -> None:
    open_page(browser, home, "/form.html")
    observation = browser.step(Click(FIRST))
    blocked = blocked_until(browser, lambda entries: entries, observation)
    assert blocked == [{"url": f"{away.url}/post", "kind": "page", "method": "POST", "redirected_from": f"{home.url}/post-hop"}]
    assert [(r.method, r.body) for r in home.log if r.path == "/post-hop"] == [("POST", b"secret=s3cret")]
    assert browser.page.url == f"{home.url}/form.html"


def test_a_start_url_that_redirects_out_is_an_error(browser: BrowserEnv, home: Site, away: Site) -> None:
    with pytest.raises(OriginNotAllowedError, match=r"start page .*/start-hop' redirects to .*/start'.*refused") as caught:
        browser.reset(options={"url": home.url + "/start-hop"})
    assert caught.value.url == f"{away.url}/start"
    assert open_page(browser, home, "/").info["blocked"] == []  # the browser is still usable
    with pytest.raises(OriginNotAllowedError, match="not in allowed_origins"):  # and a start page out of the list
        browser.reset(options={"url": f"{away.url}/start"})
    start_hop = BrowserConfig(home.url + "/start-hop", viewport=VIEWPORT, allowed_origins=(home.origin,))
    with BrowserEnv(start_hop) as env, pytest.raises(OriginNotAllowedError, match="redirects to"):
        env.reset()


def test_a_new_tab_that_redirects_out_is_closed_and_the_agent_stays(browser: BrowserEnv, home: Site, away: Site) -> None:
    open_page(browser, home, "/tab.html")
    observation = browser.step(Click(FIRST))  # target=_blank to a same-origin URL that redirects to away
    blocked = blocked_until(browser, lambda entries: entries, observation)
    assert blocked == [{"url": f"{away.url}/tab", "kind": "popup", "method": "GET", "redirected_from": f"{home.url}/tab-hop"}]
    observation = browser.step(Click(SECOND))  # window.open straight to away
    blocked = blocked_until(browser, lambda entries: entries, observation)
    assert blocked == [{"url": f"{away.url}/popup", "kind": "popup", "method": "GET"}]
    observation = browser.step(Wait(0.0))
    assert observation.info["tabs"] == 1 and observation.info["url"] == f"{home.url}/tab.html"
    assert observation.info["title"] == "tab"


def test_speculation_rules_cannot_prefetch_a_refused_page(browser: BrowserEnv, home: Site, away: Site) -> None:
    open_page(browser, home, "/speculation.html")
    browser.step(Wait(1.0))  # time for a prefetch, were one allowed
    observation = browser.step(Click(FIRST))  # the link to the (not) prefetched page
    blocked = blocked_until(browser, lambda entries: entries, observation)
    assert [(entry["url"], entry["kind"]) for entry in blocked] == [(f"{away.url}/prefetch", "page")]
    assert browser.page.url == f"{home.url}/speculation.html"


EVERY_SUBRESOURCE = ("/image.png", "/style.css", "/script.js", "/fetch", "/beacon", "/socket", "/worker-socket", "/worker-fetch")


def test_without_strict_mode_subresources_reach_other_origins(browser: BrowserEnv, home: Site, away: Site) -> None:
    # What the default allowlist does not do, shown: a page on an allowed origin loads from anywhere.
    open_page(browser, home, "/subresources.html")
    paths = away.wait_for(lambda paths: all(path in paths for path in EVERY_SUBRESOURCE), "every sub-resource")
    assert {r.path: r.upgrade for r in away.log}["/socket"] == "websocket"
    assert set(paths) <= {*EVERY_SUBRESOURCE, "/favicon.ico"}
    away.log.clear()  # (the fixture checks that the log is empty at the end)


def test_strict_mode_keeps_subresources_off_other_origins(strict_browser: BrowserEnv, home: Site, away: Site) -> None:
    observation = open_page(strict_browser, home, "/subresources.html")
    # The page and its worker say when they have tried everything; then away must still have seen nothing.
    home.wait_for(lambda paths: "/done" in paths and "/worker-done" in paths, "the page's and the worker's last request")
    assert away.paths() == []
    expected = {f"{away.url}{path}" for path in ("/image.png", "/style.css", "/script.js", "/fetch", "/beacon", "/worker-fetch")}
    expected |= {f"{away.ws_url}/socket", f"{away.ws_url}/worker-socket"}
    blocked = blocked_until(strict_browser, lambda entries: expected <= {entry["url"] for entry in entries}, observation)
    kinds = {entry["url"].rsplit("/", 1)[1]: entry["kind"] for entry in blocked}
    assert (kinds["image.png"], kinds["script.js"], kinds["style.css"]) == ("image", "script", "stylesheet")
    # fetch, beacons and WebSockets are refused by the connect-src policy, in the page and in its worker
    assert (kinds["fetch"], kinds["beacon"], kinds["worker-fetch"]) == ("connect", "connect", "connect")
    assert kinds["socket"] == kinds["worker-socket"] == "websocket"
    # The same origin still works, the policy the filter adds to documents included.
    assert strict_browser.step(Wait(0.0)).info["title"] == "same origin: ok"


@pytest.mark.parametrize("strict", [False, True])
def test_webrtc_udp_is_off_in_strict_mode_only(strict: bool, home: Site) -> None:
    # A STUN server on loopback: ICE gathering sends it binding requests over UDP unless WebRTC's UDP is off.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stun:
        stun.bind(("127.0.0.1", 0))
        stun.settimeout(0.2)
        with BrowserEnv(config(home, strict_origins=strict)) as env:
            open_page(env, home, f"/webrtc.html?port={stun.getsockname()[1]}")
            packets = 0
            for _ in range(10):  # up to ~2 s of gathering
                env.step(Wait(0.0))
                with contextlib.suppress(TimeoutError):
                    stun.recvfrom(2048)
                    packets += 1
                if packets:
                    break
    assert (packets > 0) is not strict


def test_strict_mode_also_filters_navigations(strict_browser: BrowserEnv, home: Site, away: Site) -> None:
    observation = open_page(strict_browser, home, "/iframe.html")
    blocked = blocked_until(strict_browser, lambda entries: entries, observation)
    assert [(entry["url"], entry["kind"]) for entry in blocked] == [(f"{away.url}/frame", "frame")]


def test_the_blocked_list_is_bounded(strict_browser: BrowserEnv, home: Site, away: Site) -> None:
    observation = open_page(strict_browser, home, "/many.html")
    blocked, omitted = list(observation.info["blocked"]), observation.info.get("blocked_omitted", 0)
    for _ in range(20):
        if len(blocked) + omitted >= 121:
            break
        observation = strict_browser.step(Wait(0.25))
        blocked += observation.info["blocked"]
        omitted += observation.info.get("blocked_omitted", 0)
    assert len(blocked) + omitted == 121 and omitted >= 121 - 50
    assert all(len(entry["url"]) <= 2000 for entry in blocked)  # a 100 kB URL, if kept, is cut


def test_a_bug_in_the_filter_refuses_the_request_and_surfaces(browser: BrowserEnv, home: Site) -> None:
    open_page(browser, home, "/")
    browser._filter._on_paused({"requestId": "interception-job-0.0"})  # type: ignore[union-attr]  (no request at all)
    with pytest.raises(RuntimeError, match="the origin filter failed on a request"):
        browser.step(Wait(0.0))
    assert open_page(browser, home, "/").info["blocked"] == []  # reported once; the next episode is clean


def test_a_page_on_a_refused_origin_is_never_shown_or_acted_on(home: Site, away: Site) -> None:
    # The second line of defence alone: with the network filter switched off (as if it had missed a request), the
    # page is checked before each action and after each capture.
    with BrowserEnv(config(home)) as env:
        open_page(env, home, "/")
        env._filter.close()  # type: ignore[union-attr]
        env.page.evaluate(f"location.href = '{away.url}/start'")
        env.page.wait_for_url(f"{away.url}/start")
        observation = env.step(Click(FIRST))  # the action is refused: the page is no longer the one the model saw
        assert "outside the allowlist" in observation.error
        assert observation.info["url"] == f"{home.url}/" and observation.screenshot.getpixel((200, 150)) != RED
        assert {"url": f"{away.url}/start", "kind": "observation"} in observation.info["blocked"]
        env.page.evaluate(f"location.href = '{away.url}/start'")
        env.page.wait_for_url(f"{away.url}/start")
        observation = env.step(Wait(0.0))  # a capture of away is never shown
        assert observation.info["url"] == f"{home.url}/" and observation.screenshot.getpixel((200, 150)) != RED
        assert [entry["kind"] for entry in observation.info["blocked"]] == ["observation"]
    assert "/start" in away.paths()  # away was reached here, by design of this test
    away.log.clear()


def test_long_typing_and_waits_stop_when_asked(home: Site) -> None:
    polls = {"count": 0}

    def stop_after_three_polls() -> bool:
        polls["count"] += 1
        return polls["count"] > 3

    with BrowserEnv(BrowserConfig(home.url + "/form.html", viewport=VIEWPORT)) as env:
        env.reset()
        env.page.evaluate("document.body.insertAdjacentHTML('beforeend', '<input id=t autofocus>'); t.focus()")
        env.should_stop = stop_after_three_polls
        observation = env.step(Type("x" * 500, submit=True))
        typed = env.page.input_value("#t")
        assert len(typed) == 48 and observation.error is None  # three chunks of 16, then the stop
        assert observation.info["cut_short"] == "type: stopped after 48 of 500 characters; Enter was not pressed"
        assert "cut_short" not in env.step(Type("")).info
        env.should_stop = lambda: True
        observation = env.step(Wait(8.0))
        assert observation.info["cut_short"] == "wait: stopped after 0.0 of 8.0 s"
        env.should_stop = None
        assert "cut_short" not in env.step(Type("abc")).info and env.page.input_value("#t").endswith("abc")
