//! Reading `DATABASE_URL` without ever repeating its password.
//!
//! The URL is the one place a database password travels through intake, and
//! it ends up in error messages and start-up logs unless something stops it.
//! Everything that shows a URL to a person goes through [`redact_url`]; the
//! scheme check here decides the backend before any driver sees the URL, so an
//! unsupported scheme is refused with a message that names only the scheme.

use crate::{Backend, StorageError};

/// What replaces a password in a redacted URL.
const REDACTED: &str = "***";

/// What an invalid URL's error says a valid one looks like.
const EXPECTED: &str = "expected sqlite://PATH or postgres://...";

/// Query parameters that carry a secret in the URLs sqlx accepts.
const SECRET_PARAMETERS: [&str; 2] = ["password", "sslpassword"];

/// Returns `url` with its password, if any, replaced by `***`, so it can be
/// logged or shown in an error.
///
/// Both places a password can hide are covered: the user information
/// (`postgres://user:secret@host/db`) and a `password=` query parameter. The
/// URL does not need to be valid: a malformed one is redacted all the same.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);

    let mut redacted = String::with_capacity(url.len());
    if let Some(scheme) = scheme {
        redacted.push_str(scheme);
        redacted.push_str("://");
    }
    redacted.push_str(&redact_authority(authority));
    redacted.push_str(&redact_query(path_and_query));
    redacted
}

/// Hides the password in `user:password@host:port`.
fn redact_authority(authority: &str) -> String {
    let Some((user_information, host)) = authority.rsplit_once('@') else {
        return authority.to_owned();
    };
    match user_information.split_once(':') {
        Some((user, _password)) => format!("{user}:{REDACTED}@{host}"),
        None => authority.to_owned(),
    }
}

/// Hides the values of secret query parameters in `/path?a=b&password=c#f`.
fn redact_query(path_and_query: &str) -> String {
    let Some((path, query_and_fragment)) = path_and_query.split_once('?') else {
        return path_and_query.to_owned();
    };
    let (query, fragment) = match query_and_fragment.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query_and_fragment, None),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _value)) if is_secret_parameter(key) => {
                format!("{key}={REDACTED}")
            }
            _ => pair.to_owned(),
        })
        .collect();

    let mut redacted = format!("{path}?{}", pairs.join("&"));
    if let Some(fragment) = fragment {
        redacted.push('#');
        redacted.push_str(fragment);
    }
    redacted
}

fn is_secret_parameter(key: &str) -> bool {
    SECRET_PARAMETERS
        .iter()
        .any(|secret| key.eq_ignore_ascii_case(secret))
}

/// Decides which backend serves `url` from its scheme alone.
///
/// `sqlite:` also covers sqlx's `sqlite::memory:` and `sqlite:PATH` forms.
pub(crate) fn backend_of(url: &str) -> Result<Backend, StorageError> {
    let scheme = match url.split_once(':') {
        Some((scheme, _)) if is_scheme(scheme) => scheme.to_ascii_lowercase(),
        _ => {
            return Err(StorageError::InvalidUrl {
                reason: format!("it has no scheme; {EXPECTED}"),
            });
        }
    };
    match scheme.as_str() {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        _ => Err(StorageError::InvalidUrl {
            reason: format!("unsupported scheme `{scheme}`; {EXPECTED}"),
        }),
    }
}

/// Whether `text` is a URL scheme as RFC 3986 spells one, so that a bare
/// `user:password@host` is not mistaken for a scheme named `user`.
fn is_scheme(text: &str) -> bool {
    let mut characters = text.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && characters.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_in_the_user_information_is_hidden() {
        assert_eq!(
            redact_url("postgres://intake:s3cret@db.internal:5432/intake"),
            "postgres://intake:***@db.internal:5432/intake"
        );
    }

    #[test]
    fn a_password_containing_an_at_sign_is_hidden_whole() {
        assert_eq!(
            redact_url("postgres://intake:p@ss@db/intake"),
            "postgres://intake:***@db/intake"
        );
    }

    #[test]
    fn a_password_query_parameter_is_hidden() {
        assert_eq!(
            redact_url("postgres://db/intake?sslmode=require&Password=s3cret#x"),
            "postgres://db/intake?sslmode=require&Password=***#x"
        );
    }

    #[test]
    fn a_url_without_a_password_is_unchanged() {
        for url in [
            "sqlite://intake.db",
            "sqlite::memory:",
            "postgres://postgres@127.0.0.1:5432/test?options=-c%20search_path%3Dx",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn a_malformed_url_is_still_redacted() {
        assert_eq!(redact_url("intake:s3cret@db"), "intake:***@db");
    }

    #[test]
    fn the_scheme_decides_the_backend() {
        assert_eq!(backend_of("sqlite://intake.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("postgres://db/x").unwrap(), Backend::Postgres);
        assert_eq!(backend_of("PostgreSQL://db/x").unwrap(), Backend::Postgres);
    }

    #[test]
    fn an_unsupported_scheme_is_named_in_the_error() {
        let error = backend_of("mysql://root:s3cret@db/intake").unwrap_err();

        let message = error.to_string();
        assert!(message.contains("`mysql`"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn a_url_without_a_scheme_is_refused_without_repeating_it() {
        let error = backend_of("/var/lib/intake/s3cret.db").unwrap_err();

        let message = error.to_string();
        assert!(message.contains("no scheme"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }
}
