"""The README's TensorBoard picture: a small CNN's tape, written by
``SummaryWriter.add_graph``, in TensorBoard's graph tab (headless Chromium, driven by
Playwright; TensorBoard served on a local port and stopped after).

    python -m tools.measure.tensorboard_graph_figure [OUT.png]
"""
import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

FIGURE = os.path.join("notebooks", "figures", "tensorboard_graph.png")


@contextlib.contextmanager
def tensorboard_server(logdir, timeout=90):
    """Serve ``logdir`` with TensorBoard on a free local port; yields its URL once it
    answers (within ``timeout`` seconds), and stops the server on exit."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.TemporaryFile()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                               "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"TensorBoard did not answer at {url}: {log.read()[-2000:].decode(errors='replace')}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def write_demo_run(logdir):
    """A CNN's graph and a few scalars, as a training script would write them."""
    import autograd as ag
    import nn
    from autograd.utils.tensorboard import SummaryWriter

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                          nn.MaxPool2d(2))
            self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4 * 4, 10))

        def forward(self, x):
            return self.classifier(self.features(x))

    ag.manual_seed(0)
    with SummaryWriter(logdir) as writer:
        writer.add_graph(SmallCNN(), ag.randn(2, 1, 8, 8))
        for step in range(20):
            writer.add_scalar("loss/train", 2.3 * 0.9 ** step, step)


def main(out=FIGURE):
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as logdir:
        write_demo_run(os.path.join(logdir, "tapegrad_cnn"))
        with tensorboard_server(logdir) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page(viewport={"width": 1280, "height": 1280})
            page.goto(f"{url}/#graphs", timeout=60_000)
            page.wait_for_selector("g.node", timeout=60_000)
            # open the model's scope, then its features and their ops, so their ops show
            # (TensorBoard cuts long labels, the more the deeper: match their starts)
            for scope in ("SmallCNN", "Sequential.featu", "Conv2d", "BatchNorm", "ReLU", "MaxPool"):
                closed = page.locator("g.node.meta:not(.expanded)")     # namespace boxes not yet open
                closed.filter(has_text=re.compile(f"^{scope}")).first.dblclick()
                page.wait_for_timeout(1500)
                page.get_by_text("Fit to screen").click()       # keep what opened in view
                page.wait_for_timeout(1000)
            page.screenshot(path=out)
            browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
