//! Fingerprint engine (in progress).
