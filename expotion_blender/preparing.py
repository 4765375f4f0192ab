"""One strip (or a range of the edit) on its way from a click on Score to a job: the interactive,
non-blocking path.

Owns: `Preparation`, which the runtime steps from timer ticks: it waits until the service has been
checked (a Score never renders a proxy for a service that is down or not ready), then snapshots the
strip (`snapshot.plan`) or the range (`snapshot.plan_range`) and, when the video must be uploaded,
renders the proxy one frame per step
(`proxy.ProxyRender`), so Blender keeps drawing, shows the progress and can cancel. `step()` returns
the `JobRequest` once it is ready to send. Main thread only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy

from expotion_protocol.params import JobParams

from . import proxy, snapshot, timeline, vse
from .jobs import JobRequest, TempRef
from .preferences import Settings


@dataclass
class Preparation:
    key: str  # the job's key in the runtime's job list
    label: str
    scene: str
    strip_key: str
    strip_name: str
    base: JobParams
    settings: Settings
    replace_key: str = ""
    analyze: bool = False  # for "Suggest from video": the request goes to POST /v1/analyze
    span: timeline.Span | None = None  # a range of the edit scored as one piece (no strip)
    temp: TempRef | None = None  # the temp track the music replaces (its melody is sent)
    cleared: bool = False  # the service answered and is ready
    plan: snapshot.Plan | None = field(default=None, repr=False)
    render: proxy.ProxyRender | None = field(default=None, repr=False)

    @property
    def phase(self) -> str:
        if not self.cleared:
            return "checking the service"
        if self.render is None:
            return "preparing"
        return f"rendering proxy {self.render.done}/{self.render.total}"

    @property
    def progress(self) -> float:
        if self.render is None or not self.render.total:
            return 0.0
        return 0.1 * self.render.done / self.render.total  # the proxy is the first tenth of the job

    def step(self, path_mode: bool) -> JobRequest | None:
        """One piece of main-thread work -> the request once it is ready (raises `ExpotionError`).
        `path_mode`: the service, as checked before this strip was cleared, reads local paths."""
        if self.plan is None:
            scene = bpy.data.scenes.get(self.scene)
            if scene is None:
                raise snapshot.StripError(f"the scene '{self.scene}' was deleted before '{self.label}' was sent")
            strip = None
            if self.span is not None:
                self.plan = snapshot.plan_range(
                    scene, self.span, self.base, self.settings, self.replace_key, path_mode=path_mode, temp=self.temp
                )
            else:
                strip = vse.find_strip(scene, self.strip_key, self.strip_name)
                if strip is None:
                    raise snapshot.StripError(f"the movie strip '{self.strip_name}' was deleted before it was sent")
                self.plan = snapshot.plan(
                    scene,
                    strip,
                    self.base,
                    self.settings,
                    self.replace_key,
                    for_analysis=self.analyze,
                    path_mode=path_mode,
                    temp=self.temp,
                )
            if not self.plan.needs_proxy:
                return snapshot.request(self.plan, self.settings)
            self.render = proxy.ProxyRender(scene, strip, self.settings.proxy_height, self.plan.picture)
            return None
        if self.render is not None and self.render.step():
            return snapshot.request(self.plan, self.settings, upload_frames=self.render.finish())
        return None

    def abort(self) -> None:
        if self.render is not None:
            self.render.abort()

    def restart(self) -> None:
        """Drop the render in progress (before a save: its scene must not be saved); the next step
        snapshots the strip again."""
        self.abort()
        self.plan = self.render = None
