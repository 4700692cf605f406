pub mod face;
pub mod finger;
pub mod fusion;
pub mod quality;
