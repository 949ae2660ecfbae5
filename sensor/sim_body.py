"""People for the simulator: a skeleton per posture, body parts as ellipsoids, and
what each part's surface temperature is.

Body coordinates are (lateral, front, up) in metres, the origin on the floor
(or the seat's floor point) under the pelvis. Body parts are segments between
joints, each an ellipsoid with its own cross-section, so that a person facing
the sensor shows broad shoulders (about 0.45 m) and one side-on a narrow
torso (about 0.25 m).

Surface temperatures (thermography of clothed people indoors):

* face skin 32.5..35 C, the back of the head (hair) 28..32 C; what the sensor
  sees of the head mixes the two by how much of the face is turned towards it;
* clothing surface is ambient plus a fraction ``k`` of the skin-to-ambient
  difference: k about 0.2..0.35 for a winter coat, 0.6..0.8 for a T-shirt, which
  puts it 3..8 C above a 20..24 C room; trousers run cooler than tops;
* bare forearms 31..33 C, hands 28..34 C (cold hands after coming in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from heatcast.sensor.sim_render import F64

STANDING, SITTING, LYING = 0, 1, 2
POSTURE_NAMES = ("standing", "sitting", "lying")

# joints
(HEAD_LO, HEAD_HI, NECK, WAIST, PELVIS, SH_L, SH_R, EL_L, EL_R, WR_L, WR_R, HA_L, HA_R,
 HIP_L, HIP_R, KN_L, KN_R, AN_L, AN_R) = range(19)  # fmt: skip
N_JOINTS = 19

# part kinds (for temperatures)
K_HEAD, K_TOP, K_UPPER_ARM, K_FOREARM, K_HAND, K_THIGH, K_SHIN = range(7)

# segments: joint a, joint b, lateral radius, front radius, end padding, kind
# (radii and padding for a 1.75 m person of average build; lateral scales by build)
_SEGMENTS = (
    (HEAD_LO, HEAD_HI, 0.078, 0.095, 0.015, K_HEAD),
    (WAIST, NECK, 0.195, 0.115, 0.03, K_TOP),
    (PELVIS, WAIST, 0.17, 0.11, 0.04, K_TOP),
    (SH_L, EL_L, 0.048, 0.052, 0.03, K_UPPER_ARM),
    (SH_R, EL_R, 0.048, 0.052, 0.03, K_UPPER_ARM),
    (EL_L, WR_L, 0.04, 0.042, 0.02, K_FOREARM),
    (EL_R, WR_R, 0.04, 0.042, 0.02, K_FOREARM),
    (WR_L, HA_L, 0.022, 0.045, 0.015, K_HAND),
    (WR_R, HA_R, 0.022, 0.045, 0.015, K_HAND),
    (HIP_L, KN_L, 0.078, 0.085, 0.03, K_THIGH),
    (HIP_R, KN_R, 0.078, 0.085, 0.03, K_THIGH),
    (KN_L, AN_L, 0.056, 0.062, 0.05, K_SHIN),
    (KN_R, AN_R, 0.056, 0.062, 0.05, K_SHIN),
)
SEG_A = np.array([s[0] for s in _SEGMENTS])
SEG_B = np.array([s[1] for s in _SEGMENTS])
SEG_RADII = np.array([[s[2], s[3]] for s in _SEGMENTS])
SEG_PAD = np.array([s[4] for s in _SEGMENTS])
SEG_KIND = np.array([s[5] for s in _SEGMENTS])
SEG_LATERAL_SCALES = np.array([s[5] in (K_TOP, K_THIGH) for s in _SEGMENTS])
N_PARTS = len(_SEGMENTS)
#: which side each joint is on (-1 left, +1 right, 0 middle), for the gait
_LEFT = np.array([SH_L, EL_L, WR_L, HA_L, HIP_L, KN_L, AN_L])


@dataclass(frozen=True, slots=True)
class Appearance:
    """One person's build and clothing (fixed for the person's visit)."""

    height_m: float = 1.75
    build: float = 1.0  # lateral scale: 0.85 slim .. 1.25 broad
    face_c: float = 34.0  # face skin
    hair_c: float = 30.0  # back/top of the head
    face_max: float = 0.9  # share of the head's visible surface that is skin when facing
    k_top: float = 0.55  # clothing: fraction of skin-ambient difference
    k_legs: float = 0.4
    bare_forearms: bool = False
    bare_shins: bool = False
    hands_c: float = 32.0
    arm_skin_c: float = 32.0
    leg_skin_c: float = 31.0
    #: coming in from outdoors: clothing starts colder by this share and warms up
    cold_start: float = 0.0


def random_appearance(rng: np.random.Generator, child: bool = False) -> Appearance:
    adult = float(np.clip(rng.normal(1.72, 0.09), 1.5, 1.95))
    height = float(rng.uniform(1.0, 1.4)) if child else adult
    face = float(rng.uniform(32.5, 35.0))
    bald = rng.random() < 0.08
    hair = face - (float(rng.uniform(0.3, 1.2)) if bald else float(rng.uniform(1.5, 5.0)))
    coat = rng.random() < 0.25
    k_top = float(rng.uniform(0.2, 0.38)) if coat else float(rng.uniform(0.4, 0.8))
    return Appearance(
        height_m=height,
        build=float(np.clip(rng.normal(1.0, 0.1), 0.82, 1.3)) * (0.8 if child else 1.0),
        face_c=face,
        hair_c=hair,
        face_max=float(rng.uniform(0.6, 0.75) if rng.random() < 0.08 else rng.uniform(0.8, 1.0)),
        k_top=k_top,
        k_legs=float(rng.uniform(0.2, 0.55)),
        bare_forearms=(not coat) and rng.random() < 0.3,
        bare_shins=(not coat) and rng.random() < 0.15,
        hands_c=float(rng.uniform(28.0, 34.0)),
        arm_skin_c=float(rng.uniform(30.5, 33.0)),
        leg_skin_c=float(rng.uniform(29.5, 32.0)),
        cold_start=float(rng.uniform(0.3, 0.8)) if rng.random() < 0.2 else 0.0,
    )


def _standing(h: float, w: float) -> F64:
    s = h / 1.75
    j = np.zeros((N_JOINTS, 3))
    j[HEAD_LO] = (0, 0.01 * s, h - 0.2 * s)
    j[HEAD_HI] = (0, -0.005 * s, h - 0.03 * s)
    j[NECK] = (0, 0, 0.82 * h)
    j[WAIST] = (0, 0, 0.62 * h)
    j[PELVIS] = (0, 0, 0.5 * h)
    sides = (
        (-1, (SH_L, EL_L, WR_L, HA_L, HIP_L, KN_L, AN_L)),
        (1, (SH_R, EL_R, WR_R, HA_R, HIP_R, KN_R, AN_R)),
    )
    for side, (sh, el, wr, ha, hip, kn, an) in sides:
        j[sh] = (side * 0.19 * s * w, 0, 0.805 * h)
        j[el] = (side * 0.215 * s * w, -0.01 * s, 0.625 * h)
        j[wr] = (side * 0.215 * s * w, 0.03 * s, 0.47 * h)
        j[ha] = (side * 0.21 * s * w, 0.04 * s, 0.405 * h)
        j[hip] = (side * 0.09 * s * w, 0, 0.5 * h)
        j[kn] = (side * 0.095 * s * w, 0.01 * s, 0.285 * h)
        j[an] = (side * 0.09 * s * w, 0, 0.04 * h)
    return j


def _sitting(h: float, w: float, seat_z: float) -> F64:
    j = _standing(h, w)
    s = h / 1.75
    hip_z = seat_z + 0.07 * s
    upper = [
        HEAD_LO,
        HEAD_HI,
        NECK,
        WAIST,
        PELVIS,
        SH_L,
        SH_R,
        EL_L,
        EL_R,
        WR_L,
        WR_R,
        HA_L,
        HA_R,
        HIP_L,
        HIP_R,
    ]
    j[upper, 2] += hip_z - 0.5 * h
    j[upper, 1] -= 0.04 * s  # a slight recline
    thigh = 0.215 * h
    for side, (kn, an, wr, ha, el) in (
        (-1, (KN_L, AN_L, WR_L, HA_L, EL_L)),
        (1, (KN_R, AN_R, WR_R, HA_R, EL_R)),
    ):
        j[kn] = (side * 0.1 * s * w, thigh, hip_z + 0.02 * s)
        j[an] = (side * 0.1 * s * w, thigh + 0.06 * s, 0.04 * h)
        # forearms rest forward on the thighs
        j[el, 1] = -0.02 * s
        j[wr] = (side * 0.15 * s * w, 0.2 * h, hip_z + 0.1 * s)
        j[ha] = (side * 0.13 * s * w, 0.25 * h, hip_z + 0.09 * s)
    return j


def _lying(h: float, w: float, surface_z: float, roll: float) -> tuple[F64, F64]:
    """Joints of a person lying along +front (head first) and the lateral reference."""
    j = _standing(h, w)
    c, sn = math.cos(roll), math.sin(roll)
    x, y, z = j[:, 0].copy(), j[:, 1].copy(), j[:, 2].copy()
    out = np.empty_like(j)
    out[:, 0] = x * c + y * sn
    out[:, 1] = z - 0.5 * h
    out[:, 2] = -x * sn + y * c
    out[:, 2] += surface_z + 0.11 * (h / 1.75) - out[:, 2].min()
    return out, np.array([c, 0.0, -sn])


def lying_front(roll: float) -> F64:
    """Where a lying person's chest faces, in body coordinates."""
    return np.array([math.sin(roll), 0.0, math.cos(roll)])


