//! The applicant (`KycRequest` in the original) as sent, and as validated.
//!
//! Parsing follows "parse, don't validate": [`ApplicantRequest`] is what a client sent (every field
//! optional, so a missing field gets a message naming it rather than a parser error), and
//! [`ApplicantRequest::parse`] turns it into an [`Applicant`] whose fields are known to be well formed.

use serde::{Deserialize, Serialize};
use time::macros::{date, format_description};
use time::Date;
use utoipa::ToSchema;

pub const NAME_MAX_CHARS: usize = 100;
pub const FREE_TEXT_MAX_CHARS: usize = 32;
pub const PASSPORT_MIN_CHARS: usize = 5;
pub const PASSPORT_MAX_CHARS: usize = 20;
const EARLIEST_BIRTH_DATE: Date = date!(1900 - 01 - 01);

/// An applicant as sent by a client, with the original's field names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "firstName": "Alice",
    "lastName": "Martin",
    "dateOfBirth": "1990-04-12",
    "gender": "female",
    "maritalStatus": "single",
    "citizenship": "FR",
    "currentResidenceCountry": "FR",
    "passportNumber": "FR1234567",
    "passportExpiryDate": "2031-09-30",
    "passportCountryOfIssue": "FR"
}))]
pub struct ApplicantRequest {
    /// Required. 1–100 characters: letters of any script, spaces, `-`, `'`, `.`; at least one letter.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100,
        pattern = r"^[\p{L} .'’-]*\p{L}[\p{L} .'’-]*$")]
    pub first_name: Option<String>,
    /// Required. Same rules as `firstName`.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100,
        pattern = r"^[\p{L} .'’-]*\p{L}[\p{L} .'’-]*$")]
    pub last_name: Option<String>,
    /// Required. ISO date `YYYY-MM-DD`, not in the future, not before 1900-01-01.
    #[schema(value_type = String, required = true, format = Date)]
    pub date_of_birth: Option<String>,
    /// Optional free text, at most 32 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 32)]
    pub gender: Option<String>,
    /// Optional free text, at most 32 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 32)]
    pub marital_status: Option<String>,
    /// Required. ISO 3166-1 alpha-2 (`FR`) or alpha-3 (`FRA`) code, any case.
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z]{2,3}$")]
    pub citizenship: Option<String>,
    /// Required. ISO 3166-1 alpha-2 or alpha-3 code.
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z]{2,3}$")]
    pub current_residence_country: Option<String>,
    /// Required. 5–20 letters or digits (any case; spaces and dashes are not allowed).
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9]{5,20}$")]
    pub passport_number: Option<String>,
    /// Required. ISO date `YYYY-MM-DD`. An expired passport is not an input error: it fails the check.
    #[schema(value_type = String, required = true, format = Date)]
    pub passport_expiry_date: Option<String>,
    /// Required. ISO 3166-1 alpha-2 or alpha-3 code.
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z]{2,3}$")]
    pub passport_country_of_issue: Option<String>,
}

/// A validated applicant: names trimmed, dates parsed, countries as upper-case alpha-2 codes, passport
/// number in upper case.
#[derive(Clone, PartialEq, Eq)]
pub struct Applicant {
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: Date,
    pub gender: Option<String>,
    pub marital_status: Option<String>,
    pub citizenship: String,
    pub current_residence_country: String,
    pub passport_number: String,
    pub passport_expiry_date: Date,
    pub passport_country_of_issue: String,
}

/// Debug output never shows personal data, so an applicant can't leak into a log by accident.
impl std::fmt::Debug for Applicant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applicant")
            .field("citizenship", &self.citizenship)
            .field("current_residence_country", &self.current_residence_country)
            .field("passport_country_of_issue", &self.passport_country_of_issue)
            .finish_non_exhaustive()
    }
}

/// A field that failed validation. The message names the field and the rule, never the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    pub field: &'static str,
    pub problem: String,
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ValidationError {
    ValidationError {
        field,
        problem: problem.into(),
    }
}

fn required<'a>(
    field: &'static str,
    value: &'a Option<String>,
) -> Result<&'a str, ValidationError> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(invalid(field, "is required")),
    }
}

