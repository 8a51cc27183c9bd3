"""A stand-in browser for `bench --web`, run as `python -m inspector.web.watch URL`:
on "on" (a line on stdin) it reads the live stream as fast as it comes and polls
/api/status twice a second, as the live page does; on "off" it stops; on "end" it
prints what it received as JSON and exits. Each command is answered with a line once
done, so the bench knows the watcher is watching before it lets parts through."""

from __future__ import annotations

import json
import sys
import threading
import time

import httpx

STATUS_PERIOD_S = 0.5


class Watch:
    def __init__(self, url: str) -> None:
        self.url = url
        self.frames = 0
        self.polls = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def on(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._stream, daemon=True),
            threading.Thread(target=self._poll, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        time.sleep(0.2)  # the stream is open before the parts come

    def off(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5.0)

    def _stream(self) -> None:
        with (
            httpx.Client(timeout=10) as client,
            client.stream("GET", self.url + "live.mjpg") as response,
        ):
            for chunk in response.iter_raw():
                self.frames += chunk.count(b"Content-Type: image/jpeg")
                if self._stop.is_set():
                    return

    def _poll(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.wait(STATUS_PERIOD_S):
                client.get(self.url + "api/status").raise_for_status()
                self.polls += 1


def main() -> None:
    watch = Watch(sys.argv[1])
    for line in sys.stdin:
        command = line.strip()
        if command == "on":
            watch.on()
        elif command == "off":
            watch.off()
        elif command == "end":
            print(json.dumps({"frames_received": watch.frames, "status_polls": watch.polls}))
            return
        print("ok", flush=True)


if __name__ == "__main__":
    main()