def _swing(j: F64, phase: float, amp: float) -> None:
    """Walking: legs and arms swing about the hips and shoulders, in place."""
    if amp <= 0:
        return
    sides = (
        (-1, (HIP_L, KN_L, AN_L, SH_L, EL_L, WR_L, HA_L)),
        (1, (HIP_R, KN_R, AN_R, SH_R, EL_R, WR_R, HA_R)),
    )
    for side, (hip, kn, an, sh, el, wr, ha) in sides:
        psi = side * amp * math.sin(phase)
        _rotate_about_lateral(j, [kn, an], j[hip], psi)
        if psi < 0:  # the trailing leg bends at the knee
            _rotate_about_lateral(j, [an], j[kn], 0.6 * psi)
        _rotate_about_lateral(j, [el, wr, ha], j[sh], -0.7 * psi)


def _rotate_about_lateral(j: F64, idx: list[int], pivot: F64, psi: float) -> None:
    c, s = math.cos(psi), math.sin(psi)
    rel = j[idx] - pivot
    y = rel[:, 1] * c - rel[:, 2] * s
    z = rel[:, 1] * s + rel[:, 2] * c
    j[idx, 1] = pivot[1] + y
    j[idx, 2] = pivot[2] + z


@dataclass(slots=True)
class Pose:
    """Where a person is and how they stand at one moment."""

    x: float
    y: float
    yaw: float  # heading in radians: 0 = away from the sensor's wall (+y), pi = towards it
    from_posture: int  # the posture being left (the same as to_posture when settled)
    to_posture: int
    blend: float  # 0..1 progress from from_posture to to_posture
    seat_z: float
    roll: float  # lying only: 0 on the back, +-pi/2 on a side
    gait_phase: float
    gait_amp: float

    @property
    def posture(self) -> int:
        """The labelled posture: a transition counts from its midpoint."""
        return self.to_posture if self.blend >= 0.5 else self.from_posture


