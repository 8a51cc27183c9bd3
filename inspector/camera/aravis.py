"""GigE Vision and USB3 Vision cameras through Aravis 0.8 (PyGObject; the aravis extra).

`AravisSource.open` finds the camera (by Aravis id, serial number or IP address), sets
the GenICam features station.yaml names, fills a pool of stream buffers and starts
acquisition; `read` pops one buffer, converts it straight into the caller's frame buffer
(the one copy: the buffer's memory is viewed in place, not copied out by PyGObject) and
gives the buffer back to the stream. `gi` is imported here only, when the kind is chosen.
"""

from __future__ import annotations

import ctypes
import ipaddress
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from inspector.camera.base import FrameShape, FrameSource, Pacer, SourceLost, SourceReport
from inspector.camera.config import AravisCamera, AravisRoi, AravisStrobe, AravisTrigger
from inspector.errors import DataError, InspectorError
from inspector.types import FrameOrigin

__all__ = [
    "AravisSource",
    "CameraInfo",
    "FeatureValue",
    "aravis_id",
    "aravis_module",
    "camera_features",
    "close_camera",
    "discover",
    "frame_shape_of",
    "open_camera",
]

log = logging.getLogger(__name__)

# How long one pop waits, so that `interrupt` (stop) is seen within this.
POLL_US = 100_000
# A software trigger gets its frame within this (plus twice the exposure), or is lost.
RETRIGGER_S = 0.2
# Lost frames are announced at most this often, with their count.
NOTE_INTERVAL_S = 1.0
# GigE Vision 1.x frame ids are 16-bit and skip 0 when they wrap.
GEV_FRAME_ID_WRAP = 0xFFFF
WRAP_WINDOW = 4096  # a step back from this near the top to this near 0 is a wrap

# GenICam (PFNC) name -> OpenCV conversion into BGR. PFNC names a Bayer pattern by its
# first row, OpenCV's COLOR_Bayer?? by its second: BayerRG8 (R G / G B) is OpenCV's BG.
_TO_BGR: dict[str, int | None] = {
    "Mono8": cv2.COLOR_GRAY2BGR,
    "BayerRG8": cv2.COLOR_BayerBG2BGR,
    "BayerGB8": cv2.COLOR_BayerGR2BGR,
    "BayerGR8": cv2.COLOR_BayerGB2BGR,
    "BayerBG8": cv2.COLOR_BayerRG2BGR,
    "RGB8": cv2.COLOR_RGB2BGR,
    "BGR8": None,  # already what the station takes
}
_CHANNELS_IN = {"RGB8": 3, "BGR8": 3}  # the rest: one byte per pixel


def aravis_module() -> ModuleType:
    """The Aravis 0.8 bindings; a loud error saying what to install when they are missing."""
    try:
        import gi

        gi.require_version("Aravis", "0.8")
        from gi.repository import Aravis
    except (ImportError, ValueError) as exc:
        raise InspectorError(
            f"camera kind aravis needs PyGObject (pip install '.[aravis]') and Aravis 0.8's "
            f"introspection data (apt-get install gir1.2-aravis-0.8): {exc}"
        ) from exc
    return Aravis


@dataclass(frozen=True)
class CameraInfo:
    """One camera Aravis can see, as `inspector camera list` prints it."""

    id: str
    vendor: str
    model: str
    serial: str
    address: str
    protocol: str

    def matches(self, wanted: str) -> bool:
        return wanted in (self.id, self.serial, self.address)


@dataclass(frozen=True)
class FeatureValue:
    """One GenICam feature and its current value, as `inspector camera features` prints it."""

    name: str
    kind: str
    value: str


