//! Identities: who a user is and what it may do. The auth module owns
//! identities, passwords and roles, and the ID tokens and session ids that
//! prove an identity; it stores nothing itself (users live in
//! `intake-storage`, sessions in the coordinator) and knows nothing of HTTP.
//!
//! - [`email`]: e-mail addresses as users sign in with them.
//! - [`oidc`]: verification of the identity provider's ID tokens.
//! - [`password`]: Argon2id hashing, and verification that takes as long
//!   for an unknown user as for a wrong password.
//! - [`roles`]: roles and the permissions of SPEC section 5.
//! - [`tokens`]: session ids, CSRF tokens and their keyed hashes.

pub mod email;
pub mod oidc;
pub mod password;
pub mod roles;
pub mod tokens;
