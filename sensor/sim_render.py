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

from heatcast.sensor.frame import F64

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


# --------------------------------------------------------------------------- bodies
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


# float32 for the per-sample work: it halves the memory traffic, and the conics
# are normalised per part so that single precision is ample
_UF, _VF = (a.ravel().astype(np.float32) for a in (U, V))
#: how the lens stretches a sample in U and in V, and a sample's area in (U, V)
_SU = 1.0 / np.cos(AX) ** 2
_SV = 1.0 / (np.cos(AY) ** 2 * np.cos(AX))
_SUF, _SVF = (a.ravel().astype(np.float32) for a in (_SU, _SV))
_AF = (_SU * _SV * (PIXEL_RAD / SUPER) ** 2).ravel().astype(np.float32)
_INNER_2D = np.zeros((GRID, GRID))
_INNER_2D[INNER, INNER] = 1.0
_INNER_F = _INNER_2D.ravel()
_BOX_SCALE = SUPER / PIXEL_RAD
_BOX_OFF = (MARGIN + PIXELS / 2) * SUPER - 0.5


def _extent(qa: F64, qb: F64, qc: F64) -> tuple[F64, F64, npt.NDArray[np.bool_]]:
    """Roots of qa x^2 + qb x + qc = 0 (qa > 0): low, high, and whether real."""
    disc = qb * qb - 4 * qa * qc
    root = np.sqrt(np.maximum(disc, 0.0))
    return (-qb - root) / (2 * qa), (-qb + root) / (2 * qa), disc >= 0


def _conic_boxes(coef: F64) -> tuple[npt.NDArray[np.int64], ...]:
    """Sample-grid columns c0:c1 and rows r0:r1 that cover each conic's inside.

    The silhouette of an ellipsoid in front of the sensor is an ellipse in the
    (U, V) plane; its extremes in U lie where dQ/dV = 0 (and likewise in V).
    Columns follow U alone; rows follow V * cos(column angle), so the row range
    takes the widest of the column range's cosines. One sample of slack on each
    side leaves room for the soft edge.
    """
    qa, qb, qc, qd, qe, qf = coef.T
    det = 4 * qa * qb - qc * qc  # > 0 for an ellipse (Q's quadratic part negative definite)
    ellipse = (det > 1e-12) & (qa < 0)
    det = np.where(ellipse, det, 1.0)
    u0, u1, u_ok = _extent(det, 4 * qb * qd - 2 * qc * qe, 4 * qb * qf - qe * qe)
    v0, v1, v_ok = _extent(det, 4 * qa * qe - 2 * qc * qd, 4 * qa * qf - qd * qd)
    ax0, ax1 = np.arctan(u0), np.arctan(u1)
    c0 = np.floor(ax0 * _BOX_SCALE + _BOX_OFF - 1.0)
    c1 = np.ceil(ax1 * _BOX_SCALE + _BOX_OFF + 1.0) + 1
    cos_lo = np.minimum(np.cos(ax0), np.cos(ax1))
    cos_hi = np.where((ax0 < 0) & (ax1 > 0), 1.0, np.maximum(np.cos(ax0), np.cos(ax1)))
    ay_hi = np.arctan(np.maximum(v1 * cos_lo, v1 * cos_hi))
    ay_lo = np.arctan(np.minimum(v0 * cos_lo, v0 * cos_hi))
    r0 = np.floor(-ay_hi * _BOX_SCALE + _BOX_OFF - 1.0)
    r1 = np.ceil(-ay_lo * _BOX_SCALE + _BOX_OFF + 1.0) + 1
    # anything else (an ellipsoid reaching past the sensor's plane) takes the whole grid
    full = ~ellipse
    seen = ellipse & u_ok & v_ok
    c0 = np.where(full, 0, np.where(seen, c0, 0))
    c1 = np.where(full, GRID, np.where(seen, c1, 0))
    r0 = np.where(full, 0, np.where(seen, r0, 0))
    r1 = np.where(full, GRID, np.where(seen, r1, 0))
    whole = seen & (c0 >= 0) & (r0 >= 0) & (c1 <= GRID) & (r1 <= GRID)
    clip = tuple(np.clip(x, 0, GRID).astype(np.int64) for x in (c0, c1, r0, r1))
    return (*clip, whole)


def _conic_areas(coef: F64) -> F64:
    """Area of each conic's inside in the (U, V) plane (ellipses only).

    Q = x'Px + 2b'x + F with P negative definite: Q >= 0 is the ellipse
    (x - x0)'(-P)(x - x0) <= k, k = F - b'P^-1 b, of area pi k / sqrt(det P).
    """
    qa, qb, qc, qd, qe, qf = coef.T
    det = 4 * qa * qb - qc * qc
    ok = det > 0
    det = np.where(ok, det, 1.0)
    k = qf - (qb * qd * qd - qc * qd * qe + qa * qe * qe) / det
    return np.asarray(np.where(ok & (k > 0), 2 * np.pi * k / np.sqrt(det), 0.0), dtype=np.float64)


