//! Roles and the permissions each one grants (SPEC section 5).
//!
//! The table of SPEC section 5 lives here and nowhere else: a session
//! records the role's permissions when it is created, and route guards check
//! for a permission, never for a role. Storage keeps the role as the text of
//! [`Role::as_str`] and knows nothing of what it grants.
//!
//! A respondent may also read its own responses; that is a rule about whose
//! response it is, checked where responses are read, not a permission.

use std::fmt;
use std::str::FromStr;

/// What a user may do in its organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Runs the organization: everything staff may do, plus the audit trail
    /// and users.
    Admin,
    /// Clinic staff: designs forms, reads and writes responses, makes PDFs.
    Staff,
    /// A patient or other person filling in forms.
    Respondent,
}

/// Every permission of an admin.
const ADMIN_PERMISSIONS: &[&str] = &[
    "read:forms",
    "write:forms",
    "read:responses",
    "write:responses",
    "generate:pdf",
    "read:audit",
    "manage:users",
];

/// Every permission of staff.
const STAFF_PERMISSIONS: &[&str] = &[
    "read:forms",
    "write:forms",
    "read:responses",
    "write:responses",
    "generate:pdf",
];

/// Every permission of a respondent.
const RESPONDENT_PERMISSIONS: &[&str] = &["read:forms", "write:responses"];

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 3] = [Self::Admin, Self::Staff, Self::Respondent];

    /// The role's name as stored and configured: `admin`, `staff` or
    /// `respondent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Staff => "staff",
            Self::Respondent => "respondent",
        }
    }

    /// The permissions the role grants, as SPEC section 5 lists them.
    pub fn permissions(self) -> &'static [&'static str] {
        match self {
            Self::Admin => ADMIN_PERMISSIONS,
            Self::Staff => STAFF_PERMISSIONS,
            Self::Respondent => RESPONDENT_PERMISSIONS,
        }
    }

    /// Whether the role grants `permission`.
    pub fn grants(self, permission: &str) -> bool {
        self.permissions().contains(&permission)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A role name that is none of `admin`, `staff` or `respondent`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: expected admin, staff or respondent")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    /// Reads a role name exactly as [`Role::as_str`] writes it: lowercase,
    /// without surrounding spaces. A role comes from a claim or a stored row,
    /// where a near miss means a misconfiguration to report, not to guess.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == name)
            .ok_or_else(|| UnknownRole(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_reads_back_from_its_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
        }
    }

    #[test]
    fn unknown_or_differently_spelled_names_are_refused() {
        for name in ["", "root", "Admin", " staff", "respondents"] {
            assert_eq!(name.parse::<Role>(), Err(UnknownRole(name.to_owned())));
        }
    }

    #[test]
    fn the_unknown_role_error_names_the_role_and_the_choices() {
        let message = "superuser".parse::<Role>().unwrap_err().to_string();

        assert_eq!(
            message,
            "unknown role `superuser`: expected admin, staff or respondent"
        );
    }

    #[test]
    fn an_admin_has_every_permission_of_the_spec() {
        assert_eq!(
            Role::Admin.permissions(),
            [
                "read:forms",
                "write:forms",
                "read:responses",
                "write:responses",
                "generate:pdf",
                "read:audit",
                "manage:users",
            ]
        );
    }

    #[test]
    fn staff_have_everything_but_the_audit_trail_and_users() {
        assert_eq!(
            Role::Staff.permissions(),
            [
                "read:forms",
                "write:forms",
                "read:responses",
                "write:responses",
                "generate:pdf",
            ]
        );
        assert!(!Role::Staff.grants("read:audit"));
        assert!(!Role::Staff.grants("manage:users"));
    }

    #[test]
    fn a_respondent_reads_forms_and_writes_responses_only() {
        assert_eq!(
            Role::Respondent.permissions(),
            ["read:forms", "write:responses"]
        );
        assert!(Role::Respondent.grants("write:responses"));
        assert!(!Role::Respondent.grants("read:responses"));
        assert!(!Role::Respondent.grants("write:forms"));
    }

    #[test]
    fn each_role_grants_no_less_than_the_one_below_it() {
        for pair in Role::ALL.windows(2) {
            let (higher, lower) = (pair[0], pair[1]);
            for permission in lower.permissions() {
                assert!(higher.grants(permission), "{higher} lacks {permission}");
            }
        }
    }
}
