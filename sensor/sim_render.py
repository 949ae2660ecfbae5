"""The simulator's optics and sensor: from surfaces in a room to AMG8833 readings.

Geometry: world x to the right (as seen from the sensor looking out), y away
from the sensor's wall, z up; metres. The camera frame is (right, forward, up).

Every pixel is 7.5 degrees square (60 degree field of view over 8 pixels, an
equal-angle lens). Each pixel is supersampled by ``SUPER`` x ``SUPER`` rays and
the rendered field is one pixel wider than the sensor's on every side, so that
the optics' blur can pull in heat from just outside the field of view, as a real
lens does.

Surfaces mix in radiance, not temperature: a thermopile sees emitted power,
roughly proportional to T^4 in kelvin, so a small hot lamp in a pixel reads
warmer than the coverage-weighted mean of temperatures would say.

Bodies are ellipsoids. For a ray ``d`` from the sensor and an ellipsoid
``(X - c)^T A (X - c) <= 1`` the ray hits it when the quadratic form
``d^T M d >= 0`` with ``M = A c c^T A - (c^T A c - 1) A``: one conic per
ellipsoid, evaluated on the sample grid, with a one-sample soft edge (the
first-order distance ``Q / |grad Q|``) so that coverage changes smoothly as a
person moves rather than in steps of a sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

PIXELS = 8
MARGIN = 1
FIELD = PIXELS + 2 * MARGIN
#: rays per pixel along each axis
SUPER = 4
GRID = FIELD * SUPER
PIXEL_DEG = 7.5
PIXEL_RAD = math.radians(PIXEL_DEG)
KELVIN = 273.15
#: the sensor's output clamp: the AMG8833's specified object range is 0..80 C;
#: the register can show somewhat below 0 (a frosty window), so allow -20.
OUT_MIN_C = -20.0
OUT_MAX_C = 80.0
#: thermistor range per datasheet, and its resolution
THERM_MIN_C = -20.0
THERM_MAX_C = 80.0
THERM_STEP_C = 0.0625
PIXEL_STEP_C = 0.25

#: the inner 8x8 (sensor) part of the sample grid
INNER = slice(MARGIN * SUPER, (MARGIN + PIXELS) * SUPER)


def to_radiance(t_c: F64 | float) -> F64:
    """Temperature in C to relative radiance (1.0 at 300 K)."""
    return np.asarray(((np.asarray(t_c) + KELVIN) / 300.0) ** 4, dtype=np.float64)


def from_radiance(r: F64) -> F64:
    return np.asarray(300.0 * np.sqrt(np.sqrt(np.maximum(r, 1e-6))) - KELVIN, dtype=np.float64)


def _sample_angles() -> tuple[F64, F64]:
    """Horizontal and vertical angle (radians) of every sample, shape (GRID, GRID).

    Column 0 is the scene's left (negative x), row 0 its top.
    """
    idx = (np.arange(GRID) + 0.5) / SUPER - MARGIN - PIXELS / 2
    ax = idx * PIXEL_RAD
    ay = -idx * PIXEL_RAD
    return np.broadcast_to(ax[None, :], (GRID, GRID)).copy(), np.broadcast_to(
        ay[:, None], (GRID, GRID)
    ).copy()


AX, AY = _sample_angles()
#: ray directions in the camera frame, scaled so that the forward component is 1
U = np.tan(AX)
V = np.tan(AY) / np.cos(AX)
#: one sample's width in (U, V) units, for the soft edge
H = (PIXEL_RAD / SUPER) * (1.0 + U * U)
UU, VV, UV = U * U, V * V, U * V


def camera_basis(tilt_deg: float) -> F64:
    """Rows: the camera's right, forward and up axes in world coordinates."""
    t = math.radians(tilt_deg)
    return np.array([[1.0, 0.0, 0.0], [0.0, math.cos(t), -math.sin(t)], [0.0, math.sin(t), math.cos(t)]])


def world_rays(tilt_deg: float, du: float = 0.0, dv: float = 0.0) -> F64:
    """Unit ray directions of every sample in world coordinates, shape (GRID, GRID, 3).

    ``du`` and ``dv`` shift every ray right and down by that share of a pixel.
    """
    ax = AX + du * PIXEL_RAD
    ay = AY - dv * PIXEL_RAD
    d = np.stack([np.tan(ax), np.ones_like(ax), np.tan(ay) / np.cos(ax)], axis=-1)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    return np.asarray(d @ camera_basis(tilt_deg), dtype=np.float64)


def blur_matrix(sigma_px: float) -> F64:
    """Gaussian optics blur from the FIELD x FIELD rendered pixels to the 8x8 sensor."""
    centers = np.arange(FIELD) - MARGIN
    out = np.arange(PIXELS)
    d = out[:, None] - centers[None, :]
    # the pixel box convolved with a Gaussian, integrated over the source pixel
    s = max(sigma_px, 1e-3) * math.sqrt(2.0)
    erf = np.vectorize(math.erf)
    w1 = 0.5 * (erf((d + 0.5) / s) - erf((d - 0.5) / s))
    k = w1[:, None, :, None] * w1[None, :, None, :]  # (8, 8, FIELD, FIELD)
    k = k.reshape(PIXELS * PIXELS, FIELD * FIELD)
    k /= k.sum(axis=1, keepdims=True)
    return np.asarray(k, dtype=np.float64)


