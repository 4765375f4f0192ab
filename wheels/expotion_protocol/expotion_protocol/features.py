"""The feature layout: what one frame of visual features holds, in which order.

One definition for everything that reads or writes features: the service's extraction, the adapter
(its face and pose input slices), datasets, evaluation. A layout change bumps `FEATURE_SPEC.version`;
adapters and cached features record the name and version they were made with.
"""

from __future__ import annotations

from dataclasses import dataclass

#: MediaPipe's 52 blendshape categories in the model's output order.
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
    "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight",
    "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)  # fmt: skip

#: Upper-body pose landmarks used (MediaPipe pose indices 0, 11..22) and their names.
POSE_LANDMARKS: tuple[tuple[int, str], ...] = (
    (0, "nose"), (11, "left_shoulder"), (12, "right_shoulder"), (13, "left_elbow"),
    (14, "right_elbow"), (15, "left_wrist"), (16, "right_wrist"), (17, "left_pinky"),
    (18, "right_pinky"), (19, "left_index"), (20, "right_index"), (21, "left_thumb"),
    (22, "right_thumb"),
)  # fmt: skip


@dataclass(frozen=True)
class FeatureSpec:
    """Layout of one feature frame: names of the `dim` values and named groups of them.

    `groups` maps a group name to a half-open range of indices; `face` and `pose` are slices of the
    two streams (each gap-filled with its own mask).
    """

    name: str
    version: int
    names: tuple[str, ...]
    groups: tuple[tuple[str, int, int], ...]

    @property
    def dim(self) -> int:
        return len(self.names)

    def group(self, name: str) -> slice:
        """Slice of the named group, e.g. `spec.group("pose.velocity")`."""
        for group_name, start, stop in self.groups:
            if group_name == name:
                return slice(start, stop)
        raise KeyError(f"no feature group {name!r}; known: {[g[0] for g in self.groups]}")

    def span(self, name: str) -> tuple[int, int]:
        """The named group as a `(start, stop)` pair (for configs stored as JSON)."""
        part = self.group(name)
        return part.start, part.stop

    def index(self, name: str) -> int:
        """Index of one named value, e.g. `spec.index("pose.energy")`."""
        return self.names.index(name)

    @property
    def face(self) -> slice:
        return self.group("face")

    @property
    def pose(self) -> slice:
        return self.group("pose")

    @property
    def key(self) -> str:
        """`name/version`, as recorded with cached features and results."""
        return f"{self.name}/{self.version}"


def _build_spec() -> FeatureSpec:
    groups: list[tuple[str, list[str]]] = [
        ("face.blendshapes", [f"face.bs.{n}" for n in BLENDSHAPE_NAMES]),
        ("face.head", ["face.head.yaw", "face.head.pitch", "face.head.roll"]),
        ("face.present", ["face.present"]),
        ("pose.position", [f"pose.pos.{n}.{a}" for _, n in POSE_LANDMARKS for a in "xy"]),
        ("pose.velocity", [f"pose.vel.{n}.{a}" for _, n in POSE_LANDMARKS for a in "xy"]),
        ("pose.body_velocity", ["pose.body_vel.x", "pose.body_vel.y"]),
        ("pose.energy", ["pose.energy"]),
        ("pose.present", ["pose.present"]),
    ]
    names: list[str] = []
    ranges: list[tuple[str, int, int]] = []
    for group_name, group_names in groups:
        ranges.append((group_name, len(names), len(names) + len(group_names)))
        names.extend(group_names)
    n_face = sum(len(g) for n, g in groups if n.startswith("face."))
    ranges = [("face", 0, n_face), ("pose", n_face, len(names)), *ranges]
    return FeatureSpec("expotion-face-pose", 1, tuple(names), tuple(ranges))


#: The feature layout of this version: FACE 56 (52 blendshapes, yaw/pitch/roll / pi, presence),
#: POSE 56 (13 landmarks x,y in shoulder widths from the shoulder centre, their velocities,
#: body-centre velocity x,y, motion energy, presence). Lengths are shoulder widths, times seconds.
FEATURE_SPEC = _build_spec()
