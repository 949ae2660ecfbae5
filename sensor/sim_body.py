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
import numpy.typing as npt

from heatcast.sensor.frame import F64

STANDING, SITTING, LYING = 0, 1, 2
POSTURE_NAMES = ("standing", "sitting", "lying")

# joints
(HEAD_LO, HEAD_HI, NECK, WAIST, PELVIS, SH_L, SH_R, EL_L, EL_R, WR_L, WR_R, HA_L, HA_R,
 HIP_L, HIP_R, KN_L, KN_R, AN_L, AN_R, BAG_LO, BAG_HI) = range(21)  # fmt: skip
N_JOINTS = 21

# part kinds (for temperatures)
K_HEAD, K_TOP, K_UPPER_ARM, K_FOREARM, K_HAND, K_THIGH, K_SHIN, K_BAG = range(8)

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
    (BAG_LO, BAG_HI, 0.15, 0.075, 0.03, K_BAG),  # a backpack, for those who carry one
)
SEG_A = np.array([s[0] for s in _SEGMENTS])
SEG_B = np.array([s[1] for s in _SEGMENTS])
SEG_RADII = np.array([[s[2], s[3]] for s in _SEGMENTS])
SEG_PAD = np.array([s[4] for s in _SEGMENTS])
SEG_KIND = np.array([s[5] for s in _SEGMENTS])
SEG_LATERAL_SCALES = np.array([s[5] in (K_TOP, K_THIGH) for s in _SEGMENTS])
N_PARTS = len(_SEGMENTS)
BAG_PART = N_PARTS - 1


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
    #: what the arms do while standing still: 0 at the sides, 1 crossed, 2 a phone, 3 hands in pockets
    arms: int = 0
    #: a backpack: a cool slab on the back, seen when the person turns away
    backpack: bool = False


def random_appearance(rng: np.random.Generator, child: bool = False) -> Appearance:
    adult = float(np.clip(rng.normal(1.72, 0.09), 1.5, 1.95))
    height = float(rng.uniform(1.0, 1.4)) if child else adult
    face = float(rng.uniform(32.5, 35.0))
    u = rng.random()
    if u < 0.08:  # bald: the crown is nearly skin
        hair = face - float(rng.uniform(0.3, 1.2))
    elif u < 0.16:  # a hat or hood: well insulated
        hair = face - float(rng.uniform(5.0, 9.0))
    else:
        hair = face - float(rng.uniform(1.5, 5.0))
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
        arms=int(rng.choice(4, p=[0.55, 0.15, 0.2, 0.1])),
        backpack=bool(rng.random() < 0.15),
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
    j[BAG_LO] = (0, -0.19 * s, 0.6 * h)
    j[BAG_HI] = (0, -0.19 * s, 0.77 * h)
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
        BAG_LO,
        BAG_HI,
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


#: skeleton key for standing still (arms as the person holds them), not a label
STILL = 3


def _still(h: float, w: float, arms: int) -> F64:
    j = _standing(h, w)
    s = h / 1.75
    if arms == 1:  # crossed over the chest
        for side, (el, wr, ha) in ((-1, (EL_L, WR_L, HA_L)), (1, (EL_R, WR_R, HA_R))):
            j[el] = (side * 0.2 * s * w, 0.06 * s, 0.63 * h)
            j[wr] = (-side * 0.06 * s * w, 0.16 * s, 0.69 * h)
            j[ha] = (-side * 0.14 * s * w, 0.15 * s, 0.71 * h)
    elif arms == 2:  # looking at a phone held in front
        j[EL_R] = (0.19 * s * w, 0.03 * s, 0.63 * h)
        j[WR_R] = (0.1 * s * w, 0.24 * s, 0.7 * h)
        j[HA_R] = (0.05 * s * w, 0.29 * s, 0.74 * h)
    elif arms == 3:  # hands in pockets: the hands disappear into the clothing
        for side, (el, wr, ha) in ((-1, (EL_L, WR_L, HA_L)), (1, (EL_R, WR_R, HA_R))):
            j[el] = (side * 0.24 * s * w, -0.03 * s, 0.63 * h)
            j[wr] = (side * 0.17 * s * w, 0.04 * s, 0.52 * h)
            j[ha] = (side * 0.165 * s * w, 0.045 * s, 0.5 * h)
    return j


