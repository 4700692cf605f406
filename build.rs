// The migrations are embedded at compile time (`diesel_migrations::embed_migrations!`); a new
// migration directory must rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
