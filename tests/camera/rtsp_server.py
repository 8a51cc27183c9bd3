"""An RTSP server for the tests: GStreamer's gst-rtsp-server (Debian's
gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good) serving a live test pattern as
MJPEG over RTP, for pulling clients such as OpenCV's FFmpeg backend.

    python -m tests.camera.rtsp_server PORT [WIDTH HEIGHT FPS]

serves rtsp://127.0.0.1:PORT/test and prints "ready" once it listens.
"""

from __future__ import annotations

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true pattern=ball ! "
    "video/x-raw,format=I420,width={width},height={height},framerate={fps}/1 ! "
    "jpegenc quality=70 ! rtpjpegpay name=pay0 pt=26 )"
)


def main(port: str, width: str = "320", height: str = "240", fps: str = "25") -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE.format(width=width, height=height, fps=fps))
    factory.set_shared(True)
    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on port {port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main(*sys.argv[1:])
