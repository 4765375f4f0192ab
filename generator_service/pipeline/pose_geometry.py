"""Geometry of MediaPipe's landmarks, pure numpy: head rotation from the face's transformation
matrix, the POSE part of the features (normalised positions, velocities, motion energy), and the
head box the face is looked for in when the full frame finds none."""

from __future__ import annotations

import numpy as np

from expotion_protocol.features import FEATURE_SPEC

_L_SHOULDER, _R_SHOULDER = 1, 2  # rows of the shoulders in POSE_LANDMARKS
_NOSE, _L_EAR, _R_EAR = 0, 7, 8  # MediaPipe pose indices used for the head box
#: Landmarks below this visibility are guesses: no velocity, not in the motion energy.
VISIBILITY_MIN = 0.7
#: Window of the rolling median of the shoulder width used as the length unit, seconds.
SCALE_WINDOW_S = 2.0


def head_rotation(matrix: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) / pi from a facial transformation matrix [4, 4] -> [3].

    The rotation part is orthonormalised, then decomposed as R = Rz(roll) Ry(yaw) Rx(pitch) in
    MediaPipe's camera frame (x right, y up, z towards the viewer). A frontal face gives ~0; a
    mirrored image flips the signs of yaw and roll.
    """
    u, _, vt = np.linalg.svd(np.asarray(matrix, dtype=np.float64)[:3, :3])
    r = u @ vt
    yaw = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    pitch = np.arctan2(r[2, 1], r[2, 2])
    roll = np.arctan2(r[1, 0], r[0, 0])
    return np.array([yaw, pitch, roll]) / np.pi


def finite_difference(times: np.ndarray, values: np.ndarray, valid: np.ndarray, max_step_s: float) -> np.ndarray:
    """d values / d t over the valid frames only: times [N], values [N, C], valid [N] -> [N, C].

    Central differences on the (non-uniform) true times inside runs of valid frames, one-sided at the
    ends of a run; a run breaks where consecutive valid frames are more than `max_step_s` apart.
    Frames sharing one time (a source slower than the sampling rate) are averaged first. Invalid
    frames and single-frame runs get 0.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.zeros_like(values)
    idx = np.flatnonzero(valid)
    if idx.size < 2:
        return out
    t_unique, inverse = np.unique(times[idx], return_inverse=True)
    x_unique = np.zeros((t_unique.size,) + values.shape[1:])
    np.add.at(x_unique, inverse, values[idx])
    x_unique /= np.bincount(inverse).reshape((-1,) + (1,) * (values.ndim - 1))
    v_unique = np.zeros_like(x_unique)
    breaks = np.flatnonzero(np.diff(t_unique) > max_step_s) + 1
    for run in np.split(np.arange(t_unique.size), breaks):
        if run.size >= 2:
            v_unique[run] = np.gradient(x_unique[run], t_unique[run], axis=0)
    out[idx] = v_unique[inverse]
    return out


def rolling_median(times: np.ndarray, values: np.ndarray, valid: np.ndarray, half_window_s: float) -> np.ndarray:
    """Median of `values` over valid frames within +-half_window_s: [N] -> [N] (0 where invalid)."""
    out = np.zeros(len(times))
    idx = np.flatnonzero(valid)
    t_valid, v_valid = times[idx], values[idx]
    lo = np.searchsorted(t_valid, t_valid - half_window_s, side="left")
    hi = np.searchsorted(t_valid, t_valid + half_window_s, side="right")
    for k, i in enumerate(idx):
        out[i] = np.median(v_valid[lo[k] : hi[k]])
    return out


def pose_features(
    times: np.ndarray, points: np.ndarray, visibility: np.ndarray, present: np.ndarray, max_step_s: float
) -> np.ndarray:
    """The POSE part of the features: points [N, 13, 2] in pixels (y down), visibility [N, 13],
    present [N] -> [N, 56].

    The unit of length is the shoulder width, a rolling median over `SCALE_WINDOW_S` (a per-frame
    width would jump when the performer turns); the origin is the shoulder centre. Velocities and the
    motion energy use only landmarks with visibility >= `VISIBILITY_MIN`: the pose model also guesses
    hidden or off-frame hands, and those guesses jitter by several shoulder widths per second on a
    still image. Positions keep the guesses (the best estimate available).
    """
    n = len(times)
    out = np.zeros((n, FEATURE_SPEC.group("pose").stop - FEATURE_SPEC.group("pose").start))
    if not present.any():
        return out
    points = np.asarray(points, dtype=np.float64)
    centre = 0.5 * (points[:, _L_SHOULDER] + points[:, _R_SHOULDER])  # [N, 2]
    width = np.linalg.norm(points[:, _L_SHOULDER] - points[:, _R_SHOULDER], axis=1)
    scale = np.maximum(rolling_median(times, width, present, SCALE_WINDOW_S / 2), 1.0)  # [N] px
    rel = (points - centre[:, None, :]) / scale[:, None, None]  # [N, 13, 2]
    seen = present[:, None] & (np.asarray(visibility) >= VISIBILITY_MIN)  # [N, 13]
    rel_vel = np.zeros_like(rel)
    abs_vel = np.zeros_like(rel)
    for k in range(rel.shape[1]):
        rel_vel[:, k] = finite_difference(times, rel[:, k], seen[:, k], max_step_s)
        abs_vel[:, k] = finite_difference(times, points[:, k], seen[:, k], max_step_s) / scale[:, None]
    body_vel = finite_difference(times, centre, present, max_step_s) / scale[:, None]  # [N, 2]
    speed = np.linalg.norm(abs_vel, axis=2)  # [N, 13]
    energy = (speed * seen).sum(axis=1) / np.maximum(seen.sum(axis=1), 1)  # [N]
    out = np.concatenate(
        [rel.reshape(n, -1), rel_vel.reshape(n, -1), body_vel, energy[:, None], np.ones((n, 1))], axis=1
    )
    out[~present] = 0.0
    return out


def head_box(landmarks: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Square box (x0, y0, x1, y1) around the head from pose landmarks [33, >=2] in pixels, or None.

    The side is 1.2 shoulder widths (at least 2.5 ear distances): the face then fills ~40% of the
    crop, inside the range of FaceLandmarker's short-range detector.
    """
    xy = landmarks[:, :2]
    shoulders = np.linalg.norm(xy[11] - xy[12])
    ears = np.linalg.norm(xy[_L_EAR] - xy[_R_EAR])
    side = max(1.2 * shoulders, 2.5 * ears)
    cx, cy = xy[_NOSE]
    x0, y0 = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
    x1, y1 = int(min(cx + side / 2, width)), int(min(cy + side / 2, height))
    if x1 - x0 < 32 or y1 - y0 < 32:
        return None
    return x0, y0, x1, y1
