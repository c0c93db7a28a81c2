//! Password hashing and verification: Argon2id, stored as PHC strings.
//!
//! Parameters: Argon2id v19 with 19 MiB of memory, 2 passes and 1 lane, the
//! minimum OWASP's Password Storage Cheat Sheet recommends. A hash records
//! its parameters (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so they can
//! be raised later without invalidating stored hashes: each hash is verified
//! with its own.
//!
//! Hashing costs tens of milliseconds of CPU and 19 MiB of memory, so it
//! runs on tokio's blocking pool, never on a thread that serves requests,
//! and at most one hash per CPU runs at once: the blocking pool would
//! otherwise start hundreds under a burst of logins and exhaust memory.
//!
//! An unknown e-mail address and a wrong password must get the same answer
//! in the same time (SPEC section 5). So [`verify_password`] is always given
//! what was found, `None` included, and when there is no usable hash it
//! verifies against a fixed dummy hash with the same parameters before
//! answering `false`.
//!
//! Passwords only ever travel in [`SecretString`]s and appear in no error or
//! log.

use std::num::NonZeroUsize;
use std::sync::LazyLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::Semaphore;

/// The fewest characters a new password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The most characters a new password may have: far beyond any passphrase,
/// and a bound on the work a single hash can be made to do.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Memory cost in KiB (19 MiB).
const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over the memory.
const ITERATIONS: u32 = 2;
/// Lanes.
const PARALLELISM: u32 = 1;

/// A hash of a random password nobody knows, made with the parameters
/// above, so that verifying against it takes as long as verifying a real
/// one. A test checks that the parameters still match.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$4WNmZuPGW/x1ukbTml9gzA$IYRRQl0j6xrrt9fLC8cvZqQvxyfa4w8NcIcQrLKqU30";

/// Limits how many hashes are computed at once; see the module
/// documentation.
static HASHING_SLOTS: LazyLock<Semaphore> = LazyLock::new(|| {
    let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    Semaphore::new(cpus)
});

/// Why a new password could not be hashed. Messages never hold the
/// password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters long")]
    TooShort,
    /// More than [`MAX_PASSWORD_CHARS`] characters.
    #[error("the password must be at most {MAX_PASSWORD_CHARS} characters long")]
    TooLong,
    /// Hashing itself failed (no randomness for the salt, a panicked
    /// task).
    #[error("cannot hash the password: {0}")]
    Hashing(String),
}

/// Hashes a new password into a PHC string, after checking its length.
///
/// Length is counted in characters (Unicode scalar values), as NIST SP
/// 800-63B counts it; no other composition rule is imposed.
///
/// # Errors
///
/// [`PasswordError::TooShort`] or [`PasswordError::TooLong`] for a password
/// outside the bounds; [`PasswordError::Hashing`] when hashing failed.
pub async fn hash_password(password: SecretString) -> Result<String, PasswordError> {
    check_length(&password)?;
    let _slot = HASHING_SLOTS
        .acquire()
        .await
        .map_err(|error| PasswordError::Hashing(error.to_string()))?;
    tokio::task::spawn_blocking(move || {
        argon2id()
            .hash_password(password.expose_secret().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|error| PasswordError::Hashing(error.to_string()))
    })
    .await
    .map_err(|error| PasswordError::Hashing(error.to_string()))?
}

/// Whether `password` matches `stored_hash`, taking as long when there is
/// no hash to check (`None`: an unknown user, or one who signs in only
/// through the identity provider) as when there is.
///
/// `stored_hash` may be borrowed or owned. A stored hash that is not a
/// valid PHC string is treated like no hash, and logged (without the hash)
/// as the data error it is.
pub async fn verify_password<S: AsRef<str>>(
    password: SecretString,
    stored_hash: Option<S>,
) -> bool {
    let stored_hash = stored_hash.map(|hash| hash.as_ref().to_owned());
    let Ok(_slot) = HASHING_SLOTS.acquire().await else {
        return false;
    };
    let verified =
        tokio::task::spawn_blocking(move || verify_blocking(&password, stored_hash.as_deref()))
            .await;
    verified.unwrap_or_else(|error| {
        tracing::error!(error = %error, "password verification task failed");
        false
    })
}