fn name(field: &'static str, value: &Option<String>) -> Result<String, ValidationError> {
    let v = required(field, value)?;
    if v.chars().count() > NAME_MAX_CHARS {
        return Err(invalid(
            field,
            format!("must be at most {NAME_MAX_CHARS} characters"),
        ));
    }
    if !v.chars().any(char::is_alphabetic)
        || !v
            .chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '.' | '’'))
    {
        return Err(invalid(
            field,
            "must contain letters, and only letters, spaces, hyphens, apostrophes and periods",
        ));
    }
    Ok(v.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Parses an ISO `YYYY-MM-DD` date.
pub fn parse_iso_date(value: &str) -> Option<Date> {
    Date::parse(value, format_description!("[year]-[month]-[day]")).ok()
}

fn iso_date(field: &'static str, value: &Option<String>) -> Result<Date, ValidationError> {
    let v = required(field, value)?;
    parse_iso_date(v).ok_or_else(|| invalid(field, "must be a date in ISO format YYYY-MM-DD"))
}

/// An ISO 3166-1 alpha-2 or alpha-3 code, any case, as the upper-case alpha-2 code.
pub fn country_alpha2(value: &str) -> Option<String> {
    let country = match value.len() {
        2 => celes::Country::from_alpha2(value).ok()?,
        3 => celes::Country::from_alpha3(value).ok()?,
        _ => return None,
    };
    Some(country.alpha2.to_ascii_uppercase())
}

fn country(field: &'static str, value: &Option<String>) -> Result<String, ValidationError> {
    let v = required(field, value)?;
    country_alpha2(v).ok_or_else(|| {
        invalid(
            field,
            "must be an ISO 3166-1 alpha-2 or alpha-3 country code, e.g. FR or FRA",
        )
    })
}

fn free_text(
    field: &'static str,
    value: &Option<String>,
) -> Result<Option<String>, ValidationError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > FREE_TEXT_MAX_CHARS => Err(invalid(
            field,
            format!("must be at most {FREE_TEXT_MAX_CHARS} characters"),
        )),
        Some(v) if v.chars().any(char::is_control) => {
            Err(invalid(field, "must not contain control characters"))
        }
        Some(v) => Ok(Some(v.to_owned())),
    }
}

fn passport_number(value: &Option<String>) -> Result<String, ValidationError> {
    const FIELD: &str = "passportNumber";
    let v = required(FIELD, value)?;
    let len = v.chars().count();
    if !(PASSPORT_MIN_CHARS..=PASSPORT_MAX_CHARS).contains(&len)
        || !v.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(invalid(
            FIELD,
            format!("must be {PASSPORT_MIN_CHARS} to {PASSPORT_MAX_CHARS} letters or digits"),
        ));
    }
    Ok(v.to_ascii_uppercase())
}

impl ApplicantRequest {
    /// Validates every field, reporting the first invalid one in the order of the original model.
    pub fn parse(&self, today: Date) -> Result<Applicant, ValidationError> {
        let first_name = name("firstName", &self.first_name)?;
        let last_name = name("lastName", &self.last_name)?;
        let date_of_birth = iso_date("dateOfBirth", &self.date_of_birth)?;
        if date_of_birth > today {
            return Err(invalid("dateOfBirth", "must not be in the future"));
        }
        if date_of_birth < EARLIEST_BIRTH_DATE {
            return Err(invalid("dateOfBirth", "must not be before 1900-01-01"));
        }
        let gender = free_text("gender", &self.gender)?;
        let marital_status = free_text("maritalStatus", &self.marital_status)?;
        let citizenship = country("citizenship", &self.citizenship)?;
        let current_residence_country =
            country("currentResidenceCountry", &self.current_residence_country)?;
        let passport_number = passport_number(&self.passport_number)?;
        let passport_expiry_date = iso_date("passportExpiryDate", &self.passport_expiry_date)?;
        let passport_country_of_issue =
            country("passportCountryOfIssue", &self.passport_country_of_issue)?;
        Ok(Applicant {
            first_name,
            last_name,
            date_of_birth,
            gender,
            marital_status,
            citizenship,
            current_residence_country,
            passport_number,
            passport_expiry_date,
            passport_country_of_issue,
        })
    }
}

impl Applicant {
    /// Whole years of age on `today`.
    pub fn age_on(&self, today: Date) -> i32 {
        let mut age = today.year() - self.date_of_birth.year();
        if (today.month() as u8, today.day())
            < (self.date_of_birth.month() as u8, self.date_of_birth.day())
        {
            age -= 1;
        }
        age
    }

    /// The normalised applicant, as sent on to a scorer.
    pub fn to_request(&self) -> ApplicantRequest {
        ApplicantRequest {
            first_name: Some(self.first_name.clone()),
            last_name: Some(self.last_name.clone()),
            date_of_birth: Some(iso(self.date_of_birth)),
            gender: self.gender.clone(),
            marital_status: self.marital_status.clone(),
            citizenship: Some(self.citizenship.clone()),
            current_residence_country: Some(self.current_residence_country.clone()),
            passport_number: Some(self.passport_number.clone()),
            passport_expiry_date: Some(iso(self.passport_expiry_date)),
            passport_country_of_issue: Some(self.passport_country_of_issue.clone()),
        }
    }
}