def pixel_mean(samples: F64) -> F64:
    """Mean of each rendered pixel's rays: (GRID, GRID) -> (FIELD * FIELD,)."""
    return np.asarray(samples.reshape(FIELD, SUPER, FIELD, SUPER).mean(axis=(1, 3)).ravel())


# --------------------------------------------------------------------------- bodies
@dataclass(slots=True)
class Ellipsoids:
    """A batch of ellipsoids in world coordinates."""

    centers: F64  # (K, 3)
    axes: F64  # (K, 3, 3): columns are the unit principal axes
    radii: F64  # (K, 3)
    radiance: F64  # (K,)


def ellipsoid_conics(centers_cam: F64, axes_cam: F64, radii: F64) -> tuple[F64, F64]:
    """Conic coefficients (K, 6): a(UU) b(VV) c(UV) d(U) e(V) f(1); and centre distances."""
    inv = 1.0 / (radii * radii)
    a_mat = np.einsum("kij,kj,klj->kil", axes_cam, inv, axes_cam)
    ac = np.einsum("kij,kj->ki", a_mat, centers_cam)
    k = np.einsum("ki,ki->k", ac, centers_cam)
    m = ac[:, :, None] * ac[:, None, :] - (k - 1.0)[:, None, None] * a_mat
    # d = (U, 1, V): indices 0 = right, 1 = forward, 2 = up
    coef = np.stack(
        [m[:, 0, 0], m[:, 2, 2], 2 * m[:, 0, 2], 2 * m[:, 0, 1], 2 * m[:, 1, 2], m[:, 1, 1]], axis=1
    )
    return coef, np.linalg.norm(centers_cam, axis=1)


def coverage(coef: F64, rows: slice, cols: slice) -> F64:
    """Soft coverage in 0..1 of each conic over a crop of the sample grid, (K, h, w)."""
    c = coef[:, :, None, None]
    u = U[rows, cols]
    v = V[rows, cols]
    q = c[:, 0] * UU[rows, cols] + c[:, 1] * VV[rows, cols] + c[:, 2] * UV[rows, cols]
    q += c[:, 3] * u + c[:, 4] * v + c[:, 5]
    gu = 2 * c[:, 0] * u + c[:, 2] * v + c[:, 3]
    gv = 2 * c[:, 1] * v + c[:, 2] * u + c[:, 4]
    g = np.sqrt(gu * gu + gv * gv) * H[rows, cols] + 1e-12
    return np.asarray(np.clip(q / g + 0.5, 0.0, 1.0))


def angular_box(centers_cam: F64, reach: F64) -> tuple[slice, slice] | None:
    """Grid rows and columns that may see any of the spheres, or None."""
    fwd = centers_cam[:, 1]
    ok = fwd > reach + 0.02
    if not ok.any():
        return None
    c = centers_cam[ok]
    r = reach[ok]
    dist = np.linalg.norm(c, axis=1)
    beta = np.arcsin(np.clip(r / dist, 0.0, 1.0)) * 1.15 + 0.5 * PIXEL_RAD / SUPER
    ax = np.arctan2(c[:, 0], c[:, 1])
    ay = np.arctan2(c[:, 2], np.hypot(c[:, 0], c[:, 1]))
    scale = SUPER / PIXEL_RAD
    off = (MARGIN + PIXELS / 2) * SUPER - 0.5
    c0 = int(max(0, math.floor(float(np.min((ax - beta) * scale + off)))))
    c1 = int(min(GRID, math.ceil(float(np.max((ax + beta) * scale + off))) + 1))
    # rows run downwards; widen vertically for the lens' 1/cos stretch off-axis
    r0 = int(max(0, math.floor(float(np.min(-(ay + beta * 1.2) * scale + off)))))
    r1 = int(min(GRID, math.ceil(float(np.max(-(ay - beta * 1.2) * scale + off))) + 1))
    if c0 >= c1 or r0 >= r1:
        return None
    return slice(r0, r1), slice(c0, c1)


# --------------------------------------------------------------------------- room
@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in the room: lo and hi corners (metres)."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]


def ray_boxes(origin: F64, rays: F64, boxes: list[Box]) -> tuple[F64, npt.NDArray[np.int64]]:
    """Distance to and index of the nearest box hit per ray (inf / -1 when none)."""
    shape = rays.shape[:-1]
    best = np.full(shape, np.inf)
    which = np.full(shape, -1, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / rays
    for i, box in enumerate(boxes):
        lo = (np.asarray(box.lo) - origin) * inv
        hi = (np.asarray(box.hi) - origin) * inv
        lo = np.nan_to_num(lo, nan=-np.inf)
        hi = np.nan_to_num(hi, nan=np.inf)
        t0 = np.minimum(lo, hi).max(axis=-1)
        t1 = np.maximum(lo, hi).min(axis=-1)
        hit = (t1 >= np.maximum(t0, 0.0)) & (t0 > 0) & (t0 < best)
        best = np.where(hit, t0, best)
        which = np.where(hit, i, which)
    return np.asarray(best, dtype=np.float64), np.asarray(which, dtype=np.int64)
