//! Verification of the identity provider's ID tokens, for
//! `POST /api/auth/session-login` (SPEC section 5).
//!
//! An [`IdTokenVerifier`] turns the `idToken` of a request into a
//! [`VerifiedIdToken`] (issuer, subject, organization, role, and the e-mail
//! address when the provider verified it) or an [`InvalidIdToken`]. It owns
//! the provider's signing keys and nothing else: it creates no user and no
//! session, and it never logs the token or any part of it.
//!
//! What is checked, and why:
//!
//! - The algorithm is pinned to RS256, read from the header before any key is
//!   touched. The header is written by whoever made the token, so letting it
//!   choose would let an attacker pick `none` (no signature at all) or HS256
//!   with the provider's *public* key as the HMAC secret, which anyone can
//!   compute. Providers we accept (Firebase, and OIDC providers configured
//!   for it) sign with RS256.
//! - The `kid` must name a key of the configured key set. Keys embedded in the
//!   token (`jwk`, `jku`, `x5u`, `x5c`) are never used. A key set entry is used
//!   only when it is an RSA key of at least 2048 bits meant for signatures
//!   with RS256 (or with no `use`/`alg` stated).
//! - The signature, then `iss` (a single string, equal to the configured
//!   issuer), `aud` (contains the configured audience), `exp` (not past),
//!   `nbf` when present, `iat` (required, not in the future), `auth_time` when
//!   present (not in the future) and `sub` (a non-empty string, the stable
//!   user key together with the issuer). Time checks allow [`CLOCK_SKEW`].
//! - `email` is kept only when `email_verified` is the JSON value `true`.
//!   An address is what links a first login to an existing account, and most
//!   providers let anyone put any address on an account; without the
//!   provider's word that the mailbox was proven, a claimed address would
//!   hand over the account it names. Firebase states `email_verified` in its
//!   ID tokens. A string `"true"` does not count: the claim is a boolean.
//!
//! Keys come from `OIDC_JWKS_FILE`, read once at start-up (a missing or
//! malformed file stops start-up), or from `OIDC_JWKS_URL`, fetched over HTTPS
//! when first needed and cached. Providers rotate keys by publishing the new
//! one before signing with it, so an unknown `kid` triggers a refetch, but at
//! most once per refetch interval (a minute by default): unknown `kid`s cost
//! an attacker nothing to make, and must not turn the verifier into a
//! request amplifier against the provider. The cache is also refreshed when
//! it is older than the response's `Cache-Control: max-age` (an hour when
//! absent), so a key the provider withdraws stops being accepted. When a
//! refresh fails the keys already held stay in use and a warning is logged:
//! a provider outage should not end every login at once.
//!
//! Cryptography is RustCrypto's, through `jsonwebtoken`'s `rust_crypto`
//! feature: its other backend is aws-lc-rs, and this process uses rustls's
//! `ring` provider only (DEPENDENCIES.md warns that two rustls providers make
//! the first handshake panic). RustCrypto's `rsa` crate has a known timing
//! weakness (RUSTSEC-2023-0071, "Marvin") in operations with a *private* key;
//! verification uses only public keys, so it does not apply here. The JWKS is
//! fetched with `reqwest` 0.12 and its `rustls-tls` feature, which selects
//! rustls with `ring` and the webpki root certificates; `cargo tree -p intake
//! -i aws-lc-rs` must stay empty.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::{ConfigError, JwksSource, OidcSettings};

/// How far the provider's clock may be ahead of ours (`iat`, `auth_time`,
/// `nbf`) or behind it (`exp`).
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The shortest time between two fetches of a JWKS URL.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// How long fetched keys are fresh when the response has no `max-age`.
const DEFAULT_KEYS_MAX_AGE: Duration = Duration::from_secs(60 * 60);

/// The longest freshness granted to fetched keys, whatever `max-age` says.
const LONGEST_KEYS_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// ID tokens are about a kilobyte; anything far larger is not one, and is
/// refused before any parsing.
const LONGEST_TOKEN_BYTES: usize = 16 * 1024;

/// A key set is a few kilobytes; a larger answer is refused.
const LONGEST_JWKS_BYTES: usize = 1024 * 1024;

/// No fetch of the key set waits longer than this.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// RSA keys shorter than this are not trusted to sign anything.
const SHORTEST_RSA_MODULUS_BITS: usize = 2048;

/// The identity claims of an ID token whose signature and claims were
/// checked.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedIdToken {
    /// `iss`: equal to the configured issuer.
    pub issuer: String,
    /// `sub`: the user's id at the provider, never empty. Users are keyed by
    /// issuer and subject.
    pub subject: String,
    /// The configured organization claim, when it is a non-empty string.
    pub organization_id: Option<String>,
    /// The configured role claim, when it is a non-empty string.
    pub role: Option<String>,
    /// `email`, only when it is a string and `email_verified` is `true`:
    /// the provider checked that the user controls the mailbox, so the
    /// address may link an existing account. An unverified address is
    /// dropped here rather than carried beside a flag, so that no caller can
    /// use it by forgetting to look at the flag.
    pub verified_email: Option<String>,
}

