pub mod face;
pub mod finger;