/// `YYYY-MM-DD`.
pub fn iso(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        date.month() as u8,
        date.day()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = date!(2026 - 11 - 21);

    fn alice() -> ApplicantRequest {
        ApplicantRequest {
            first_name: Some("Alice".into()),
            last_name: Some("Martin".into()),
            date_of_birth: Some("1990-04-12".into()),
            gender: Some("female".into()),
            marital_status: None,
            citizenship: Some("fr".into()),
            current_residence_country: Some("FRA".into()),
            passport_number: Some("fr1234567".into()),
            passport_expiry_date: Some("2031-09-30".into()),
            passport_country_of_issue: Some("FR".into()),
        }
    }

    fn field_of(req: ApplicantRequest) -> &'static str {
        req.parse(TODAY).expect_err("must be invalid").field
    }

    #[test]
    fn a_valid_applicant_is_normalised() {
        let a = alice().parse(TODAY).expect("valid");
        assert_eq!(a.citizenship, "FR");
        assert_eq!(a.current_residence_country, "FR");
        assert_eq!(a.passport_number, "FR1234567");
        assert_eq!(a.date_of_birth, date!(1990 - 04 - 12));
        assert_eq!(a.age_on(TODAY), 36);
        assert_eq!(a.to_request().citizenship.as_deref(), Some("FR"));
    }

    #[test]
    fn every_required_field_is_named_when_missing() {
        type Change = fn(&mut ApplicantRequest);
        let cases: [(&str, Change); 8] = [
            ("firstName", |r| r.first_name = None),
            ("lastName", |r| r.last_name = Some("   ".into())),
            ("dateOfBirth", |r| r.date_of_birth = None),
            ("citizenship", |r| r.citizenship = None),
            ("currentResidenceCountry", |r| {
                r.current_residence_country = None
            }),
            ("passportNumber", |r| r.passport_number = None),
            ("passportExpiryDate", |r| r.passport_expiry_date = None),
            ("passportCountryOfIssue", |r| {
                r.passport_country_of_issue = None
            }),
        ];
        for (field, change) in cases {
            let mut req = alice();
            change(&mut req);
            let err = req.parse(TODAY).expect_err(field);
            assert_eq!(err.field, field);
            assert_eq!(err.problem, "is required");
        }
    }

    #[test]
    fn gender_and_marital_status_stay_optional() {
        let mut req = alice();
        req.gender = None;
        req.marital_status = None;
        assert!(req.parse(TODAY).is_ok());
        req.marital_status = Some("x".repeat(33));
        assert_eq!(field_of(req), "maritalStatus");
    }

    #[test]
    fn dates_must_be_iso() {
        for bad in [
            "12/04/1990",
            "1990-13-01",
            "1990-02-30",
            "1990-4-12",
            "yesterday",
        ] {
            let mut req = alice();
            req.date_of_birth = Some(bad.into());
            assert_eq!(field_of(req), "dateOfBirth", "{bad}");
        }
        let mut req = alice();
        req.passport_expiry_date = Some("2031/09/30".into());
        assert_eq!(field_of(req), "passportExpiryDate");
    }

    #[test]
    fn birth_date_is_not_in_the_future_nor_before_1900() {
        let mut req = alice();
        req.date_of_birth = Some("2026-11-22".into());
        assert_eq!(field_of(req), "dateOfBirth");
        let mut req = alice();
        req.date_of_birth = Some("1899-12-31".into());
        assert_eq!(field_of(req), "dateOfBirth");
    }

    #[test]
    fn countries_must_be_real_iso_codes() {
        for bad in ["XX", "ZZZ", "France", "F", ""] {
            let mut req = alice();
            req.citizenship = Some(bad.into());
            assert_eq!(field_of(req), "citizenship", "{bad:?}");
        }
        assert_eq!(country_alpha2("deu").as_deref(), Some("DE"));
        assert_eq!(country_alpha2("gb").as_deref(), Some("GB"));
    }

    #[test]
    fn passport_number_charset_and_length() {
        for bad in [
            "AB12",
            "AB-123456",
            "AB 123456",
            "ÄB123456",
            &"A".repeat(21),
        ] {
            let mut req = alice();
            req.passport_number = Some(bad.to_string());
            assert_eq!(field_of(req), "passportNumber", "{bad}");
        }
    }

    #[test]
    fn names_are_bounded_and_need_letters() {
        for bad in ["12345", "Al1ce", "<script>", "---", &"a".repeat(101)] {
            let mut req = alice();
            req.first_name = Some(bad.to_string());
            assert_eq!(field_of(req), "firstName", "{bad}");
        }
        let mut req = alice();
        req.first_name = Some("  Anne-Marie  José ".into());
        assert_eq!(
            req.parse(TODAY).expect("valid").first_name,
            "Anne-Marie José"
        );
    }

    #[test]
    fn messages_and_debug_never_show_the_value() {
        let mut req = alice();
        req.passport_number = Some("SECRET-99".into());
        let err = req.parse(TODAY).expect_err("invalid");
        assert!(!err.to_string().contains("SECRET"));
        let a = alice().parse(TODAY).expect("valid");
        let debug = format!("{a:?}");
        assert!(
            !debug.contains("Alice") && !debug.contains("FR1234567") && !debug.contains("1990")
        );
    }

    #[test]
    fn age_counts_whole_years() {
        let a = alice().parse(TODAY).expect("valid");
        assert_eq!(a.age_on(date!(2008 - 04 - 11)), 17);
        assert_eq!(a.age_on(date!(2008 - 04 - 12)), 18);
    }
}
