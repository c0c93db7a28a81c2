//! Session ids, CSRF tokens, and the keyed hashes that stand for them.
//!
//! A session cookie is `TAG.SECRET`: TAG is a keyed hash of the user's id
//! (it groups a user's keys in one Redis Cluster slot and keys the `api`
//! rate limit), SECRET is 128 random bits followed by 128 bits of MAC over
//! TAG and those random bits. The MAC lets the server tell, without asking
//! Redis, that it issued the cookie for that tag: a client cannot mint tags
//! to spread its requests over rate-limit buckets. Redis only ever holds
//! HMAC-SHA-256(`INTAKE_SECRET_KEY`, SECRET), so a dump or `MONITOR` output
//! cannot be replayed, and an id the server did not issue matches nothing.
//! CSRF tokens are 256 random bits stored the same way. Every MAC has its
//! own label, so a value made for one purpose is worthless for another.
//!
//! Tokens are compared by looking up their keyed hash: an attacker cannot
//! steer the hash, so the timing of that lookup tells nothing about a
//! stored token.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use intake_coordination::sessions::SessionRef;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::config::SecretKey;

/// Length of the user tag in a cookie (16 bytes of MAC, base64url).
const TAG_LENGTH: usize = 22;
/// Length of a 256-bit secret in base64url.
const SECRET_LENGTH: usize = 43;

/// Makes and recognizes session ids and CSRF tokens.
#[derive(Debug, Clone)]
pub struct TokenKeys {
    key: Arc<SecretKey>,
}

/// A session id just made: the cookie value and where the session lives.
pub struct NewSessionId {
    /// The cookie value (`TAG.SECRET`): a secret.
    pub cookie_value: SecretString,
    /// Where the store keeps it.
    pub reference: SessionRef,
}

/// A CSRF token just made: the token for the client, the hash for the store.
pub struct NewCsrfToken {
    /// The token (a secret).
    pub token: SecretString,
    /// Its keyed hash.
    pub hash: String,
}

impl TokenKeys {
    /// Keys derived from the process's secret key.
    pub fn new(key: Arc<SecretKey>) -> Self {
        Self { key }
    }

    fn mac(&self, label: &str, value: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose())
            .expect("HMAC takes keys of any length");
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(value);
        mac.finalize().into_bytes().into()
    }

    /// The tag of `user_id`: the same for all of the user's sessions.
    pub fn user_tag(&self, user_id: &str) -> String {
        let mac = self.mac("user-tag", user_id.as_bytes());
        URL_SAFE_NO_PAD.encode(&mac[..16])
    }

    /// A new session id for `user_id`.
    pub fn new_session_id(&self, user_id: &str) -> NewSessionId {
        let tag = self.user_tag(user_id);
        let mut secret_bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut secret_bytes[..16]);
        let seal = self.cookie_seal(&tag, &secret_bytes[..16]);
        secret_bytes[16..].copy_from_slice(&seal);
        let secret = URL_SAFE_NO_PAD.encode(secret_bytes);
        let reference = SessionRef::new(tag.clone(), self.hash("session", &secret))
            .expect("tags and hashes are base64url");
        NewSessionId {
            cookie_value: format!("{tag}.{secret}").into(),
            reference,
        }
    }

    /// Where the session named by a cookie value would live; `None` when
    /// the value is not of the shape this server issues.
    pub fn session_from_cookie(&self, cookie_value: &str) -> Option<SessionRef> {
        let (tag, secret) = cookie_value.split_once('.')?;
        let well_formed = tag.len() == TAG_LENGTH
            && secret.len() == SECRET_LENGTH
            && is_base64url(tag)
            && is_base64url(secret);
        if !well_formed {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(secret).ok()?;
        let (random, seal) = bytes.split_at(16);
        if !self.seal_matches(tag, random, seal) {
            return None;
        }
        SessionRef::new(tag, self.hash("session", secret))
    }

    /// The MAC that binds a cookie's random part to its tag.
    fn cookie_seal(&self, tag: &str, random: &[u8]) -> [u8; 16] {
        let mut input = Vec::with_capacity(tag.len() + 1 + random.len());
        input.extend_from_slice(tag.as_bytes());
        input.push(b'.');
        input.extend_from_slice(random);
        let mac = self.mac("cookie-seal", &input);
        mac[..16].try_into().expect("a MAC has 32 bytes")
    }

    /// Compares a cookie's seal in constant time.
    fn seal_matches(&self, tag: &str, random: &[u8], seal: &[u8]) -> bool {
        let expected = self.cookie_seal(tag, random);
        expected.len() == seal.len()
            && expected
                .iter()
                .zip(seal)
                .fold(0u8, |difference, (a, b)| difference | (a ^ b))
                == 0
    }

    /// The rate-limit bucket name of a client address: a keyed hash, so no
    /// address is ever written to Redis.
    pub fn client_tag(&self, client_ip: &str) -> String {
        let mac = self.mac("client-tag", client_ip.as_bytes());
        URL_SAFE_NO_PAD.encode(&mac[..16])
    }

    /// A new CSRF token.
    pub fn new_csrf_token(&self) -> NewCsrfToken {
        let token = random_secret();
        let hash = self.hash("csrf", &token);
        NewCsrfToken {
            token: token.into(),
            hash,
        }
    }

    /// The keyed hash of a CSRF token from a request; `None` when it is not
    /// of the shape this server issues (so it cannot match).
    pub fn csrf_hash(&self, token: &SecretString) -> Option<String> {
        let token = token.expose_secret();
        (token.len() == SECRET_LENGTH && is_base64url(token)).then(|| self.hash("csrf", token))
    }

    fn hash(&self, label: &str, secret: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(label, secret.as_bytes()))
    }
}