def _posture_joints(a: Appearance, posture: int, seat_z: float, roll: float) -> tuple[F64, F64]:
    h, w = a.height_m, a.build
    if posture == STILL:
        return _still(h, w, a.arms), np.array([1.0, 0.0, 0.0])
    if posture == SITTING:
        return _sitting(h, w, seat_z), np.array([1.0, 0.0, 0.0])
    if posture == LYING:
        return _lying(h, w, seat_z, roll)
    return _standing(h, w), np.array([1.0, 0.0, 0.0])


class Skeletons:
    """Joint positions per person and posture, computed once and reused."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Appearance, int, float, float], tuple[F64, F64]] = {}

    def get(self, a: Appearance, posture: int, seat_z: float, roll: float) -> tuple[F64, F64]:
        key = (
            a,
            posture,
            round(seat_z, 3) if posture in (SITTING, LYING) else 0.0,
            round(roll, 3) if posture == LYING else 0.0,
        )
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            hit = self._cache[key] = _posture_joints(a, posture, seat_z, roll)
        return hit


@dataclass(slots=True)
class Bodies:
    """Body parts of M person-moments: centres (M, K, 3), axes (M, K, 3, 3) whose
    columns are the principal directions, radii (M, K, 3), surface temperatures
    (M, K) in C, and each person's chest direction (M, 3)."""

    centers: F64
    axes: F64
    radii: F64
    temps: F64
    front: F64
    present: npt.NDArray[np.bool_]  # (M, K): parts this person has (a backpack or not)


def _rot_x(rel: F64, psi: F64) -> F64:
    """Rotate (m, n, 3) body-frame vectors about the lateral axis by psi (m,)."""
    c = np.cos(psi)[:, None]
    s = np.sin(psi)[:, None]
    out = rel.copy()
    out[..., 1] = rel[..., 1] * c - rel[..., 2] * s
    out[..., 2] = rel[..., 1] * s + rel[..., 2] * c
    return out


def _swing_batch(j: F64, phase: F64, amp: F64) -> None:
    """Walking: legs and arms swing about the hips and shoulders, in place."""
    for side, (hip, kn, an, sh, el, wr, ha) in (
        (-1.0, (HIP_L, KN_L, AN_L, SH_L, EL_L, WR_L, HA_L)),
        (1.0, (HIP_R, KN_R, AN_R, SH_R, EL_R, WR_R, HA_R)),
    ):
        psi = side * amp * np.sin(phase)
        leg = [kn, an]
        j[:, leg] = j[:, [hip]] + _rot_x(j[:, leg] - j[:, [hip]], psi)
        # the trailing leg bends at the knee
        j[:, [an]] = j[:, [kn]] + _rot_x(j[:, [an]] - j[:, [kn]], 0.6 * np.minimum(psi, 0.0))
        arm = [el, wr, ha]
        j[:, arm] = j[:, [sh]] + _rot_x(j[:, arm] - j[:, [sh]], -0.7 * psi)


def _yaw(v: F64, c: F64, s: F64) -> F64:
    """Body (lateral, front, up) to world: lateral -> (c, -s, 0), front -> (s, c, 0)."""
    out = np.empty_like(v)
    out[..., 0] = v[..., 0] * c + v[..., 1] * s
    out[..., 1] = -v[..., 0] * s + v[..., 1] * c
    out[..., 2] = v[..., 2]
    return out