fn verify_blocking(password: &SecretString, stored_hash: Option<&str>) -> bool {
    let stored = stored_hash.and_then(|hash| match PasswordHash::new(hash) {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            tracing::warn!(error = %error, "a stored password hash is not a PHC string");
            None
        }
    });
    let known = stored.is_some();
    let hash = stored.unwrap_or_else(dummy_hash);
    let matches = argon2id()
        .verify_password(password.expose_secret().as_bytes(), &hash)
        .is_ok();
    known && matches
}

fn check_length(password: &SecretString) -> Result<(), PasswordError> {
    let length = password.expose_secret().chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

fn argon2id() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .expect("the Argon2 parameters are within the algorithm's bounds");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn dummy_hash() -> PasswordHash {
    PasswordHash::new(DUMMY_HASH).expect("the dummy hash is a PHC string")
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text)
    }

    #[tokio::test]
    async fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let hash = hash_password(secret("correct horse battery"))
            .await
            .unwrap();

        assert!(verify_password(secret("correct horse battery"), Some(&hash)).await);
        assert!(!verify_password(secret("correct horse battery!"), Some(&hash)).await);
    }

    #[tokio::test]
    async fn a_hash_is_an_argon2id_phc_string_with_the_chosen_parameters() {
        let hash = hash_password(secret("correct horse battery"))
            .await
            .unwrap();

        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("correct horse"));
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let first = hash_password(secret("correct horse battery"))
            .await
            .unwrap();
        let second = hash_password(secret("correct horse battery"))
            .await
            .unwrap();

        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn passwords_shorter_than_twelve_characters_are_refused() {
        let error = hash_password(secret("elevenchars")).await.unwrap_err();

        assert_eq!(error, PasswordError::TooShort);
        assert_eq!(
            error.to_string(),
            "the password must be at least 12 characters long"
        );
    }

    #[tokio::test]
    async fn length_is_counted_in_characters_not_bytes() {
        // Twelve characters, twice as many bytes.
        let accented = "éééééééééééé";
        assert_eq!(accented.chars().count(), 12);

        assert!(hash_password(secret(accented)).await.is_ok());
        assert_eq!(
            hash_password(secret(&accented[2..])).await,
            Err(PasswordError::TooShort)
        );
    }

    #[tokio::test]
    async fn overlong_passwords_are_refused() {
        let error = hash_password(secret(&"a".repeat(MAX_PASSWORD_CHARS + 1)))
            .await
            .unwrap_err();

        assert_eq!(error, PasswordError::TooLong);
    }

    #[tokio::test]
    async fn no_stored_hash_never_verifies() {
        assert!(!verify_password(secret("anything at all"), None::<&str>).await);
        assert!(!verify_password(secret(""), None::<String>).await);
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_never_verifies() {
        for stored in ["", "plaintext password", "$argon2id$v=19$broken"] {
            assert!(
                !verify_password(secret(stored), Some(stored)).await,
                "{stored}"
            );
        }
    }

    #[test]
    fn the_dummy_hash_has_the_parameters_of_new_hashes() {
        let dummy = dummy_hash();
        let params = Params::try_from(&dummy).unwrap();

        assert_eq!(dummy.algorithm.as_str(), "argon2id");
        assert_eq!(dummy.version, Some(0x13));
        assert_eq!(params.m_cost(), MEMORY_KIB);
        assert_eq!(params.t_cost(), ITERATIONS);
        assert_eq!(params.p_cost(), PARALLELISM);
    }

    /// Not a precise timing test (machines are noisy, and other tests run
    /// alongside), but it fails if a missing user is answered without the
    /// work of a verification. It times the blocking work itself, not the
    /// wait for a hashing slot.
    #[tokio::test]
    async fn an_unknown_user_takes_about_as_long_as_a_wrong_password() {
        let hash = hash_password(secret("correct horse battery"))
            .await
            .unwrap();
        let time = |stored: Option<&str>| {
            let started = Instant::now();
            assert!(!verify_blocking(&secret("wrong password!"), stored));
            started.elapsed()
        };
        time(Some(&hash));

        let wrong_password = time(Some(&hash));
        let unknown_user = time(None);

        assert!(
            unknown_user * 4 > wrong_password && wrong_password * 4 > unknown_user,
            "wrong password {wrong_password:?}, unknown user {unknown_user:?}"
        );
    }
}
