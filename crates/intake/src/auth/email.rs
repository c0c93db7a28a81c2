//! E-mail addresses as users sign in with them.
//!
//! An [`EmailAddress`] is trimmed and lowercased, so that `Ada@Clinic.org `
//! and `ada@clinic.org` are one user, and has one `@` between a non-empty
//! local part and a non-empty domain, with no spaces or control characters.
//! That is deliberately loose: the only proof that an address works is mail
//! arriving there, and refusing an unusual but valid address locks a person
//! out. It is strict enough to catch a pasted name or a missing `@`.
//!
//! Errors never repeat the address: it is personal data, and errors end up in
//! logs.

use std::fmt;
use std::str::FromStr;

/// The longest address accepted, as RFC 5321 bounds a forward path.
const MAX_LENGTH: usize = 254;

/// A trimmed, lowercased e-mail address with one `@`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

/// Why a text is not an e-mail address; the message never holds the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but spaces.
    #[error("the e-mail address is empty")]
    Empty,
    /// Over 254 characters.
    #[error("the e-mail address is longer than {MAX_LENGTH} characters")]
    TooLong,
    /// No `@`, or more than one.
    #[error("the e-mail address must contain exactly one @")]
    NotOneAt,
    /// Nothing before or after the `@`.
    #[error("the e-mail address needs text on both sides of the @")]
    EmptyPart,
    /// A space or control character inside.
    #[error("the e-mail address contains a space or control character")]
    Whitespace,
}

impl EmailAddress {
    /// Parses `text`; see the module documentation for the rules.
    ///
    /// # Errors
    ///
    /// An [`EmailError`] naming the broken rule.
    pub fn parse(text: &str) -> Result<Self, EmailError> {
        let address = text.trim().to_lowercase();
        if address.is_empty() {
            return Err(EmailError::Empty);
        }
        if address.chars().count() > MAX_LENGTH {
            return Err(EmailError::TooLong);
        }
        if address
            .chars()
            .any(|character| character.is_whitespace() || character.is_control())
        {
            return Err(EmailError::Whitespace);
        }
        let mut parts = address.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(EmailError::NotOneAt);
        };
        if local.is_empty() || domain.is_empty() {
            return Err(EmailError::EmptyPart);
        }
        Ok(Self(address))
    }

    /// The address, lowercased.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EmailAddress {
    type Err = EmailError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Shows the domain only, so that an address in a debug log says which
/// organization's mail it was without saying whose.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = self.0.rsplit_once('@').map_or("", |(_, domain)| domain);
        write!(formatter, "EmailAddress(***@{domain})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_trimmed_and_lowercased() {
        let address = EmailAddress::parse("  Ada.Lovelace@Clinic.Example\n").unwrap();

        assert_eq!(address.as_str(), "ada.lovelace@clinic.example");
    }

    #[test]
    fn unusual_but_valid_addresses_are_accepted() {
        for text in [
            "a@b",
            "first.last+intake@sub.clinic.example",
            "\"quoted\"@clinic.example",
            "zoë@klinik.example",
        ] {
            assert!(EmailAddress::parse(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn an_empty_address_is_refused() {
        assert_eq!(EmailAddress::parse(""), Err(EmailError::Empty));
        assert_eq!(EmailAddress::parse("   "), Err(EmailError::Empty));
    }

    #[test]
    fn an_address_needs_exactly_one_at_sign() {
        for text in ["ada.clinic.example", "ada@@clinic.example", "a@b@c"] {
            assert_eq!(
                EmailAddress::parse(text),
                Err(EmailError::NotOneAt),
                "{text}"
            );
        }
    }

    #[test]
    fn both_sides_of_the_at_sign_must_be_filled() {
        for text in ["@clinic.example", "ada@", "@"] {
            assert_eq!(
                EmailAddress::parse(text),
                Err(EmailError::EmptyPart),
                "{text}"
            );
        }
    }

    #[test]
    fn spaces_and_control_characters_inside_are_refused() {
        for text in [
            "ada lovelace@clinic.example",
            "ada@clinic\t.example",
            "a\u{7}@b",
        ] {
            assert_eq!(
                EmailAddress::parse(text),
                Err(EmailError::Whitespace),
                "{text:?}"
            );
        }
    }

    #[test]
    fn an_overlong_address_is_refused() {
        let text = format!("{}@clinic.example", "a".repeat(250));

        assert_eq!(EmailAddress::parse(&text), Err(EmailError::TooLong));
    }

    #[test]
    fn errors_and_debug_output_never_repeat_the_local_part() {
        let error = EmailAddress::parse("ada lovelace@clinic.example").unwrap_err();
        let address = EmailAddress::parse("ada@clinic.example").unwrap();

        assert!(!error.to_string().contains("ada"));
        assert_eq!(format!("{address:?}"), "EmailAddress(***@clinic.example)");
    }
}
