//! Durations written as `20s`, `500ms`, `2m` in scenario and compose files.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest duration breakfix reads: a longer one is a mistake, and with this bound the
/// sums, products and deadlines made of durations cannot overflow.
pub const MAX: Duration = Duration::from_secs(366 * 24 * 3600);

/// A human-written duration (`500ms`, `20s`, `1m30s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn secs(s: u64) -> Self {
        HumanDuration(Duration::from_secs(s))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let d = humantime::parse_duration(text.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration `{text}` ({e}); write it like `500ms`, `20s` or `2m`"
            ))
        })?;
        if d > MAX {
            return Err(serde::de::Error::custom(format!(
                "duration `{text}` is longer than {} days, the most breakfix allows",
                MAX.as_secs() / 86_400
            )));
        }
        Ok(HumanDuration(d))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration such as `500ms`, `20s` or `2m`.",
            "pattern": "^\\s*[0-9]+\\s*(ns|us|ms|s|m|h)(\\s*[0-9]+\\s*(ns|us|ms|s|m|h))*\\s*$"
        })
    }
}

/// A session clock as the reports show it: `12m05s`.
pub fn clock_text(secs: u64) -> String {
    format!("{}m{:02}s", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_from_the_forms_authors_write() {
        let d: HumanDuration = crate::yaml::from_str_plain("20s").unwrap();
        assert_eq!(d.0, Duration::from_secs(20));
        let d: HumanDuration = crate::yaml::from_str_plain("1m 30s").unwrap();
        assert_eq!(d.0, Duration::from_secs(90));
    }

    #[test]
    fn a_duration_longer_than_the_maximum_is_refused_and_the_maximum_is_read() {
        let e = crate::yaml::from_str_plain::<HumanDuration>("18446744073709551615s").unwrap_err();
        assert!(e.contains("longer than 366 days"), "{e}");
        let d: HumanDuration = crate::yaml::from_str_plain("8784h").unwrap();
        assert_eq!(d.0, MAX);
    }

    #[test]
    fn a_bare_number_is_rejected_with_a_hint_about_units() {
        let e = crate::yaml::from_str_plain::<HumanDuration>("20").unwrap_err();
        assert!(e.contains("write it like"), "{e}");
    }
}