def _posture_joints(posture: int, a: Appearance, pose: Pose) -> tuple[F64, F64]:
    h, w = a.height_m, a.build
    if posture == SITTING:
        return _sitting(h, w, pose.seat_z), np.array([1.0, 0.0, 0.0])
    if posture == LYING:
        return _lying(h, w, pose.seat_z, pose.roll)
    return _standing(h, w), np.array([1.0, 0.0, 0.0])


def body_front(pose: Pose) -> F64:
    """The direction the chest and face point, in world coordinates."""
    f = lying_front(pose.roll) if pose.posture == LYING else np.array([0.0, 1.0, 0.0])
    return np.asarray(_to_world_dirs(f[None, :], pose.yaw)[0], dtype=np.float64)


def _to_world_dirs(v: F64, yaw: float) -> F64:
    c, s = math.cos(yaw), math.sin(yaw)
    out = np.empty_like(v)
    # body lateral -> (c, -s, 0); body front -> (s, c, 0)
    out[:, 0] = v[:, 0] * c + v[:, 1] * s
    out[:, 1] = -v[:, 0] * s + v[:, 1] * c
    out[:, 2] = v[:, 2]
    return out


def body_parts(a: Appearance, pose: Pose) -> tuple[F64, F64, F64]:
    """World centres (K, 3), principal axes (K, 3, 3) and radii (K, 3) of every part."""
    j, lat = _posture_joints(pose.to_posture, a, pose)
    if pose.blend < 1.0 and pose.from_posture != pose.to_posture:
        j0, lat0 = _posture_joints(pose.from_posture, a, pose)
        b = pose.blend * pose.blend * (3 - 2 * pose.blend)
        j = j0 + (j - j0) * b
        lat = lat0 + (lat - lat0) * b
    if pose.to_posture == STANDING and pose.from_posture == STANDING:
        _swing(j, pose.gait_phase, pose.gait_amp)
    s = a.height_m / 1.75
    jw = _to_world_dirs(j, pose.yaw)
    jw[:, 0] += pose.x
    jw[:, 1] += pose.y
    latw = _to_world_dirs(lat[None, :], pose.yaw)[0]
    pa, pb = jw[SEG_A], jw[SEG_B]
    centers = 0.5 * (pa + pb)
    along = pb - pa
    length = np.linalg.norm(along, axis=1)
    e3 = along / length[:, None]
    e1 = latw[None, :] - (e3 @ latw)[:, None] * e3
    e1 /= np.linalg.norm(e1, axis=1)[:, None] + 1e-12
    e2 = np.cross(e3, e1)
    axes = np.stack([e1, e2, e3], axis=2)
    radii = np.empty((N_PARTS, 3))
    radii[:, 0] = SEG_RADII[:, 0] * s * np.where(SEG_LATERAL_SCALES, a.build, 1.0)
    radii[:, 1] = SEG_RADII[:, 1] * s
    radii[:, 2] = 0.5 * length + SEG_PAD * s
    return centers, axes, radii


