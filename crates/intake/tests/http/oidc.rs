//! `POST /api/auth/session-login` (SPEC section 5) with ID tokens from a test
//! identity provider: an RSA key made by the `openssl` command, published to
//! intake as the key set of `OIDC_JWKS_FILE`, signs the tokens.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use intake_storage::NewUser;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::TestApp;

const ISSUER: &str = "https://idp.test/clinic";
const AUDIENCE: &str = "clinic-app";
const SUBJECT: &str = "idp-user-1234";
const EMAIL: &str = "grace@clinic.example";

/// An RSA key pair of the test provider, made by the `openssl` command.
struct SigningKey {
    kid: &'static str,
    /// PKCS#1 DER, which `jsonwebtoken` signs with (PEM needs a feature
    /// intake does not enable).
    private_pkcs1_der: Vec<u8>,
    /// The modulus, base64url, as a JWK holds it.
    modulus: String,
}

impl SigningKey {
    fn generate(kid: &'static str) -> Self {
        let directory = tempfile::tempdir().unwrap();
        let pem = directory.path().join("key.pem");
        let der = directory.path().join("key.der");
        let (pem, der) = (pem.to_str().unwrap(), der.to_str().unwrap());
        openssl(&["genrsa", "-traditional", "-out", pem, "2048"]);
        openssl(&[
            "rsa",
            "-in",
            pem,
            "-traditional",
            "-outform",
            "DER",
            "-out",
            der,
        ]);
        let modulus = openssl(&["rsa", "-in", pem, "-noout", "-modulus"]);
        let modulus_hex = modulus.trim().strip_prefix("Modulus=").unwrap();
        let modulus_bytes: Vec<u8> = (0..modulus_hex.len())
            .step_by(2)
            .map(|index| u8::from_str_radix(&modulus_hex[index..index + 2], 16).unwrap())
            .collect();
        Self {
            kid,
            private_pkcs1_der: std::fs::read(der).unwrap(),
            modulus: base64url(&modulus_bytes),
        }
    }

    fn jwk(&self) -> Value {
        json!({
            "kty": "RSA", "use": "sig", "alg": "RS256",
            "kid": self.kid, "n": self.modulus, "e": "AQAB",
        })
    }

    /// `claims` as an RS256 token naming this key.
    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.to_owned());
        let key = EncodingKey::from_rsa_der(&self.private_pkcs1_der);
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }
}

/// Runs `openssl ARGUMENTS`, which must succeed; its stdout.
fn openssl(arguments: &[&str]) -> String {
    let output = Command::new("openssl").args(arguments).output().unwrap();
    assert!(output.status.success(), "openssl {arguments:?} failed");
    String::from_utf8(output.stdout).unwrap()
}

/// The provider's published key, and a key it never published. Made once
/// for the whole test binary: key generation is slow.
fn keys() -> &'static (SigningKey, SigningKey) {
    static KEYS: OnceLock<(SigningKey, SigningKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            SigningKey::generate("published-key"),
            SigningKey::generate("unpublished-key"),
        )
    })
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// intake trusting the test provider, with an organization to sign in to.
struct OidcApp {
    app: TestApp,
    organization_id: String,
    _key_directory: TempDir,
}

impl OidcApp {
    async fn spawn() -> Self {
        let key_directory = tempfile::tempdir().unwrap();
        let jwks_file = write_key_set(key_directory.path());
        let app = TestApp::spawn(&[
            ("OIDC_ISSUER", ISSUER),
            ("OIDC_AUDIENCE", AUDIENCE),
            ("OIDC_JWKS_FILE", &jwks_file),
        ])
        .await;
        let organization = app.app.database.create_organization("Clinic").await;
        Self {
            organization_id: organization.unwrap().id,
            app,
            _key_directory: key_directory,
        }
    }

    /// The claims of a valid token for the organization, with `changes`
    /// applied (a `null` removes the claim).
    fn claims_with(&self, changes: Value) -> Value {
        let mut claims = json!({
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": SUBJECT,
            "iat": now() - 10,
            "exp": now() + 3600,
            "auth_time": now() - 20,
            "organization_id": self.organization_id,
        });
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    }

    /// A token the provider signed with `changes` to the valid claims.
    fn token_with(&self, changes: Value) -> String {
        keys().0.sign(&self.claims_with(changes))
    }
}

/// The key set holding the published key, as a file; its path.
fn write_key_set(directory: &Path) -> String {
    let file = directory.join("jwks.json");
    let key_set = json!({ "keys": [keys().0.jwk()] });
    std::fs::write(&file, key_set.to_string()).unwrap();
    file.to_str().unwrap().to_owned()
}

