//! intake's form model: forms as FHIR R4 `Questionnaire` items, responses as
//! `QuestionnaireResponse` items, the checks between them, and their FHIR
//! and PDF-facing views (SPEC section 8).
//!
//! This crate owns the meaning of a form and of a response and nothing else:
//! no SQL, no HTTP, no Redis, and no logging. Responses are PHI, so nothing
//! here writes an answer anywhere, and every error or [`Problem`] message
//! about a response names items and types, never a value.
//!
//! # Modules
//!
//! - `definition`: [`FormDefinition`] and [`Item`], parsed strictly where
//!   meaning is at stake (item type, operator, value types) and leniently
//!   about FHIR extensions, which are dropped, never echoed.
//! - `check`: [`FormDefinition::check`], the publish-time checks (FHIR's
//!   que-1 to que-13 and intake's own).
//! - `response`: [`ResponseContent`] and its PHI-safe parser.
//! - `validate`: [`validate`], a response against its form version.
//! - `enablement`: enableWhen evaluation, shared by validation and display.
//! - `display`: [`enabled_items`], the lines of a rendered response.
//! - `fhir`: [`questionnaire_resource`] and
//!   [`questionnaire_response_resource`].
//! - `canonical`: [`canonical_json`] and [`sha256_hex`], the response
//!   fingerprint on the PDF footer.
//! - `value`: [`AnswerValue`], FHIR's typed `value[x]`.
//! - `primitive`: FHIR date, dateTime, time and url formats.
//! - `problem`: [`Problem`], one entry of a 422 body's `details`.

mod canonical;
mod check;
mod definition;
mod display;
mod enablement;
mod fhir;
mod primitive;
mod problem;
mod response;
#[cfg(test)]
mod sample;
mod validate;
mod value;

pub use canonical::{canonical_json, sha256_hex};
pub use definition::{
    AnswerOption, EnableBehavior, EnableOperator, EnableWhen, FormDefinition, FormParseError,
    Initial, Item, ItemType,
};
pub use display::{DisplayItem, DisplayKind, enabled_items};
pub use fhir::{questionnaire_resource, questionnaire_response_resource};
pub use problem::Problem;
pub use response::{Answer, ResponseContent, ResponseItem, ResponseParseError, ResponseStatus};
pub use validate::validate;
pub use value::{AnswerValue, Coding, Quantity, ValueKind};