def composite(
    centers: F64,
    axes: F64,
    radii: F64,
    radiance: F64,
    frame: npt.NDArray[np.int64],
    owner: npt.NDArray[np.int64],
    n_frames: int,
    n_owners: int,
    bg_depth: F64,
) -> tuple[F64, F64, F64]:
    """Render P ellipsoids (camera frame) into ``n_frames`` sample grids at once.

    Each ellipsoid is evaluated only over its own box of samples; the pieces are
    then sorted by sample and depth and composited front to back, so nearer
    parts (of anyone) hide farther ones and furniture nearer than a part
    (``bg_depth``, flat per sample) hides it. Returns per frame the colour
    (sum of coverage x radiance) and the coverage, both (n_frames, GRID * GRID),
    and for each owner (a person at one moment) how many pixels of them are
    visible inside the 8x8 field.
    """
    gg = GRID * GRID
    color = np.zeros(n_frames * gg)
    cover = np.zeros(n_frames * gg)
    visible = np.zeros(n_owners)
    if len(centers) == 0:
        return color.reshape(n_frames, gg), cover.reshape(n_frames, gg), visible
    fwd = centers[:, 1]
    reach = radii.max(axis=1)
    keep = fwd > reach + 0.02
    if not keep.any():
        return color.reshape(n_frames, gg), cover.reshape(n_frames, gg), visible
    kept = np.nonzero(keep)[0]
    coef, depth = ellipsoid_conics(centers[kept], axes[kept], radii[kept])
    c0, c1, r0, r1, whole = _conic_boxes(coef)
    ok = (c1 > c0) & (r1 > r0)
    kept, coef, depth, whole = kept[ok], coef[ok], depth[ok], whole[ok]
    c0, c1, r0, r1 = c0[ok], c1[ok], r0[ok], r1[ok]
    if len(kept) == 0:
        return color.reshape(n_frames, gg), cover.reshape(n_frames, gg), visible
    width = c1 - c0
    n = (r1 - r0) * width
    p = len(kept)
    # pieces of one part are contiguous, so np.repeat stands in for gathers
    pid = np.repeat(np.arange(p), n)
    local = np.arange(len(pid)) - np.repeat(np.cumsum(n) - n, n)
    row, col = np.divmod(local, np.repeat(width, n))
    row += np.repeat(r0, n)
    col += np.repeat(c0, n)
    idx = row * GRID + col
    u, v = _UF[idx], _VF[idx]
    norm = (coef / np.abs(coef).max(axis=1, keepdims=True)).astype(np.float32)
    qa, qb, qc, qd, qe, qf = (np.repeat(c, n) for c in norm.T)
    # Q = u (A u + C v + D) + v (B v + E) + F, and its gradient, sharing terms
    au = qa * u
    su = au + qc * v + qd
    gu = su + au
    bv = qb * v
    sv = bv + qe
    q = u * su + v * sv + qf
    gv = sv + bv + qc * u
    # signed distance to the silhouette (positive inside), solved exactly along
    # the gradient: Q is quadratic, so Q(x + t n) = Q + |g| t + k t^2. The
    # first-order Q / |g| alone overstates small, curved parts such as arms.
    g2 = gu * gu + gv * gv + np.float32(1e-20)
    g = np.sqrt(g2)
    k4q = 4 * q * (qa * gu * gu + qc * gu * gv + qb * gv * gv) / g2
    dist = 2 * q / (g + np.sqrt(np.maximum(g2 - k4q, 0)) + np.float32(1e-20))
    # one sample's width across the edge, from the lens' stretch in U and V
    su, sv = gu * _SUF[idx], gv * _SVF[idx]
    width = np.sqrt((su * su + sv * sv) / g2) * np.float32(PIXEL_RAD / SUPER)
    alpha = np.clip(dist / width + 0.5, 0.0, 1.0)
    # a soft edge still overstates parts thinner than a sample (an arm far
    # away): scale each wholly rendered part's edge so that its coverage adds
    # up to its exact projected area (fully covered samples stay covered)
    area = alpha * _AF[idx]
    drawn = np.bincount(pid, area, minlength=p)
    full = np.bincount(pid, np.where(alpha >= 1, area, 0), minlength=p)
    exact = _conic_areas(coef)
    edge = drawn - full
    over = whole & (drawn > exact) & (exact > 0) & (edge > 0)
    fix = np.where(over, np.clip((exact - full) / np.maximum(edge, 1e-30), 0.0, 1.0), 1.0)
    alpha = np.where(alpha < 1, alpha * fix.astype(np.float32)[pid], alpha)
    alpha *= np.repeat(depth, n) < bg_depth[idx]
    nz = alpha > 0
    pid, idx, alpha = pid[nz], idx[nz], alpha[nz]
    if len(pid) == 0:
        return color.reshape(n_frames, gg), cover.reshape(n_frames, gg), visible
    rank = np.empty(p, dtype=np.int64)
    rank[np.argsort(depth)] = np.arange(p)
    sample = frame[kept][pid] * gg + idx
    order = np.argsort(sample * p + rank[pid])
    sample, pid, idx, alpha = sample[order], pid[order], idx[order], alpha[order]
    # front-to-back: what each piece adds is its coverage times what nearer
    # pieces on the same sample left uncovered
    lt = np.log1p(-np.minimum(alpha, 0.999999))
    excl = np.cumsum(lt) - lt
    first = np.empty(len(sample), dtype=bool)
    first[0] = True
    np.not_equal(sample[1:], sample[:-1], out=first[1:])
    start = np.maximum.accumulate(np.where(first, np.arange(len(sample)), 0))
    wgt = np.exp(excl - excl[start]) * alpha
    color = np.bincount(sample, wgt * radiance[kept][pid], minlength=n_frames * gg).astype(np.float64)
    cover = np.bincount(sample, wgt, minlength=n_frames * gg).astype(np.float64)
    visible = np.bincount(owner[kept][pid], wgt * _INNER_F[idx], minlength=n_owners) / (SUPER * SUPER)
    return color.reshape(n_frames, gg), cover.reshape(n_frames, gg), visible