/// Prints everything but the e-mail address, which must not reach logs.
impl fmt::Debug for VerifiedIdToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("VerifiedIdToken")
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("organization_id", &self.organization_id)
            .field("role", &self.role)
            .field(
                "verified_email",
                &self.verified_email.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// An ID token that was refused.
///
/// Its `Display` is the generic text the route answers with; the specific
/// [`reason`](Self::reason) is for a DEBUG log line. Neither holds any part
/// of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Invalid ID token")]
pub struct InvalidIdToken {
    reason: IdTokenRejection,
}

impl InvalidIdToken {
    /// Why the token was refused.
    pub fn reason(&self) -> IdTokenRejection {
        self.reason
    }
}

impl From<IdTokenRejection> for InvalidIdToken {
    fn from(reason: IdTokenRejection) -> Self {
        Self { reason }
    }
}

/// Why an ID token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdTokenRejection {
    /// Not three base64url parts with JSON inside, or far too long.
    Malformed,
    /// The header names an algorithm other than RS256 (`none` included).
    Algorithm,
    /// The header names no `kid`, or one that is not in the key set.
    UnknownKey,
    /// The key set could never be fetched, so no key is known.
    KeysUnavailable,
    /// The signature does not verify with the named key.
    Signature,
    /// `iss` is not the configured issuer.
    Issuer,
    /// `aud` does not name the configured audience.
    Audience,
    /// `exp` has passed.
    Expired,
    /// `nbf` is still in the future.
    NotYetValid,
    /// `iat` is in the future.
    IssuedInTheFuture,
    /// `auth_time` is in the future.
    AuthenticatedInTheFuture,
    /// A required claim is absent, or not of its type.
    MissingClaim(&'static str),
    /// `sub` is the empty string.
    EmptySubject,
}

impl fmt::Display for IdTokenRejection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Malformed => "the token is malformed",
            Self::Algorithm => "the algorithm is not RS256",
            Self::UnknownKey => "the key id names no key of the key set",
            Self::KeysUnavailable => "the key set could not be fetched",
            Self::Signature => "the signature does not verify",
            Self::Issuer => "the issuer is not the configured one",
            Self::Audience => "the audience is not the configured one",
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet",
            Self::IssuedInTheFuture => "the token was issued in the future",
            Self::AuthenticatedInTheFuture => "the authentication time is in the future",
            Self::MissingClaim(claim) => return write!(formatter, "the {claim} claim is missing"),
            Self::EmptySubject => "the subject is empty",
        };
        formatter.write_str(text)
    }
}

/// Checks ID tokens against the configured provider. Cheap to clone: clones
/// share the keys and their cache.
#[derive(Clone)]
pub struct IdTokenVerifier {
    inner: Arc<Verifier>,
}

struct Verifier {
    issuer: String,
    organization_claim: String,
    role_claim: String,
    validation: Validation,
    keys: SigningKeys,
}

impl fmt::Debug for IdTokenVerifier {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.inner.keys {
            SigningKeys::Fixed(_) => "file",
            SigningKeys::Fetched(_) => "url",
        };
        formatter
            .debug_struct("IdTokenVerifier")
            .field("issuer", &self.inner.issuer)
            .field("keys", &source)
            .finish_non_exhaustive()
    }
}

impl IdTokenVerifier {
    /// Builds the verifier, reading `OIDC_JWKS_FILE` now. A URL is fetched
    /// when the first token arrives.
    pub fn new(settings: &OidcSettings) -> Result<Self, ConfigError> {
        Self::with_refetch_interval(settings, DEFAULT_REFETCH_INTERVAL)
    }