def bodies(
    people: list[tuple[Appearance, Pose, float]], ambient_c: F64, sensor: F64, skeletons: Skeletons
) -> Bodies:
    """Body parts for each (appearance, pose, seconds since arrival); ``ambient_c`` (M,)."""
    m = len(people)
    j0 = np.empty((m, N_JOINTS, 3))
    j1 = np.empty((m, N_JOINTS, 3))
    lat0 = np.empty((m, 3))
    lat1 = np.empty((m, 3))
    p = np.empty((m, 16))
    for i, (a, pose, since) in enumerate(people):
        settled = pose.to_posture == pose.from_posture
        if settled and pose.from_posture == STANDING and pose.gait_amp <= 0:
            j0[i], lat0[i] = skeletons.get(a, STILL, 0.0, 0.0)
        else:
            j0[i], lat0[i] = skeletons.get(a, pose.from_posture, pose.seat_z, pose.roll)
        if not settled:
            j1[i], lat1[i] = skeletons.get(a, pose.to_posture, pose.seat_z, pose.roll)
            b = min(max(pose.blend, 0.0), 1.0)
        else:
            j1[i], lat1[i] = j0[i], lat0[i]
            b = 1.0
        walking = pose.gait_amp > 0 and pose.from_posture == STANDING and pose.to_posture == STANDING
        lying = pose.posture == LYING
        warm = 1.0 - a.cold_start * math.exp(-max(since, 0.0) / 300.0)
        p[i] = (
            b * b * (3 - 2 * b), pose.yaw, pose.x, pose.y, pose.gait_phase, pose.gait_amp if walking else 0.0,
            a.height_m / 1.75, a.build, math.sin(pose.roll) if lying else 0.0,
            math.cos(pose.roll) if lying else 0.0, 0.0 if lying else 1.0,
            a.face_max, a.hair_c, a.face_c, a.k_top * warm, a.k_legs * warm,
        )  # fmt: skip
    bb = p[:, 0][:, None, None]
    j = j0 + (j1 - j0) * bb
    lat = lat0 + (lat1 - lat0) * p[:, 0][:, None]
    walk = p[:, 5] > 0
    if walk.any():
        jw = j[walk]
        _swing_batch(jw, p[walk, 4], p[walk, 5])
        j[walk] = jw
    c = np.cos(p[:, 1])[:, None]
    s = np.sin(p[:, 1])[:, None]
    jw = _yaw(j, c, s)
    jw[..., 0] += p[:, 2][:, None]
    jw[..., 1] += p[:, 3][:, None]
    latw = _yaw(lat, c[:, 0], s[:, 0])
    front = _yaw(np.stack([p[:, 8], p[:, 10], p[:, 9]], axis=1), c[:, 0], s[:, 0])
    pa, pb = jw[:, SEG_A], jw[:, SEG_B]
    centers = 0.5 * (pa + pb)
    along = pb - pa
    length = np.sqrt(np.einsum("mki,mki->mk", along, along))
    e3 = along / length[..., None]
    e1 = latw[:, None, :] - np.einsum("mki,mi->mk", e3, latw)[..., None] * e3
    e1 /= np.sqrt(np.einsum("mki,mki->mk", e1, e1))[..., None] + 1e-12
    e2 = np.cross(e3, e1)
    axes = np.stack([e1, e2, e3], axis=3)
    scale = p[:, 6][:, None]
    radii = np.empty((m, N_PARTS, 3))
    radii[..., 0] = SEG_RADII[:, 0] * scale * np.where(SEG_LATERAL_SCALES, p[:, 7][:, None], 1.0)
    radii[..., 1] = SEG_RADII[:, 1] * scale
    radii[..., 2] = 0.5 * length + SEG_PAD * scale
    temps = _temperatures(people, p, centers[:, 0], front, ambient_c, sensor)
    present = np.ones((m, N_PARTS), dtype=bool)
    present[:, BAG_PART] = [a.backpack for a, _, _ in people]
    return Bodies(centers, axes, radii, temps[:, SEG_KIND], front, present)


def _temperatures(
    people: list[tuple[Appearance, Pose, float]], p: F64, head: F64, front: F64, amb: F64, sensor: F64
) -> F64:
    """Surface temperature of every part kind (M, 7), as the sensor sees it."""
    m = len(people)
    top = amb + p[:, 14] * (34.0 - amb)
    legs = amb + p[:, 15] * (33.0 - amb)
    to_sensor = sensor[None, :] - head
    to_sensor /= np.sqrt(np.einsum("mi,mi->m", to_sensor, to_sensor))[:, None] + 1e-9
    facing = np.einsum("mi,mi->m", front, to_sensor)
    from_above = np.maximum(0.0, to_sensor[:, 2])
    # the visible share of the head that is face: a hemisphere of skin turned
    # towards (1) or away (0) from the sensor; the crown, seen from above, is hair
    face_share = p[:, 11] * 0.5 * (1.0 + facing) * (1.0 - 0.6 * from_above)
    kinds = np.empty((m, 8))
    kinds[:, K_HEAD] = p[:, 12] + face_share * (p[:, 13] - p[:, 12])
    kinds[:, K_TOP] = top
    kinds[:, K_THIGH] = legs
    # a backpack's outside: barely warmer than the room
    kinds[:, K_BAG] = amb + 0.12 * (34.0 - amb)
    for i, (a, _, _) in enumerate(people):
        t = top[i]
        kinds[i, K_UPPER_ARM] = 0.5 * (t + a.arm_skin_c) if a.bare_forearms else t
        kinds[i, K_FOREARM] = a.arm_skin_c if a.bare_forearms else t - 0.3
        kinds[i, K_HAND] = a.hands_c
        kinds[i, K_SHIN] = a.leg_skin_c if a.bare_shins else legs[i] - 0.5
    return kinds