def discover(aravis: ModuleType | None = None) -> tuple[CameraInfo, ...]:
    """Every camera Aravis finds (GigE by broadcast on every interface, USB3 on the bus)."""
    arv = aravis or aravis_module()
    arv.update_device_list()
    return tuple(
        CameraInfo(
            id=arv.get_device_id(i) or "",
            vendor=arv.get_device_vendor(i) or "",
            model=arv.get_device_model(i) or "",
            serial=arv.get_device_serial_nbr(i) or "",
            address=arv.get_device_address(i) or "",
            protocol=arv.get_device_protocol(i) or "",
        )
        for i in range(arv.get_n_devices())
    )


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def resolve_camera(arv: ModuleType, wanted: str | None) -> str:
    """The name Aravis opens: the id of the camera found by id, serial or address. An IP
    address nobody answered a broadcast from is used as it is (discovery can miss a camera
    on another subnet, or on loopback, while a unicast connection reaches it)."""
    found = discover(arv)
    if wanted is None:
        if len(found) != 1:
            names = ", ".join(c.id for c in found) or "none"
            raise DataError(f"camera.camera: not set, and {len(found)} cameras found ({names})")
        return found[0].id
    for info in found:
        if info.matches(wanted):
            return info.address if info.protocol == "GigEVision" and info.address else info.id
    if _is_address(wanted):
        return wanted
    raise DataError(f"camera.camera: no camera {wanted!r} found (inspector camera list)")


def open_camera(arv: ModuleType, wanted: str | None) -> Any:
    """An Aravis Camera for `wanted` (see `resolve_camera`); DataError naming it."""
    name = resolve_camera(arv, wanted)
    try:
        return arv.Camera.new(name)
    except Exception as exc:  # GLib.Error: the camera vanished or refused the connection
        raise DataError(f"camera {name}: cannot be opened: {_glib_message(exc)}") from exc


def _glib_message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def frame_shape_of(width: int, height: int, mono: bool) -> FrameShape:
    """What the station gets: BGR, or Mono8 kept single-channel (`mono: true`)."""
    return (height, width, 1 if mono else 3)


# ---------------------------------------------------------------- configuration


@contextmanager
def _feature(field: str, what: str) -> Iterator[None]:
    """A GenICam write the camera refused becomes a DataError naming the config field."""
    try:
        yield
    except Exception as exc:  # GLib.Error from the device
        raise DataError(f"camera.{field}: the camera refused {what}: {_glib_message(exc)}") from exc


def _set_if_present(device: Any, name: str, value: str) -> None:
    if device.is_feature_available(name):
        device.set_string_feature_value(name, value)


def configure(camera: Any, config: AravisCamera) -> None:
    """Set what station.yaml names, in the order GenICam features depend on each other:
    trigger off first (some cameras lock formats while armed), then format and region,
    then timing, then the trigger and the strobe."""
    device = camera.get_device()
    with _feature("trigger", "TriggerMode=Off"):
        camera.clear_triggers()
    with _feature("pixel_format", f"PixelFormat={config.pixel_format}"):
        camera.set_pixel_format_from_string(config.pixel_format)
    if config.roi is not None:
        roi = config.roi
        _check_roi_fits(camera, roi)
        with _feature("roi", f"region {roi.width}x{roi.height} at ({roi.x}, {roi.y})"):
            camera.set_region(roi.x, roi.y, roi.width, roi.height)
    _configure_timing(camera, device, config)
    if camera.is_gv_device():
        _configure_gige(camera, config)
    if config.trigger is not None:
        _configure_trigger(camera, device, config.trigger)
    if config.strobe is not None:
        _configure_strobe(device, config.strobe)


def _check_roi_fits(camera: Any, roi: AravisRoi) -> None:
    """Some cameras (the simulator among them) take a region past the sensor's edge."""
    sensor_width, sensor_height = camera.get_sensor_size()
    if roi.x + roi.width > sensor_width or roi.y + roi.height > sensor_height:
        raise DataError(
            f"camera.roi: {roi.width}x{roi.height} at ({roi.x}, {roi.y}) does not fit "
            f"the {sensor_width}x{sensor_height} sensor"
        )