    /// As [`new`](Self::new), with the shortest time between two fetches of
    /// a JWKS URL set to `refetch_interval`.
    pub fn with_refetch_interval(
        settings: &OidcSettings,
        refetch_interval: Duration,
    ) -> Result<Self, ConfigError> {
        // Pins the backend even if another crate ever enables jsonwebtoken's
        // aws-lc-rs feature too (with both, there is no default and the first
        // decode panics). An error only means one is installed already.
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let keys = match &settings.jwks {
            JwksSource::File(path) => SigningKeys::Fixed(Arc::new(read_key_file(path)?)),
            JwksSource::Url(url) => SigningKeys::Fetched(RemoteKeys::new(url, refetch_interval)?),
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = CLOCK_SKEW.as_secs();
        let inner = Verifier {
            issuer: settings.issuer.clone(),
            organization_claim: settings.organization_claim.clone(),
            role_claim: settings.role_claim.clone(),
            validation,
            keys,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Checks `id_token` and returns its identity claims.
    pub async fn verify(&self, id_token: &str) -> Result<VerifiedIdToken, InvalidIdToken> {
        let key_id = read_header(id_token)?;

        let key = self.inner.keys.key(&key_id).await?;

        let claims =
            jsonwebtoken::decode::<Map<String, Value>>(id_token, &key, &self.inner.validation)
                .map_err(|error| rejection_of(error.kind()))?
                .claims;

        Ok(self.inner.identity(claims, unix_now())?)
    }
}

impl Verifier {
    /// The checks `jsonwebtoken` does not make, then the identity claims.
    fn identity(
        &self,
        mut claims: Map<String, Value>,
        now: f64,
    ) -> Result<VerifiedIdToken, IdTokenRejection> {
        let skew = CLOCK_SKEW.as_secs_f64();
        // `jsonwebtoken` also accepts an array of issuers; an ID token has one.
        let issuer = take_string(&mut claims, "iss").ok_or(IdTokenRejection::Issuer)?;
        if issuer != self.issuer {
            return Err(IdTokenRejection::Issuer);
        }
        let subject =
            take_string(&mut claims, "sub").ok_or(IdTokenRejection::MissingClaim("sub"))?;
        if subject.is_empty() {
            return Err(IdTokenRejection::EmptySubject);
        }
        let issued_at = claims
            .get("iat")
            .and_then(Value::as_f64)
            .ok_or(IdTokenRejection::MissingClaim("iat"))?;
        if issued_at > now + skew {
            return Err(IdTokenRejection::IssuedInTheFuture);
        }
        match claims.get("auth_time") {
            None => {}
            Some(value) => match value.as_f64() {
                Some(auth_time) if auth_time <= now + skew => {}
                Some(_) => return Err(IdTokenRejection::AuthenticatedInTheFuture),
                None => return Err(IdTokenRejection::Malformed),
            },
        }
        Ok(VerifiedIdToken {
            issuer,
            subject,
            organization_id: take_string(&mut claims, &self.organization_claim)
                .filter(|id| !id.is_empty()),
            role: take_string(&mut claims, &self.role_claim).filter(|role| !role.is_empty()),
            verified_email: take_verified_email(&mut claims),
        })
    }
}

/// `email` when `email_verified` is exactly `true`, else nothing.
fn take_verified_email(claims: &mut Map<String, Value>) -> Option<String> {
    let verified = claims.remove("email_verified") == Some(Value::Bool(true));
    let email = take_string(claims, "email");
    email.filter(|_| verified)
}

fn take_string(claims: &mut Map<String, Value>, name: &str) -> Option<String> {
    match claims.remove(name)? {
        Value::String(text) => Some(text),
        _ => None,
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

#[derive(Deserialize)]
struct UnverifiedHeader {
    alg: String,
    kid: Option<String>,
}

/// Refuses anything but a three-part RS256 token naming a key, and returns
/// the key's id. Nothing here is trusted beyond choosing which key to try.
fn read_header(id_token: &str) -> Result<String, IdTokenRejection> {
    if id_token.len() > LONGEST_TOKEN_BYTES || id_token.split('.').count() != 3 {
        return Err(IdTokenRejection::Malformed);
    }
    let encoded = id_token.split('.').next().unwrap_or_default();
    let header: UnverifiedHeader = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(IdTokenRejection::Malformed)?;
    if header.alg != "RS256" {
        return Err(IdTokenRejection::Algorithm);
    }
    header.kid.ok_or(IdTokenRejection::UnknownKey)
}

/// Maps `jsonwebtoken`'s errors, whose text may quote the token's content,
/// to a reason that never does.
fn rejection_of(kind: &ErrorKind) -> IdTokenRejection {
    match kind {
        ErrorKind::InvalidSignature => IdTokenRejection::Signature,
        ErrorKind::ExpiredSignature => IdTokenRejection::Expired,
        ErrorKind::ImmatureSignature => IdTokenRejection::NotYetValid,
        ErrorKind::InvalidIssuer => IdTokenRejection::Issuer,
        ErrorKind::InvalidAudience => IdTokenRejection::Audience,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => IdTokenRejection::Algorithm,
        ErrorKind::MissingRequiredClaim(claim) => {
            IdTokenRejection::MissingClaim(match claim.as_str() {
                "exp" => "exp",
                "iss" => "iss",
                "aud" => "aud",
                "sub" => "sub",
                _ => "required",
            })
        }
        // Parts that do not decode, claims of the wrong type, or a key of the
        // set that turns out unusable: the token is refused all the same.
        _ => IdTokenRejection::Malformed,
    }
}

type KeySet = Arc<HashMap<String, DecodingKey>>;

enum SigningKeys {
    /// Read from `OIDC_JWKS_FILE` at start-up.
    Fixed(KeySet),
    /// Fetched from `OIDC_JWKS_URL`.
    Fetched(RemoteKeys),
}

impl SigningKeys {
    async fn key(&self, key_id: &str) -> Result<DecodingKey, IdTokenRejection> {
        match self {
            Self::Fixed(keys) => keys
                .get(key_id)
                .cloned()
                .ok_or(IdTokenRejection::UnknownKey),
            Self::Fetched(remote) => remote.key(key_id).await,
        }
    }
}

/// A key set behind a URL, cached.
struct RemoteKeys {
    url: String,
    client: reqwest::Client,
    refetch_interval: Duration,
    /// The keys last fetched. Never held across an `await`.
    cache: RwLock<CachedKeys>,
    /// When the last fetch started; held while fetching, so that concurrent
    /// requests with the same new `kid` cause one fetch.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

#[derive(Clone, Default)]
struct CachedKeys {
    keys: KeySet,
    /// `None` until a fetch succeeds.
    fresh_until: Option<Instant>,
}

impl RemoteKeys {
    fn new(url: &str, refetch_interval: Duration) -> Result<Self, ConfigError> {
        let invalid = |problem: String| ConfigError {
            variable: "OIDC_JWKS_URL",
            problem,
        };
        let parsed = url::Url::parse(url).map_err(|_| invalid("is not a valid URL".into()))?;
        if !(parsed.scheme() == "https" || parsed.scheme() == "http" && is_loopback(&parsed)) {
            return Err(invalid(
                "must be an https:// URL (http:// only for a loopback host)".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                // A redirect must not downgrade the key set to plain HTTP.
                if attempt.url().scheme() != "https" || attempt.previous().len() > 3 {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|error| invalid(format!("no HTTP client could be built: {error}")))?;
        Ok(Self {
            url: url.to_owned(),
            client,
            refetch_interval,
            cache: RwLock::default(),
            last_fetch: tokio::sync::Mutex::new(None),
        })
    }

    async fn key(&self, key_id: &str) -> Result<DecodingKey, IdTokenRejection> {
        if let Some(key) = self.fresh_key(key_id) {
            return Ok(key);
        }

        let mut last_fetch = self.last_fetch.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.fresh_key(key_id) {
            return Ok(key);
        }
        let now = Instant::now();
        if last_fetch.is_none_or(|at| now.duration_since(at) >= self.refetch_interval) {
            *last_fetch = Some(now);
            self.refresh(now).await;
        }
        drop(last_fetch);

        // Keys past their freshness are still used when no refresh was allowed
        // or it failed.
        let cached = self.cached();
        match cached.keys.get(key_id) {
            Some(key) => Ok(key.clone()),
            None if cached.fresh_until.is_none() => Err(IdTokenRejection::KeysUnavailable),
            None => Err(IdTokenRejection::UnknownKey),
        }
    }

    fn cached(&self) -> CachedKeys {
        self.cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn fresh_key(&self, key_id: &str) -> Option<DecodingKey> {
        let cached = self.cached();
        let fresh = cached
            .fresh_until
            .is_some_and(|until| Instant::now() < until);
        fresh.then(|| cached.keys.get(key_id).cloned()).flatten()
    }

    async fn refresh(&self, now: Instant) {
        match self.fetch().await {
            Ok((keys, max_age)) => {
                tracing::info!(url = %self.url, keys = keys.len(), "fetched the OIDC key set");
                let fresh = CachedKeys {
                    keys: Arc::new(keys),
                    fresh_until: Some(now + max_age.max(self.refetch_interval)),
                };
                *self
                    .cache
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
            }
            Err(problem) => {
                tracing::warn!(url = %self.url, %problem, "Failed to fetch the OIDC key set");
            }
        }
    }

    async fn fetch(&self) -> Result<(HashMap<String, DecodingKey>, Duration), String> {
        let mut response = self
            .client
            .get(&self.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| error.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("the server answered {}", response.status()));
        }
        let max_age = cache_max_age(response.headers()).unwrap_or(DEFAULT_KEYS_MAX_AGE);
        let too_large = || format!("the key set is larger than {LONGEST_JWKS_BYTES} bytes");
        if response.content_length().unwrap_or(0) > LONGEST_JWKS_BYTES as u64 {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| error.without_url().to_string())?
        {
            body.extend_from_slice(&chunk);
            if body.len() > LONGEST_JWKS_BYTES {
                return Err(too_large());
            }
        }
        let keys = parse_key_set(&body)?;
        Ok((keys, max_age.min(LONGEST_KEYS_MAX_AGE)))
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(address)) => IpAddr::V4(address).is_loopback(),
        Some(url::Host::Ipv6(address)) => IpAddr::V6(address).is_loopback(),
        None => false,
    }
}

fn cache_max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    value.split(',').find_map(|directive| {
        let seconds = directive.trim().strip_prefix("max-age=")?;
        seconds
            .trim_matches('"')
            .parse()
            .ok()
            .map(Duration::from_secs)
    })
}

fn read_key_file(path: &Path) -> Result<HashMap<String, DecodingKey>, ConfigError> {
    let invalid = |problem: String| ConfigError {
        variable: "OIDC_JWKS_FILE",
        problem,
    };
    let json = std::fs::read(path)
        .map_err(|error| invalid(format!("cannot read {}: {error}", path.display())))?;
    parse_key_set(&json).map_err(|problem| invalid(format!("{}: {problem}", path.display())))
}

#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<Value>,
}

/// The usable RS256 keys of a JWKS document, by `kid`; an error when there
/// is none. Other keys are skipped rather than refused, since a provider may
/// publish encryption or other algorithms' keys beside its signing keys.
fn parse_key_set(json: &[u8]) -> Result<HashMap<String, DecodingKey>, String> {
    let raw: RawKeySet = serde_json::from_slice(json)
        .map_err(|error| format!("is not a JSON Web Key Set: {error}"))?;
    let mut keys = HashMap::new();
    for value in raw.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        if let Some((key_id, key)) = rs256_signing_key(&jwk) {
            keys.entry(key_id).or_insert(key);
        }
    }
    if keys.is_empty() {
        return Err(format!(
            "holds no RSA signing key of at least {SHORTEST_RSA_MODULUS_BITS} bits with a kid"
        ));
    }
    Ok(keys)
}

fn rs256_signing_key(jwk: &Jwk) -> Option<(String, DecodingKey)> {
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        return None;
    };
    let common = &jwk.common;
    let for_rs256 = matches!(common.key_algorithm, None | Some(KeyAlgorithm::RS256));
    let for_signing = matches!(common.public_key_use, None | Some(PublicKeyUse::Signature));
    if !for_rs256 || !for_signing || modulus_bits(&rsa.n)? < SHORTEST_RSA_MODULUS_BITS {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((common.key_id.clone()?, key))
}

fn modulus_bits(encoded: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    let first = bytes.iter().position(|&byte| byte != 0)?;
    let significant = &bytes[first..];
    Some(significant.len() * 8 - significant[0].leading_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://idp.test/clinic";
    const AUDIENCE: &str = "clinic-app";

    /// An RSA key pair made by the `openssl` command.
    struct TestKey {
        kid: &'static str,
        private_pkcs1_der: Vec<u8>,
        public_pem: Vec<u8>,
        modulus: String,
    }

    impl TestKey {
        fn generate(kid: &'static str) -> Self {
            let directory = tempfile::tempdir().unwrap();
            let pem = directory.path().join("key.pem");
            let der = directory.path().join("key.der");
            let public = directory.path().join("public.pem");
            openssl(&["genrsa", "-traditional", "-out", path(&pem), "2048"]);
            openssl(&[
                "rsa",
                "-in",
                path(&pem),
                "-traditional",
                "-outform",
                "DER",
                "-out",
                path(&der),
            ]);
            openssl(&["rsa", "-in", path(&pem), "-pubout", "-out", path(&public)]);
            let modulus_output = Command::new("openssl")
                .args(["rsa", "-in", path(&pem), "-noout", "-modulus"])
                .output()
                .unwrap();
            let modulus_hex = String::from_utf8(modulus_output.stdout).unwrap();
            let modulus_hex = modulus_hex.trim().strip_prefix("Modulus=").unwrap();
            let modulus_bytes: Vec<u8> = (0..modulus_hex.len())
                .step_by(2)
                .map(|index| u8::from_str_radix(&modulus_hex[index..index + 2], 16).unwrap())
                .collect();
            Self {
                kid,
                private_pkcs1_der: std::fs::read(der).unwrap(),
                public_pem: std::fs::read(public).unwrap(),
                modulus: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(modulus_bytes),
            }
        }

        fn jwk(&self) -> Value {
            json!({
                "kty": "RSA", "use": "sig", "alg": "RS256",
                "kid": self.kid, "n": self.modulus, "e": "AQAB",
            })
        }

        fn sign(&self, claims: &Value) -> String {
            self.sign_as(self.kid, claims)
        }

        fn sign_as(&self, kid: &str, claims: &Value) -> String {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(kid.to_owned());
            let key = EncodingKey::from_rsa_der(&self.private_pkcs1_der);
            jsonwebtoken::encode(&header, claims, &key).unwrap()
        }
    }

    fn openssl(arguments: &[&str]) {
        let output = Command::new("openssl").args(arguments).output().unwrap();
        assert!(output.status.success(), "openssl {arguments:?} failed");
    }

    fn path(path: &Path) -> &str {
        path.to_str().unwrap()
    }

    /// Two keys, made once for the whole test binary (key generation is slow).
    fn keys() -> &'static (TestKey, TestKey) {
        static KEYS: OnceLock<(TestKey, TestKey)> = OnceLock::new();
        KEYS.get_or_init(|| (TestKey::generate("key-a"), TestKey::generate("key-b")))
    }

    fn key_set(keys: &[&TestKey]) -> Value {
        json!({ "keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>() })
    }

    fn now() -> i64 {
        unix_now() as i64
    }

    fn claims() -> Value {
        json!({
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "user-1234",
            "iat": now() - 10,
            "exp": now() + 3600,
            "auth_time": now() - 20,
            "email": "patient@example.test",
            "email_verified": true,
            "organization_id": "org-42",
            "role": "staff",
        })
    }

    fn claims_with(changes: Value) -> Value {
        let mut claims = claims();
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    }

    fn settings(jwks: JwksSource) -> OidcSettings {
        OidcSettings {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            jwks,
            organization_claim: "organization_id".into(),
            role_claim: "role".into(),
        }
    }

    /// A verifier reading key A from a file, and the directory holding it.
    fn file_verifier() -> (IdTokenVerifier, tempfile::TempDir) {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("jwks.json");
        std::fs::write(&file, key_set(&[&keys().0]).to_string()).unwrap();
        let verifier = IdTokenVerifier::new(&settings(JwksSource::File(file))).unwrap();
        (verifier, directory)
    }

    async fn rejection(token: &str) -> IdTokenRejection {
        let (verifier, _directory) = file_verifier();
        verifier.verify(token).await.unwrap_err().reason()
    }

    fn base64url(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[tokio::test]
    async fn a_valid_token_is_accepted_and_its_identity_claims_extracted() {
        let (verifier, _directory) = file_verifier();
        let verified = verifier.verify(&keys().0.sign(&claims())).await.unwrap();
        assert_eq!(
            verified,
            VerifiedIdToken {
                issuer: ISSUER.into(),
                subject: "user-1234".into(),
                organization_id: Some("org-42".into()),
                role: Some("staff".into()),
                verified_email: Some("patient@example.test".into()),
            }
        );
    }

    #[tokio::test]
    async fn the_organization_and_role_come_from_the_configured_claims() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("jwks.json");
        std::fs::write(&file, key_set(&[&keys().0]).to_string()).unwrap();
        let mut settings = settings(JwksSource::File(file));
        settings.organization_claim = "https://clinic.test/org".into();
        settings.role_claim = "clinic_role".into();
        let verifier = IdTokenVerifier::new(&settings).unwrap();
        let claims = claims_with(json!({
            "https://clinic.test/org": "org-7",
            "clinic_role": "admin",
            "email": null,
        }));
        let verified = verifier.verify(&keys().0.sign(&claims)).await.unwrap();
        assert_eq!(verified.organization_id.as_deref(), Some("org-7"));
        assert_eq!(verified.role.as_deref(), Some("admin"));
        assert_eq!(verified.verified_email, None);
    }

    #[tokio::test]
    async fn an_email_the_provider_has_not_verified_is_dropped() {
        let (verifier, _directory) = file_verifier();
        for email_verified in [json!(false), json!("true"), json!(1), Value::Null] {
            let claims = claims_with(json!({ "email_verified": email_verified }));
            let verified = verifier.verify(&keys().0.sign(&claims)).await.unwrap();
            assert_eq!(
                verified.verified_email, None,
                "for email_verified {email_verified}"
            );
            assert_eq!(verified.subject, "user-1234", "the token is still valid");
        }
    }

    #[tokio::test]
    async fn an_organization_claim_that_is_not_a_string_counts_as_absent() {
        let (verifier, _directory) = file_verifier();
        let claims = claims_with(json!({"organization_id": 42, "role": null}));
        let verified = verifier.verify(&keys().0.sign(&claims)).await.unwrap();
        assert_eq!(verified.organization_id, None);
        assert_eq!(verified.role, None);
    }

    #[tokio::test]
    async fn a_token_for_another_audience_is_refused() {
        let token = keys().0.sign(&claims_with(json!({"aud": "other-app"})));
        assert_eq!(rejection(&token).await, IdTokenRejection::Audience);
    }

    #[tokio::test]
    async fn a_token_from_another_issuer_is_refused() {
        let token = keys()
            .0
            .sign(&claims_with(json!({"iss": "https://evil.test"})));
        assert_eq!(rejection(&token).await, IdTokenRejection::Issuer);
    }

    #[tokio::test]
    async fn a_token_naming_several_issuers_is_refused() {
        let issuers = json!({"iss": [ISSUER, "https://evil.test"]});
        let token = keys().0.sign(&claims_with(issuers));
        assert_eq!(rejection(&token).await, IdTokenRejection::Issuer);
    }

    #[tokio::test]
    async fn an_expired_token_is_refused() {
        let expired = json!({"iat": now() - 7200, "exp": now() - 3600});
        let token = keys().0.sign(&claims_with(expired));
        assert_eq!(rejection(&token).await, IdTokenRejection::Expired);
    }

    #[tokio::test]
    async fn an_unsigned_token_with_algorithm_none_is_refused() {
        let header = base64url(br#"{"alg":"none","typ":"JWT","kid":"key-a"}"#);
        let payload = base64url(claims().to_string().as_bytes());
        let token = format!("{header}.{payload}.");
        assert_eq!(rejection(&token).await, IdTokenRejection::Algorithm);
    }

    #[tokio::test]
    async fn an_hs256_token_keyed_with_the_public_key_is_refused() {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("key-a".into());
        let secret = EncodingKey::from_secret(&keys().0.public_pem).unwrap();
        let token = jsonwebtoken::encode(&header, &claims(), &secret).unwrap();
        assert_eq!(rejection(&token).await, IdTokenRejection::Algorithm);
    }

    #[tokio::test]
    async fn a_token_signed_with_another_rsa_algorithm_is_refused() {
        let mut header = Header::new(Algorithm::RS512);
        header.kid = Some("key-a".into());
        let key = EncodingKey::from_rsa_der(&keys().0.private_pkcs1_der);
        let token = jsonwebtoken::encode(&header, &claims(), &key).unwrap();
        assert_eq!(rejection(&token).await, IdTokenRejection::Algorithm);
    }

    #[tokio::test]
    async fn a_token_naming_an_unknown_key_is_refused() {
        let token = keys().1.sign(&claims());
        assert_eq!(rejection(&token).await, IdTokenRejection::UnknownKey);
    }

    #[tokio::test]
    async fn a_token_naming_no_key_is_refused() {
        let key = EncodingKey::from_rsa_der(&keys().0.private_pkcs1_der);
        let header = Header::new(Algorithm::RS256);
        let token = jsonwebtoken::encode(&header, &claims(), &key).unwrap();
        assert_eq!(rejection(&token).await, IdTokenRejection::UnknownKey);
    }

    #[tokio::test]
    async fn a_token_signed_by_another_key_under_a_known_kid_is_refused() {
        let token = keys().1.sign_as("key-a", &claims());
        assert_eq!(rejection(&token).await, IdTokenRejection::Signature);
    }

    #[tokio::test]
    async fn a_token_whose_claims_were_altered_after_signing_is_refused() {
        let token = keys().0.sign(&claims());
        let parts: Vec<&str> = token.split('.').collect();
        let altered = claims_with(json!({"role": "admin"}));
        let payload = base64url(altered.to_string().as_bytes());
        let forged = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(rejection(&forged).await, IdTokenRejection::Signature);
    }

    #[tokio::test]
    async fn a_token_with_an_empty_subject_is_refused() {
        let token = keys().0.sign(&claims_with(json!({"sub": ""})));
        assert_eq!(rejection(&token).await, IdTokenRejection::EmptySubject);
    }

    #[tokio::test]
    async fn a_token_without_a_subject_is_refused() {
        let token = keys().0.sign(&claims_with(json!({"sub": null})));
        assert_eq!(
            rejection(&token).await,
            IdTokenRejection::MissingClaim("sub")
        );
    }

    #[tokio::test]
    async fn a_token_issued_in_the_future_is_refused() {
        let token = keys().0.sign(&claims_with(json!({"iat": now() + 600})));
        assert_eq!(rejection(&token).await, IdTokenRejection::IssuedInTheFuture);
    }

    #[tokio::test]
    async fn a_token_without_an_issue_time_is_refused() {
        let token = keys().0.sign(&claims_with(json!({"iat": null})));
        assert_eq!(
            rejection(&token).await,
            IdTokenRejection::MissingClaim("iat")
        );
    }

    #[tokio::test]
    async fn a_token_whose_authentication_time_is_in_the_future_is_refused() {
        let token = keys()
            .0
            .sign(&claims_with(json!({"auth_time": now() + 600})));
        assert_eq!(
            rejection(&token).await,
            IdTokenRejection::AuthenticatedInTheFuture
        );
    }

    #[tokio::test]
    async fn a_token_issued_a_few_seconds_ahead_of_our_clock_is_accepted() {
        let (verifier, _directory) = file_verifier();
        let claims = claims_with(json!({"iat": now() + 5, "auth_time": now() + 5}));
        assert!(verifier.verify(&keys().0.sign(&claims)).await.is_ok());
    }

    #[tokio::test]
    async fn text_that_is_not_a_token_is_refused_as_malformed() {
        for text in ["", "abc", "a.b", "a.b.c", "a.b.c.d.e"] {
            assert_eq!(rejection(text).await, IdTokenRejection::Malformed);
        }
        let huge = format!("{}.e30.", "e".repeat(LONGEST_TOKEN_BYTES));
        assert_eq!(rejection(&huge).await, IdTokenRejection::Malformed);
    }

    #[tokio::test]
    async fn the_error_says_only_invalid_id_token_and_holds_no_part_of_the_token() {
        let token = keys().0.sign(&claims_with(json!({"aud": "other-app"})));
        let (verifier, _directory) = file_verifier();
        let error = verifier.verify(&token).await.unwrap_err();
        assert_eq!(error.to_string(), "Invalid ID token");
        let debug = format!("{error:?} {}", error.reason());
        for part in token.split('.') {
            assert!(!debug.contains(part));
        }
        assert!(!debug.contains("other-app"));
    }

    #[tokio::test]
    async fn the_debug_form_of_a_verified_token_hides_the_email_address() {
        let (verifier, _directory) = file_verifier();
        let verified = verifier.verify(&keys().0.sign(&claims())).await.unwrap();
        let debug = format!("{verified:?}");
        assert!(!debug.contains("patient@example.test"));
        assert!(debug.contains("user-1234"));
    }

    #[test]
    fn a_missing_key_file_is_a_start_up_error_naming_oidc_jwks_file() {
        let missing = PathBuf::from("/nonexistent/jwks.json");
        let error = IdTokenVerifier::new(&settings(JwksSource::File(missing))).unwrap_err();
        assert_eq!(error.variable, "OIDC_JWKS_FILE");
    }

    #[test]
    fn a_malformed_key_file_is_a_start_up_error_naming_oidc_jwks_file() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("jwks.json");
        for content in [
            "not json",
            r#"{"keys": []}"#,
            r#"{"keys": [{"kty": "oct"}]}"#,
        ] {
            std::fs::write(&file, content).unwrap();
            let settings = settings(JwksSource::File(file.clone()));
            let error = IdTokenVerifier::new(&settings).unwrap_err();
            assert_eq!(error.variable, "OIDC_JWKS_FILE", "for {content}");
        }
    }

    #[test]
    fn keys_for_other_uses_or_algorithms_or_too_short_are_skipped() {
        let key = &keys().0;
        let mut encryption = key.jwk();
        encryption["kid"] = json!("encryption");
        encryption["use"] = json!("enc");
        let mut rs512 = key.jwk();
        rs512["kid"] = json!("rs512");
        rs512["alg"] = json!("RS512");
        let mut short = key.jwk();
        short["kid"] = json!("short");
        short["n"] = json!(base64url(&[0xff; 128]));
        let mut no_kid = key.jwk();
        no_kid.as_object_mut().unwrap().remove("kid");
        let set = json!({"keys": [encryption, rs512, short, no_kid, key.jwk()]});
        let parsed = parse_key_set(set.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.keys().collect::<Vec<_>>(), ["key-a"]);
    }

    #[test]
    fn a_plain_http_key_set_url_is_refused_unless_it_is_on_loopback() {
        let remote = JwksSource::Url("http://idp.test/jwks".into());
        let error = IdTokenVerifier::new(&settings(remote)).unwrap_err();
        assert_eq!(error.variable, "OIDC_JWKS_URL");
        let local = JwksSource::Url("http://127.0.0.1:9/jwks".into());
        assert!(IdTokenVerifier::new(&settings(local)).is_ok());
    }

    /// A key set served on 127.0.0.1, counting the requests it answers.
    struct KeyServer {
        url: String,
        key_set: Arc<RwLock<Value>>,
        requests: Arc<AtomicUsize>,
        cache_control: Arc<RwLock<Option<&'static str>>>,
    }

    impl KeyServer {
        async fn start(key_set: Value) -> Self {
            let server = Self {
                url: String::new(),
                key_set: Arc::new(RwLock::new(key_set)),
                requests: Arc::new(AtomicUsize::new(0)),
                cache_control: Arc::new(RwLock::new(None)),
            };
            let (key_set, requests) = (server.key_set.clone(), server.requests.clone());
            let cache_control = server.cache_control.clone();
            let router = axum::Router::new().route(
                "/jwks",
                axum::routing::get(move || async move {
                    requests.fetch_add(1, Ordering::SeqCst);
                    let mut headers = axum::http::HeaderMap::new();
                    if let Some(value) = *cache_control.read().unwrap() {
                        headers.insert("cache-control", value.parse().unwrap());
                    }
                    (headers, axum::Json(key_set.read().unwrap().clone()))
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, router).await });
            Self {
                url: format!("http://{address}/jwks"),
                ..server
            }
        }

        fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }

        fn verifier(&self, refetch_interval: Duration) -> IdTokenVerifier {
            let settings = settings(JwksSource::Url(self.url.clone()));
            IdTokenVerifier::with_refetch_interval(&settings, refetch_interval).unwrap()
        }
    }

    #[tokio::test]
    async fn a_fetched_key_set_is_cached_across_tokens_and_clones() {
        let server = KeyServer::start(key_set(&[&keys().0])).await;
        let verifier = server.verifier(DEFAULT_REFETCH_INTERVAL);
        assert_eq!(server.requests(), 0, "nothing is fetched before a token");
        verifier.verify(&keys().0.sign(&claims())).await.unwrap();
        verifier
            .clone()
            .verify(&keys().0.sign(&claims()))
            .await
            .unwrap();
        assert_eq!(server.requests(), 1);
    }

    #[tokio::test]
    async fn an_unknown_kid_refetches_the_key_set_and_finds_a_rotated_key() {
        let server = KeyServer::start(key_set(&[&keys().0])).await;
        let verifier = server.verifier(Duration::ZERO);
        verifier.verify(&keys().0.sign(&claims())).await.unwrap();
        *server.key_set.write().unwrap() = key_set(&[&keys().0, &keys().1]);
        verifier.verify(&keys().1.sign(&claims())).await.unwrap();
        assert_eq!(server.requests(), 2);
    }

    #[tokio::test]
    async fn a_second_unknown_kid_within_the_refetch_interval_does_not_refetch() {
        let server = KeyServer::start(key_set(&[&keys().0])).await;
        let verifier = server.verifier(Duration::from_secs(3600));
        for kid in ["unknown-1", "unknown-2", "unknown-3"] {
            let token = keys().0.sign_as(kid, &claims());
            let error = verifier.verify(&token).await.unwrap_err();
            assert_eq!(error.reason(), IdTokenRejection::UnknownKey);
        }
        assert_eq!(server.requests(), 1);
        verifier.verify(&keys().0.sign(&claims())).await.unwrap();
        assert_eq!(server.requests(), 1);
    }

    #[tokio::test]
    async fn keys_older_than_their_max_age_are_refetched() {
        let server = KeyServer::start(key_set(&[&keys().0])).await;
        *server.cache_control.write().unwrap() = Some("public, max-age=0");
        let verifier = server.verifier(Duration::ZERO);
        verifier.verify(&keys().0.sign(&claims())).await.unwrap();
        verifier.verify(&keys().0.sign(&claims())).await.unwrap();
        assert_eq!(server.requests(), 2);
    }

    #[tokio::test]
    async fn an_unreachable_key_set_refuses_tokens_as_keys_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        drop(listener);
        let settings = settings(JwksSource::Url(url));
        let verifier = IdTokenVerifier::new(&settings).unwrap();
        let error = verifier
            .verify(&keys().0.sign(&claims()))
            .await
            .unwrap_err();
        assert_eq!(error.reason(), IdTokenRejection::KeysUnavailable);
    }

    #[tokio::test]
    async fn keys_already_held_stay_in_use_when_a_refresh_fails() {
        let server = KeyServer::start(key_set(&[&keys().0])).await;
        *server.cache_control.write().unwrap() = Some("max-age=0");
        let verifier = server.verifier(Duration::ZERO);
        verifier.verify(&keys().0.sign(&claims())).await.unwrap();
        *server.key_set.write().unwrap() = json!({"keys": []});
        verifier.verify(&keys().0.sign(&claims())).await.unwrap();
        assert_eq!(server.requests(), 2);
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(cache_max_age(&headers), None);
        let value = "public, max-age=19845, must-revalidate, no-transform";
        headers.insert(reqwest::header::CACHE_CONTROL, value.parse().unwrap());
        assert_eq!(cache_max_age(&headers), Some(Duration::from_secs(19845)));
    }
}
