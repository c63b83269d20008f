//! The beat model: each wave is a Gaussian in time whose per-lead amplitude is the projection of
//! a 3-D heart vector (dipole) on the lead's axis, as in dipole-based extensions of McSharry's
//! ECGSYN. Projection keeps the limb leads consistent (III = II - I, aVR = -(I + II) / 2, ...)
//! and lets one change (a territory's lost forces, an injury current) show in every lead with
//! the right sign, reciprocal changes included.
//!
//! Axes: x points to the patient's left, y inferior (feet), z anterior (chest).

use crate::record::LeadName;

pub type Vec3 = [f64; 3];

pub fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub fn scale(a: Vec3, s: f64) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

pub fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub fn normalize(a: Vec3) -> Vec3 {
    let n = dot(a, a).sqrt();
    if n > 0.0 { scale(a, 1.0 / n) } else { a }
}

/// Precordial leads sit close to the heart: their deflections are larger than the limb leads'.
pub const PRECORDIAL_GAIN: f64 = 1.5;

/// Horizontal-plane angles (degrees from the patient's left, towards anterior) of V1..V6.
const PRECORDIAL_ANGLES_DEG: [f64; 6] = [110.0, 90.0, 70.0, 45.0, 20.0, 0.0];

/// Lead axis of a standard lead (Einthoven triangle, Goldberger's augmented leads, precordial
/// leads in the horizontal plane). `None` for non-standard leads.
pub fn lead_vector(lead: &LeadName) -> Option<Vec3> {
    let s3 = 3f64.sqrt() / 2.0;
    let precordial = |i: usize| {
        let a = PRECORDIAL_ANGLES_DEG[i].to_radians();
        [PRECORDIAL_GAIN * a.cos(), 0.0, PRECORDIAL_GAIN * a.sin()]
    };
    Some(match lead {
        LeadName::I => [1.0, 0.0, 0.0],
        LeadName::II => [0.5, s3, 0.0],
        LeadName::III => [-0.5, s3, 0.0],
        LeadName::AVR => [-0.75, -s3 / 2.0, 0.0],
        LeadName::AVL => [0.75, -s3 / 2.0, 0.0],
        LeadName::AVF => [0.0, s3, 0.0],
        LeadName::V1 => precordial(0),
        LeadName::V2 => precordial(1),
        LeadName::V3 => precordial(2),
        LeadName::V4 => precordial(3),
        LeadName::V5 => precordial(4),
        LeadName::V6 => precordial(5),
        LeadName::Other(_) => return None,
    })
}

/// Rotate about the antero-posterior axis (z) by `deg` (frontal-plane axis shift; positive turns
/// left towards inferior).
pub fn rotate_frontal(v: Vec3, deg: f64) -> Vec3 {
    let (s, c) = deg.to_radians().sin_cos();
    [c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]]
}

/// Rotate about the vertical axis (y) by `deg` (horizontal-plane shift; positive turns left
/// towards anterior).
pub fn rotate_horizontal(v: Vec3, deg: f64) -> Vec3 {
    let (s, c) = deg.to_radians().sin_cos();
    [c * v[0] - s * v[2], v[1], s * v[0] + c * v[2]]
}

/// Which QRS component a Gaussian is (the QRS of a beat is the sum of three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrsPart {
    /// Initial forces (septal in a normal heart).
    Initial,
    /// Main ventricular forces.
    Main,
    /// Terminal forces (right ventricle in RBBB, late left ventricle in LBBB).
    Terminal,
}

/// One QRS Gaussian: centre after QRS onset and width, both in seconds, and its heart vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QrsComponent {
    pub part: QrsPart,
    pub centre_s: f64,
    pub sigma_s: f64,
    pub dipole_mv: Vec3,
}

/// Heart vectors (mV) of a normal adult heart before per-record jitter. Chosen so the standard
/// leads show the textbook shapes: upright P and T in II, qR in I/V6, rS in V1, transition
/// around V3-V4, negative aVR.
pub const NORMAL_P: Vec3 = [0.08, 0.13, 0.02];
pub const NORMAL_SEPTAL: Vec3 = [-0.12, 0.02, 0.15];
pub const NORMAL_MAIN: Vec3 = [0.85, 0.65, 0.10];
pub const NORMAL_TERMINAL: Vec3 = [-0.20, -0.15, -0.50];
pub const NORMAL_T: Vec3 = [0.25, 0.25, 0.25];

/// Unit vectors of the territories used for class changes.
pub const INFERIOR: Vec3 = [0.0, 1.0, 0.0];
pub fn anterior() -> Vec3 {
    normalize([0.15, 0.0, 1.0])
}
/// Between the V5 and V6 axes.
pub fn lateral() -> Vec3 {
    normalize([0.97, 0.0, 0.17])
}

/// A Gaussian of unit height.
pub fn gaussian(t_s: f64, centre_s: f64, sigma_s: f64) -> f64 {
    let d = (t_s - centre_s) / sigma_s;
    (-0.5 * d * d).exp()
}