/// The short form of a session's id hash that logs and audit events show.
pub fn short_session_id(id_hash: &str) -> &str {
    &id_hash[..id_hash.len().min(12)]
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn is_base64url(text: &str) -> bool {
    text.bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(byte: u8) -> TokenKeys {
        TokenKeys::new(Arc::new(SecretKey::new(vec![byte; 32]).unwrap()))
    }

    #[test]
    fn a_cookie_leads_back_to_its_session_and_holds_no_hash() {
        let keys = keys(1);
        let made = keys.new_session_id("user-1");
        let cookie = made.cookie_value.expose_secret();
        assert_eq!(
            keys.session_from_cookie(cookie),
            Some(made.reference.clone())
        );
        assert!(!cookie.contains(&made.reference.id_hash));
        assert_eq!(made.reference.user_tag, keys.user_tag("user-1"));
    }

    #[test]
    fn a_cookie_from_another_key_names_another_session() {
        let made = keys(1).new_session_id("user-1");
        let elsewhere = keys(2).session_from_cookie(made.cookie_value.expose_secret());
        assert_ne!(elsewhere, Some(made.reference));
    }

    #[test]
    fn a_cookie_with_another_users_tag_is_refused_by_its_seal() {
        let keys = keys(1);
        let made = keys.new_session_id("user-1");
        let cookie = made.cookie_value.expose_secret();
        let (_, secret) = cookie.split_once('.').unwrap();
        let forged = format!("{}.{secret}", keys.user_tag("user-2"));
        assert!(keys.session_from_cookie(&forged).is_none());
        let session = keys.session_from_cookie(cookie).unwrap();
        assert_eq!(session.user_tag, keys.user_tag("user-1"));
    }

    #[test]
    fn malformed_cookies_are_refused() {
        let keys = keys(1);
        for value in [
            "",
            "abc",
            "a.b",
            &format!("{}.{}", "a".repeat(22), "b".repeat(42)),
        ] {
            assert!(keys.session_from_cookie(value).is_none(), "{value}");
        }
        let tampered = format!("{}.{}", "a".repeat(22), "}".repeat(43));
        assert!(keys.session_from_cookie(&tampered).is_none());
    }

    #[test]
    fn csrf_tokens_are_256_bits_and_hash_the_same_way_twice() {
        let keys = keys(1);
        let made = keys.new_csrf_token();
        assert_eq!(made.token.expose_secret().len(), 43);
        assert_eq!(keys.csrf_hash(&made.token), Some(made.hash.clone()));
        assert_ne!(made.hash, *made.token.expose_secret());
        assert!(keys.csrf_hash(&SecretString::from("short")).is_none());
    }

    #[test]
    fn session_and_csrf_hashes_of_one_secret_differ() {
        let keys = keys(1);
        assert_ne!(keys.hash("session", "same"), keys.hash("csrf", "same"));
    }
}