def part_temperatures(
    a: Appearance, ambient_c: float, head_center: F64, front: F64, sensor: F64, since_arrival_s: float
) -> F64:
    """Surface temperature of every part (K,), in C, as the sensor sees it."""
    warm = 1.0 - a.cold_start * math.exp(-since_arrival_s / 300.0)
    top = ambient_c + a.k_top * warm * (34.0 - ambient_c)
    legs = ambient_c + a.k_legs * warm * (33.0 - ambient_c)
    to_sensor = sensor - head_center
    to_sensor /= np.linalg.norm(to_sensor) + 1e-9
    facing = float(front @ to_sensor)
    from_above = max(0.0, float(to_sensor[2]))
    # the visible share of the head that is face: a hemisphere of skin turned
    # towards (1) or away (0) from the sensor; the crown, seen from above, is hair
    face_share = a.face_max * 0.5 * (1.0 + facing) * (1.0 - 0.6 * from_above)
    head = a.hair_c + face_share * (a.face_c - a.hair_c)
    kinds = np.empty(7)
    kinds[K_HEAD] = head
    kinds[K_TOP] = top
    kinds[K_UPPER_ARM] = top if not a.bare_forearms else 0.5 * (top + a.arm_skin_c)
    kinds[K_FOREARM] = a.arm_skin_c if a.bare_forearms else top - 0.3
    kinds[K_HAND] = a.hands_c
    kinds[K_THIGH] = legs
    kinds[K_SHIN] = a.leg_skin_c if a.bare_shins else legs - 0.5
    return np.asarray(kinds[SEG_KIND], dtype=np.float64)
