"""Quiet by default: the command line shows our progress, results and errors, not library chatter.

Three kinds of noise reach a user's terminal from the libraries we drive:
- native log lines that MediaPipe/LiteRT/TFLite (absl, glog) write straight to file descriptor 2
  ("W0000 ... face_landmarker_graph.cc:181] ...", "INFO: [environment.cc:36] ...",
  "WARNING: [model_load.cc:402] Sparsity tensors ..."). No environment variable turns them off, so
  `NativeStderrFilter` puts a pipe on fd 2 and forwards every line except those notices (native
  errors and fatal lines pass; Python's own `sys.stderr` bypasses the pipe);
- Python warnings (deprecations, transformers' config notices) from third-party modules;
- transformers' / huggingface_hub's own loggers and progress bars ("Writing model shards").

`quiet_process(verbose)` is called once by the program entry points (never by library code or in
tests: it changes process-wide state). With `--verbose` it does nothing, and everything is shown.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import re
import sys
import threading
import warnings

#: Informational and warning lines of absl/glog and LiteRT/TFLite; errors ("E...", "ERROR:", "F...") pass.
NATIVE_NOTICE = re.compile(
    rb"^(?:[IW]\d{4} [\d:. ]+\s*\d+ [\w./-]+:\d+\] "  # glog/absl: I/W<mmdd> <time> <thread> <file:line>]
    rb"|(?:INFO|WARNING): \[[\w./-]+:\d+\] "  # LiteRT: INFO: [environment.cc:36] ...
    rb"|INFO: Created TensorFlow Lite"
    rb"|WARNING: Logging before InitGoogle\(\))"
)
#: Third-party modules whose Python warnings are not the user's business unless --verbose.
THIRD_PARTY = (
    "transformers",
    "huggingface_hub",
    "torch",
    "peft",
    "mediapipe",
    "librosa",
    "audioread",
    "google.protobuf",
    "av",
    "numba",
    "uvicorn",
    "starlette",
    "fastapi",
    "pydantic",
)


class NativeStderrFilter:
    """Fd 2 through a pipe: a thread forwards each line to the real stderr unless it is a native notice."""

    def __init__(self) -> None:
        self._real = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self._read = read
        self._thread = threading.Thread(target=self._forward, name="native-stderr-filter", daemon=True)
        self._thread.start()

    def python_stderr(self) -> io.TextIOWrapper:
        """A text stream on the real stderr, for Python's own messages (progress bars, errors)."""
        raw = os.fdopen(os.dup(self._real), "wb", buffering=0)
        return io.TextIOWrapper(
            raw,
            encoding=sys.stderr.encoding or "utf-8",
            errors="backslashreplace",
            line_buffering=True,
            write_through=True,
        )

    def _forward(self) -> None:
        pending = b""
        while True:
            chunk = os.read(self._read, 65536)
            if not chunk:
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            kept = [line + b"\n" for line in lines if not NATIVE_NOTICE.match(line)]
            if kept:
                os.write(self._real, b"".join(kept))
        if pending and not NATIVE_NOTICE.match(pending):
            os.write(self._real, pending)

    def close(self) -> None:
        """Put the real stderr back on fd 2 and forward what is still in the pipe."""
        os.dup2(self._real, 2)  # closes the pipe's write end held by fd 2: the thread sees EOF
        self._thread.join(timeout=2.0)


def quiet_process(verbose: bool) -> None:
    """Silence third-party chatter for this process (see the module docstring); no-op when `verbose`."""
    if verbose:
        return
    for module in THIRD_PARTY:
        pattern = rf"{re.escape(module)}(\.|$)"
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=pattern)
        warnings.filterwarnings("ignore", category=FutureWarning, module=pattern)
        warnings.filterwarnings("ignore", category=UserWarning, module=pattern)
    for name in ("transformers", "huggingface_hub", "peft", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GLOG_minloglevel", "1")
    try:
        native = NativeStderrFilter()
    except OSError:  # no fd 2 (detached service): nothing reaches a terminal anyway
        return
    sys.stderr = native.python_stderr()
    atexit.register(native.close)