/// The answer to a session login.
struct Answer {
    status: StatusCode,
    body: Value,
    /// `name=value` of the `Set-Cookie` header, when there is one.
    cookie: Option<String>,
    set_cookie: Option<String>,
}

async fn session_login(app: &TestApp, id_token: &str) -> Answer {
    let response = app
        .client
        .post(app.url("/api/auth/session-login"))
        .json(&json!({ "idToken": id_token }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let set_cookie = response
        .headers()
        .get(SET_COOKIE)
        .map(|value| value.to_str().unwrap().to_owned());
    let cookie = set_cookie
        .as_deref()
        .map(|header| header.split(';').next().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        body,
        cookie,
        set_cookie,
    }
}

/// `GET /api/auth/me` with `cookie`, which must succeed.
async fn me(app: &TestApp, cookie: &str) -> Value {
    let response = app
        .client
        .get(app.url("/api/auth/me"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Signs in with `id_token`, which must succeed; the session's cookie.
async fn signed_in(app: &TestApp, id_token: &str) -> String {
    let answer = session_login(app, id_token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.cookie.unwrap()
}

async fn assert_refused_as_invalid(app: &TestApp, id_token: &str) {
    let answer = session_login(app, id_token).await;
    assert_eq!(
        (answer.status, answer.body),
        (
            StatusCode::UNAUTHORIZED,
            json!({"error": "Invalid ID token"})
        )
    );
    assert_eq!(answer.set_cookie, None, "no session for a refused token");
}

async fn assert_forbidden(app: &TestApp, id_token: &str) {
    let answer = session_login(app, id_token).await;
    assert_eq!(
        (answer.status, answer.body),
        (StatusCode::FORBIDDEN, json!({"error": "Forbidden"}))
    );
    assert_eq!(answer.set_cookie, None, "no session for a refused token");
}

#[tokio::test]
async fn a_valid_id_token_signs_in_a_respondent_of_the_organization_it_names() {
    let oidc = OidcApp::spawn().await;

    let answer = session_login(&oidc.app, &oidc.token_with(json!({}))).await;

    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let mut fields: Vec<&str> = answer
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["csrfToken", "expiresIn", "message", "status"]);
    assert_eq!(answer.body["status"], "success");
    assert_eq!(answer.body["message"], "Login successful");
    assert!(!answer.body["csrfToken"].as_str().unwrap().is_empty());
    assert_eq!(answer.body["expiresIn"], 14400);
    let set_cookie = answer.set_cookie.unwrap();
    assert!(set_cookie.starts_with("session="), "{set_cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(flag), "{flag} missing: {set_cookie}");
    }

    let profile = me(&oidc.app, &answer.cookie.unwrap()).await;
    assert_eq!(profile["organization"]["id"], oidc.organization_id);
    assert_eq!(profile["organization"]["name"], "Clinic");
    assert_eq!(profile["role"], "respondent");
    assert_eq!(
        profile["permissions"],
        json!(["read:forms", "write:responses"])
    );
    assert_eq!(profile["session"]["authMethod"], "oidc");
}

#[tokio::test]
async fn the_role_claim_gives_the_user_its_role() {
    let oidc = OidcApp::spawn().await;

    let cookie = signed_in(&oidc.app, &oidc.token_with(json!({"role": "staff"}))).await;

    let profile = me(&oidc.app, &cookie).await;
    assert_eq!(profile["role"], "staff");
    assert_eq!(profile["user"]["role"], "staff");
    assert_eq!(profile["session"]["authMethod"], "oidc");
}

#[tokio::test]
async fn the_same_subject_signing_in_twice_is_the_same_user() {
    let oidc = OidcApp::spawn().await;

    let first = signed_in(&oidc.app, &oidc.token_with(json!({}))).await;
    let second = signed_in(&oidc.app, &oidc.token_with(json!({}))).await;

    assert_ne!(first, second, "each login is a new session");
    let first_user = me(&oidc.app, &first).await["user"]["id"].clone();
    let second_user = me(&oidc.app, &second).await["user"]["id"].clone();
    assert_eq!(first_user, second_user);
    let stored = oidc.app.app.database.user_by_oidc(ISSUER, SUBJECT).await;
    assert_eq!(json!(stored.unwrap().unwrap().id), first_user);
}

#[tokio::test]
async fn another_subject_of_the_same_provider_is_another_user() {
    let oidc = OidcApp::spawn().await;

    let first = signed_in(&oidc.app, &oidc.token_with(json!({}))).await;
    let other = oidc.token_with(json!({"sub": "idp-user-5678"}));
    let second = signed_in(&oidc.app, &other).await;

    let first_user = me(&oidc.app, &first).await["user"]["id"].clone();
    let second_user = me(&oidc.app, &second).await["user"]["id"].clone();
    assert_ne!(first_user, second_user);
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused_as_invalid() {
    let oidc = OidcApp::spawn().await;
    let token = oidc.token_with(json!({"aud": "another-app"}));
    assert_refused_as_invalid(&oidc.app, &token).await;
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused_as_invalid() {
    let oidc = OidcApp::spawn().await;
    let token = oidc.token_with(json!({"iss": "https://evil.test/clinic"}));
    assert_refused_as_invalid(&oidc.app, &token).await;
}

#[tokio::test]
async fn an_expired_id_token_is_refused_as_invalid() {
    let oidc = OidcApp::spawn().await;
    let expired = json!({
        "iat": now() - 7200,
        "auth_time": now() - 7200,
        "exp": now() - 3600,
    });
    assert_refused_as_invalid(&oidc.app, &oidc.token_with(expired)).await;
}

#[tokio::test]
async fn an_unsigned_id_token_with_algorithm_none_is_refused_as_invalid() {
    let oidc = OidcApp::spawn().await;
    let header = json!({"alg": "none", "typ": "JWT", "kid": keys().0.kid});
    let claims = oidc.claims_with(json!({}));
    let token = format!(
        "{}.{}.",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes()),
    );
    assert_refused_as_invalid(&oidc.app, &token).await;
}

#[tokio::test]
async fn an_id_token_signed_by_a_key_outside_the_key_set_is_refused_as_invalid() {
    let oidc = OidcApp::spawn().await;
    let token = keys().1.sign(&oidc.claims_with(json!({})));
    assert_refused_as_invalid(&oidc.app, &token).await;
}

#[tokio::test]
async fn text_that_is_not_an_id_token_is_refused_as_invalid() {
    let oidc = OidcApp::spawn().await;
    assert_refused_as_invalid(&oidc.app, "not.an.id-token").await;
}

#[tokio::test]
async fn an_id_token_without_an_organization_claim_is_forbidden() {
    let oidc = OidcApp::spawn().await;
    let token = oidc.token_with(json!({"organization_id": null}));
    assert_forbidden(&oidc.app, &token).await;
}

#[tokio::test]
async fn an_id_token_naming_no_existing_organization_is_forbidden() {
    let oidc = OidcApp::spawn().await;
    let nowhere = "00000000-0000-4000-8000-000000000000";
    let token = oidc.token_with(json!({"organization_id": nowhere}));
    assert_forbidden(&oidc.app, &token).await;
    let stored = oidc.app.app.database.user_by_oidc(ISSUER, SUBJECT).await;
    assert!(stored.unwrap().is_none(), "no user is created");
}

#[tokio::test]
async fn without_a_configured_identity_provider_every_id_token_is_refused_as_invalid() {
    let app = TestApp::spawn(&[]).await;
    let organization = app.app.database.create_organization("Clinic").await;
    let claims = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": SUBJECT,
        "iat": now() - 10,
        "exp": now() + 3600,
        "organization_id": organization.unwrap().id,
    });
    assert_refused_as_invalid(&app, &keys().0.sign(&claims)).await;
}

/// A password user of the organization, as `intake user add` makes one; its
/// id.
async fn add_existing_user(oidc: &OidcApp) -> String {
    let new_user = NewUser {
        organization_id: oidc.organization_id.clone(),
        email: Some(EMAIL.to_owned()),
        role: "staff".to_owned(),
        password_hash: None,
        oidc: None,
    };
    oidc.app
        .app
        .database
        .create_user(new_user)
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn a_verified_email_links_the_existing_account_of_that_address() {
    let oidc = OidcApp::spawn().await;
    let existing = add_existing_user(&oidc).await;

    let verified = json!({"email": EMAIL, "email_verified": true});
    let cookie = signed_in(&oidc.app, &oidc.token_with(verified)).await;

    let profile = me(&oidc.app, &cookie).await;
    assert_eq!(profile["user"]["id"], existing);
    assert_eq!(profile["role"], "staff", "the account keeps its own role");
}

#[tokio::test]
async fn an_email_the_provider_did_not_verify_links_no_account() {
    let oidc = OidcApp::spawn().await;
    let existing = add_existing_user(&oidc).await;

    let unverified = json!({"email": EMAIL, "email_verified": false});
    let cookie = signed_in(&oidc.app, &oidc.token_with(unverified)).await;

    let profile = me(&oidc.app, &cookie).await;
    assert_ne!(profile["user"]["id"], existing);
    assert_eq!(profile["user"]["email"], Value::Null);
    assert_eq!(profile["role"], "respondent");
    let account = oidc.app.app.database.user(&existing).await.unwrap();
    assert_eq!(account.unwrap().oidc, None, "the account stays unlinked");
}
