//! Rebuilds the crate when a migration is added or edited.
//!
//! `sqlx::migrate!` embeds the files under `migrations/` at compile time, but
//! Cargo only notices changes to files it was told about; without this, a new
//! migration would be silently left out of an incremental build.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