def _configure_timing(camera: Any, device: Any, config: AravisCamera) -> None:
    if config.exposure_us is not None:
        with _feature("exposure_us", f"ExposureTime={config.exposure_us}"):
            _set_if_present(device, "ExposureAuto", "Off")
            camera.set_exposure_time(config.exposure_us)
    if config.gain_db is not None:
        with _feature("gain_db", f"Gain={config.gain_db}"):
            _set_if_present(device, "GainAuto", "Off")
            camera.set_gain(config.gain_db)
    software = config.trigger is not None and config.trigger.source == "Software"
    if config.frame_rate is not None and config.trigger is None:
        with _feature("frame_rate", f"AcquisitionFrameRate={config.frame_rate}"):
            camera.set_frame_rate(config.frame_rate)
    elif software and camera.is_frame_rate_available():
        # the software trigger paces the frames: the camera must not be slower
        _low, high = camera.get_frame_rate_bounds()
        camera.set_frame_rate(high)


def _configure_gige(camera: Any, config: AravisCamera) -> None:
    if config.packet_size is not None:
        with _feature("packet_size", f"GevSCPSPacketSize={config.packet_size}"):
            camera.gv_set_packet_size(config.packet_size)
    else:
        # the largest packet that gets through the path, as arv-camera-test does
        camera.gv_auto_packet_size()
    if config.packet_delay_ns is not None:
        with _feature("packet_delay_ns", f"GevSCPD={config.packet_delay_ns}"):
            camera.gv_set_packet_delay(config.packet_delay_ns)


def _configure_trigger(camera: Any, device: Any, trigger: AravisTrigger) -> None:
    with _feature("trigger.source", f"TriggerSource={trigger.source}"):
        camera.set_trigger(trigger.source)  # FrameStart, TriggerMode=On
    if trigger.source != "Software":
        with _feature("trigger.activation", f"TriggerActivation={trigger.activation}"):
            _set_if_present(device, "TriggerActivation", trigger.activation)
    if trigger.delay_us is not None:
        with _feature("trigger.delay_us", f"TriggerDelay={trigger.delay_us}"):
            device.set_float_feature_value("TriggerDelay", trigger.delay_us)


def _configure_strobe(device: Any, strobe: AravisStrobe) -> None:
    with _feature("strobe", f"{strobe.line} as {strobe.source} output"):
        if not device.is_feature_available("LineSelector"):
            raise InspectorError("it has no LineSelector (no configurable output line)")
        device.set_string_feature_value("LineSelector", strobe.line)
        _set_if_present(device, "LineMode", "Output")
        device.set_string_feature_value("LineSource", strobe.source)
        if device.is_feature_available("LineInverter"):
            device.set_boolean_feature_value("LineInverter", strobe.inverted)


def camera_features(camera: Any) -> tuple[FeatureValue, ...]:
    """Every GenICam feature the camera's description declares, with its current value."""
    genicam = camera.get_device().get_genicam()
    names = _feature_names(genicam, "Root", set())
    values = []
    for name in names:
        node = genicam.get_node(name)
        kind = type(node).__name__.removeprefix("Gc")
        if kind == "Command":  # executed, never read
            values.append(FeatureValue(name, kind, ""))
            continue
        try:
            value = node.get_value_as_string()
        except Exception as exc:  # a feature that cannot be read now (not implemented)
            value = f"<{_glib_message(exc)}>"
        values.append(FeatureValue(name, kind, value or ""))
    return tuple(values)


def _feature_names(genicam: Any, name: str, seen: set[str]) -> list[str]:
    """Feature names under category `name`, depth first, in the description's order."""
    node = genicam.get_node(name)
    if node is None or name in seen:
        return []
    seen.add(name)
    if type(node).__name__ != "GcCategory":
        return [name]
    found: list[str] = []
    for child in node.get_features() or ():
        found.extend(_feature_names(genicam, child, seen))
    return found


# ---------------------------------------------------------------- buffers


