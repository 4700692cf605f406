//! Face engine (in progress).
