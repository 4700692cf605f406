//! Placeholder (the previous hand-set model); regenerate with the tool.

/// Mean impostor distance.
pub(super) const MEAN: f64 = 0.5604;
/// Standard deviation of the impostor distance (widened).
pub(super) const SD: f64 = 0.06;