class _BufferView:
    """The image bytes of an Aravis buffer as a numpy view, without PyGObject's copy
    (`get_image_data` returns new `bytes`). A PyGObject GObject's hash is the address of
    its C object, which libaravis's own accessor takes."""

    def __init__(self) -> None:
        lib = ctypes.CDLL("libaravis-0.8.so.0")
        self._image_data = lib.arv_buffer_get_image_data
        self._image_data.restype = ctypes.c_void_p
        self._image_data.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
        self._size = ctypes.c_size_t()

    def __call__(self, buffer: Any, height: int, width: int, channels: int) -> np.ndarray:
        address = self._image_data(hash(buffer), ctypes.byref(self._size))
        needed = height * width * channels
        if not address or self._size.value < needed:
            raise DataError(f"an image of {self._size.value} bytes, {needed} expected")
        raw = (ctypes.c_uint8 * needed).from_address(address)
        return np.ctypeslib.as_array(raw).reshape(height, width, channels)


class _FrameIds:
    """Counts the frames the camera's ids say never arrived."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._unnamed = 0  # frames seen without an id since the last id, counted already

    def gap(self, frame_id: int) -> int:
        if frame_id == 0:  # no id: the camera gives none, or the frame's leader was lost
            self._unnamed += 1
            return 0
        unnamed, self._unnamed = self._unnamed, 0
        return max(0, self._skipped(frame_id) - unnamed)

    def _skipped(self, frame_id: int) -> int:
        last, self._last = self._last, frame_id
        if last is None:
            return 0
        if frame_id > last:
            return frame_id - last - 1
        if last > GEV_FRAME_ID_WRAP - WRAP_WINDOW and frame_id < WRAP_WINDOW:
            return GEV_FRAME_ID_WRAP - last + frame_id - 1  # a 16-bit id wrapped, skipping 0
        return 0  # a step back: the camera restarted its count

    def restart(self) -> None:
        self._last = None
        self._unnamed = 0


# ---------------------------------------------------------------- the source


@dataclass(frozen=True)
class _Opened:
    """What `open` made ready for the constructor."""

    camera: Any
    stream: Any
    camera_id: str
    pixel_format: str
    mono: bool
    width: int
    height: int
    fps: float | None


class AravisSource(FrameSource[AravisCamera]):
    """A GenICam camera: free run, software trigger (one `read`, one trigger) or a
    hardware line (every frame the camera sends is one part)."""

    kind = "aravis"
    live = True

    def __init__(self, opened: _Opened, config: AravisCamera) -> None:
        shape = frame_shape_of(opened.width, opened.height, opened.mono)
        super().__init__(f"aravis {opened.camera_id}", shape, opened.fps)
        self._opened = opened
        self._config = config
        self._view = _BufferView()
        self._convert = _TO_BGR[opened.pixel_format]
        self._channels_in = _CHANNELS_IN.get(opened.pixel_format, 1)
        self._ids = _FrameIds()
        self._interrupted = threading.Event()
        self._control_lost = threading.Event()
        self._handler = opened.camera.get_device().connect("control-lost", self._on_control_lost)
        trigger = config.trigger
        self._software = trigger is not None and trigger.source == "Software"
        # a line-triggered camera is silent between parts: liveness is asked, not assumed
        self._liveness_s = trigger.liveness_s if trigger and not self._software else None
        self._restarts_in_a_row = 0
        self._triggered = trigger is not None  # each frame is a part
        self._pacer = Pacer(config.frame_rate if self._software else None)
        self._frames_read = 0
        self._incomplete = 0
        self._missed = 0
        self._restarts = 0
        self._triggered_at = math.inf  # when the last software trigger was fired
        # a software trigger with no frame after this is taken for lost and fired again
        self._retrigger_s = RETRIGGER_S + 2e-6 * (config.exposure_us or 0.0)
        self._unannounced = 0  # frames lost since the last note
        self._announced_at = -math.inf
        self._closed = False

    @classmethod
    def open(cls, config: AravisCamera) -> AravisSource:
        arv = aravis_module()
        camera = open_camera(arv, config.camera)
        try:
            return cls(_start(camera, config), config)
        except BaseException:
            close_camera(camera)
            raise

    @property
    def camera_id(self) -> str:
        return self._opened.camera_id

    def software_trigger(self) -> None:
        """Fire TriggerSoftware (in Software trigger mode `read` does it itself)."""
        self._triggered_at = time.monotonic()
        self._opened.camera.software_trigger()

    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        if self._software:
            self._pacer.wait()
            if self._interrupted.is_set():
                return None
            self.software_trigger()
        buffer = self._wait_for_buffer()
        if buffer is None:
            return None
        try:
            return self._deliver(buffer, out)
        finally:
            self._opened.stream.push_buffer(buffer)

    def interrupt(self) -> None:
        self._interrupted.set()
        self._pacer.interrupt()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        camera = self._opened.camera
        camera.get_device().disconnect(self._handler)
        close_camera(camera)

    def report(self) -> SourceReport:
        problems = []
        if self._missed or self._incomplete:
            problems.append(
                f"{self.name}: {self._missed} frame(s) missed (frame id gaps), "
                f"{self._incomplete} incomplete"
            )
        return SourceReport(self._frames_read, self._incomplete, None, tuple(problems))

    # ------------------------------------------------------------ waiting

    def _wait_for_buffer(self) -> Any | None:
        """The next complete buffer; None once interrupted. Incomplete ones are counted
        and given back. No complete frame for longer than the config allows restarts the
        stream once (free run, software trigger) or asks the camera whether it is there
        (line trigger: silence between parts is normal); SourceLost when it is not."""
        since = time.monotonic()  # the last complete frame, or the last check
        while not self._interrupted.is_set():
            if self._control_lost.is_set():
                raise SourceLost(f"{self.name}: the camera stopped answering (control lost)")
            buffer = self._opened.stream.timeout_pop_buffer(POLL_US)
            if buffer is not None:
                if self._complete(buffer):
                    return buffer
                self._opened.stream.push_buffer(buffer)
                if self._software:  # the frame this read triggered is lost: trigger again
                    self.software_trigger()
            since = self._on_silence(since)
        return None

    def _on_silence(self, since: float) -> float:
        """What no complete frame since `since` means; returns when silence counts from."""
        silent = time.monotonic() - since
        if self._liveness_s is not None:
            if silent >= self._liveness_s:
                self._check_alive()
                return time.monotonic()
            return since
        if silent < self._config.frame_timeout_s:
            if self._software and time.monotonic() - self._triggered_at >= self._retrigger_s:
                self._lost(1, "a software trigger got no frame")
                self.software_trigger()
            return since
        if self._restarts_in_a_row >= 1:
            raise SourceLost(f"{self.name}: no frame for {silent:.1f} s after a stream restart")
        self._restart_stream(silent)
        return time.monotonic()

    def _check_alive(self) -> None:
        try:
            self._opened.camera.get_device().read_register(0)
        except Exception as exc:
            raise SourceLost(f"{self.name}: does not answer: {_glib_message(exc)}") from exc

    def _restart_stream(self, silent: float) -> None:
        camera = self._opened.camera
        self._check_alive()  # a camera that is gone is reopened, not restarted
        camera.stop_acquisition()
        camera.start_acquisition()
        self._ids.restart()
        self._restarts += 1
        self._restarts_in_a_row += 1
        self._note(
            "stream_restarted",
            f"{self.name}: no frame for {silent:.1f} s, stream restarted",
            self._restarts,
        )
        if self._software:
            self.software_trigger()  # the trigger that got no frame

    def _complete(self, buffer: Any) -> bool:
        status = buffer.get_status()
        if status == aravis_module().BufferStatus.SUCCESS:
            return True
        frame_id = int(buffer.get_frame_id())
        gap = self._ids.gap(frame_id)  # its id counts as seen: not missed again later
        self._missed += gap
        self._incomplete += 1
        self._lost(1 + gap, f"frame {frame_id} incomplete ({status.value_nick})")
        return False

    def _lost(self, count: int, why: str) -> None:
        """Count frames lost; announce them at most once per NOTE_INTERVAL_S, with the
        count since the last note (a flaky cable must not flood the event log)."""
        self._unannounced += count
        now = time.monotonic()
        if now - self._announced_at < NOTE_INTERVAL_S:
            return
        count, self._unannounced, self._announced_at = self._unannounced, 0, now
        self._note(
            "frames_missed",
            f"{self.name}: {count} frame(s) lost, last: {why} "
            f"({self._missed} missed, {self._incomplete} incomplete so far)",
            count,
            self._triggered,
        )

    # ------------------------------------------------------------ converting

    def _deliver(self, buffer: Any, out: np.ndarray | None) -> np.ndarray:
        opened = self._opened
        raw = self._view(buffer, opened.height, opened.width, self._channels_in)
        target = out if out is not None and self.fits(out) else np.empty(self.frame_shape, np.uint8)
        self._convert_into(raw, target)
        frame_id = int(buffer.get_frame_id())
        self._count_gap(frame_id)
        self._restarts_in_a_row = 0
        self._frames_read += 1
        self._origin = FrameOrigin(
            opened.camera_id, frame_id, int(buffer.get_timestamp()) or None, opened.pixel_format
        )
        return target

    def _convert_into(self, raw: np.ndarray, target: np.ndarray) -> None:
        if self._convert is None or self._opened.mono:
            np.copyto(target, raw)
        else:
            cv2.cvtColor(raw[..., 0] if self._channels_in == 1 else raw, self._convert, target)

    def _count_gap(self, frame_id: int) -> None:
        gap = self._ids.gap(frame_id)
        if gap:
            self._missed += gap
            self._lost(gap, f"{gap} frame id(s) skipped before frame {frame_id}")

    def _on_control_lost(self, *_: object) -> None:  # on Aravis's heartbeat thread
        self._control_lost.set()


def _start(camera: Any, config: AravisCamera) -> _Opened:
    """Configure, fill the stream's buffer pool, start acquiring."""
    configure(camera, config)
    x, y, width, height = camera.get_region()
    roi = config.roi
    if roi is not None and (x, y, width, height) != (roi.x, roi.y, roi.width, roi.height):
        # Aravis clamps a region to the sensor instead of failing
        raise DataError(
            f"camera.roi: the camera refused {roi.width}x{roi.height} at ({roi.x}, {roi.y}) "
            f"and set {width}x{height} at ({x}, {y})"
        )
    pixel_format = camera.get_pixel_format_as_string()
    if pixel_format != config.pixel_format:
        raise DataError(f"camera.pixel_format: the camera kept {pixel_format}")
    stream = camera.create_stream(None, None)
    if stream is None:
        raise DataError(f"camera {camera.get_device_id()}: cannot open a stream")
    payload = camera.get_payload()
    arv = aravis_module()
    for _ in range(config.buffers):
        stream.push_buffer(arv.Buffer.new_allocate(payload))
    camera.start_acquisition()
    fps = config.frame_rate or (camera.get_frame_rate() if config.trigger is None else None)
    return _Opened(camera, stream, aravis_id(camera), pixel_format, config.mono, width, height, fps)


def aravis_id(camera: Any) -> str:
    """The id Aravis lists the camera by (vendor-model-serial): the same after a reconnect."""
    parts = (camera.get_vendor_name(), camera.get_model_name(), camera.get_device_serial_number())
    return "-".join(part for part in parts if part)


def close_camera(camera: Any) -> None:
    """Stop acquiring and give up control of a camera that may be gone already (nothing
    to report then). Control is given up explicitly: PyGObject frees the camera only when
    the last reference goes, and until then a reopen would find it still controlled."""
    device = camera.get_device()
    for step in (camera.stop_acquisition, getattr(device, "leave_control", None)):
        try:
            if step is not None:
                step()
        except Exception as exc:
            log.debug("closing the camera: %s", _glib_message(exc))
