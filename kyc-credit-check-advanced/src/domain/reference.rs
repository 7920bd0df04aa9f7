//! The advanced scorer's reference lists: notices, restricted countries and the bureau. Each is a JSON
//! file embedded in the binary and replaceable by a path in configuration.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use kyc_common::domain::applicant::{country_alpha2, parse_iso_date};
use kyc_scoring::names;
use kyc_scoring::reference::load_reference;
use serde::Deserialize;
use time::Date;

pub const EMBEDDED_NOTICES: &str = include_str!("../../data/notices.json");
pub const EMBEDDED_RESTRICTED_COUNTRIES: &str =
    include_str!("../../data/restricted-countries.json");
pub const EMBEDDED_BUREAU: &str = include_str!("../../data/bureau.json");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notice {
    first_name: String,
    last_name: String,
    date_of_birth: String,
}

#[derive(Deserialize)]
struct NoticesFile {
    notices: Vec<Notice>,
}

#[derive(Deserialize)]
struct CountriesFile {
    countries: Vec<String>,
}

/// What the fictional bureau knows about one passport holder.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BureauRecord {
    pub passport_number: String,
    #[serde(default)]
    pub military_service_years: u32,
    #[serde(default)]
    pub months_unemployed_last24: u32,
    #[serde(default)]
    pub dismissed_for_misconduct: bool,
    /// Share of available credit in use, 0..1.
    #[serde(default)]
    pub credit_utilisation: f64,
    #[serde(default, rename = "missedPayments12m")]
    pub missed_payments_12m: u32,
}

#[derive(Deserialize)]
struct BureauFile {
    records: Vec<BureauRecord>,
}

/// Paths replacing the embedded lists (`None`: embedded).
#[derive(Clone, Copy, Default)]
pub struct ReferencePaths<'a> {
    pub notices: Option<&'a Path>,
    pub restricted_countries: Option<&'a Path>,
    pub bureau: Option<&'a Path>,
}

#[derive(Clone, Default)]
pub struct ReferenceData {
    /// (normalised full name, birth date)
    notices: HashSet<(String, Date)>,
    /// Upper-case alpha-2 codes.
    restricted_countries: HashSet<String>,
    /// By upper-case passport number.
    bureau: HashMap<String, BureauRecord>,
}

impl ReferenceData {
    pub fn load(paths: ReferencePaths<'_>) -> Result<Self, String> {
        let notices: NoticesFile = load_reference("notices list", paths.notices, EMBEDDED_NOTICES)?;
        let countries: CountriesFile = load_reference(
            "restricted countries list",
            paths.restricted_countries,
            EMBEDDED_RESTRICTED_COUNTRIES,
        )?;
        let bureau: BureauFile = load_reference("bureau file", paths.bureau, EMBEDDED_BUREAU)?;

        let mut data = ReferenceData::default();
        for notice in notices.notices {
            let born = parse_iso_date(&notice.date_of_birth).ok_or_else(|| {
                "notices list: dateOfBirth of an entry is not an ISO date YYYY-MM-DD".to_owned()
            })?;
            data.notices.insert((
                names::full_name(&notice.first_name, &notice.last_name),
                born,
            ));
        }
        for code in countries.countries {
            let alpha2 = country_alpha2(&code).ok_or_else(|| {
                format!("restricted countries list: `{code}` is not an ISO 3166-1 code")
            })?;
            data.restricted_countries.insert(alpha2);
        }
        for record in bureau.records {
            if !(0.0..=1.0).contains(&record.credit_utilisation) {
                return Err("bureau file: creditUtilisation must be between 0 and 1".to_owned());
            }
            data.bureau
                .insert(record.passport_number.trim().to_ascii_uppercase(), record);
        }
        Ok(data)
    }

    pub fn has_notice(&self, first: &str, last: &str, born: Date) -> bool {
        self.notices
            .contains(&(names::full_name(first, last), born))
    }

    pub fn is_restricted(&self, alpha2: &str) -> bool {
        self.restricted_countries.contains(alpha2)
    }

    pub fn bureau(&self, passport_number: &str) -> Option<&BureauRecord> {
        self.bureau.get(&passport_number.to_ascii_uppercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn embedded_lists_load() {
        let data = ReferenceData::load(ReferencePaths::default()).expect("embedded lists parse");
        assert!(data.has_notice("MARA", "quell", date!(1982 - 06 - 30)));
        assert!(!data.has_notice("Mara", "Quell", date!(1982 - 06 - 29)));
        assert!(data.is_restricted("KP"));
        assert!(!data.is_restricted("FR"));
        assert_eq!(
            data.bureau("se7654321").map(|r| r.credit_utilisation),
            Some(0.95)
        );
    }

    #[test]
    fn invalid_reference_files_are_refused_with_their_name() {
        let dir = std::env::temp_dir().join(format!("kyc-reference-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let countries = dir.join("countries.json");
        std::fs::write(&countries, r#"{"countries":["XX"]}"#).expect("write");
        let err = ReferenceData::load(ReferencePaths {
            restricted_countries: Some(&countries),
            ..Default::default()
        })
        .err()
        .expect("refused");
        assert!(
            err.contains("restricted countries") && err.contains("XX"),
            "{err}"
        );

        let bureau = dir.join("bureau.json");
        std::fs::write(
            &bureau,
            r#"{"records":[{"passportNumber":"A1234","creditUtilisation":1.5}]}"#,
        )
        .expect("write");
        let err = ReferenceData::load(ReferencePaths {
            bureau: Some(&bureau),
            ..Default::default()
        })
        .err()
        .expect("refused");
        assert!(err.contains("bureau"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
