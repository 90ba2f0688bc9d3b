//! The one place that knows which YAML parser breakfix uses (serde-saphyr), with its limits
//! on alias expansion, nesting and size switched on. Everything else asks this module for
//! values and for [`Located`] positions, so the parser can be swapped.

use std::fmt;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Scenario and compose files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// A position in a YAML file (1-based; 0 when unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

/// A parse error: the parser's message and where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub pos: Pos,
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 32,
            max_events: 200_000,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_nodes: 100_000,
            max_total_scalar_bytes: 4 << 20,
            max_documents: 1,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 10_000,
            max_replay_stack_depth: 16,
            max_alias_expansions_per_anchor: 100,
        },
    }
}

/// Parses one YAML document into `T`, with breakfix's limits.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ParseError {
            message: format!(
                "file is {} bytes, more than the {MAX_FILE_BYTES} bytes breakfix reads",
                text.len()
            ),
            pos: Pos::default(),
        });
    }
    if text.trim().is_empty()
        || text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(ParseError {
            message: "file is empty".into(),
            pos: Pos { line: 1, column: 1 },
        });
    }
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| {
        let pos = e
            .location()
            .map(|l| Pos {
                line: l.line(),
                column: l.column(),
            })
            .unwrap_or_default();
        ParseError {
            message: plain_message(&e),
            pos,
        }
    })
}

/// The parser's message in breakfix's words, without its own location (breakfix prints the
/// position itself, the same way for every error) and without advice about the parser's API.
fn plain_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let mut msg = full.lines().next().unwrap_or_default().trim();
    msg = msg.strip_prefix("error: ").unwrap_or(msg);
    // serde-saphyr writes "line L column C: message" (or "... at line L, column C").
    if let Some(rest) = msg.strip_prefix("line ")
        && let Some((_, m)) = rest.split_once(": ")
    {
        msg = m;
    }
    if let Some(i) = msg.rfind(" at line ") {
        msg = &msg[..i];
    }
    reword(msg.trim_end_matches(':'))
}

/// Parser phrasings that would puzzle a scenario author, said plainly.
fn reword(msg: &str) -> String {
    if let Some(key) = msg.strip_prefix("duplicate mapping key: ") {
        let key = key.split(',').next().unwrap_or(key).trim();
        return format!("key `{key}` is written twice in the same mapping");
    }
    if msg.starts_with("budget breached: Documents") {
        return "the file must hold one YAML document; a second one starts here".into();
    }
    if msg.starts_with("budget breached") {
        return format!(
            "the file exceeds breakfix's YAML limits ({})",
            msg.trim_start_matches("budget breached: ")
        );
    }
    if msg.starts_with("alias expansion limit exceeded") {
        return format!("an anchor is expanded too many times through aliases ({msg})");
    }
    if let Some(ty) = msg.strip_prefix("invalid ")
        && matches!(ty, "u8" | "u16" | "u32" | "u64" | "i32" | "i64")
    {
        let sign = if ty.starts_with('u') {
            "0 or more"
        } else {
            "positive or negative"
        };
        return format!("expected a whole number ({sign}) that fits a {ty}");
    }
    match msg {
        "expected mapping start" => "expected a mapping (`key: value` lines) here".into(),
        "expected sequence start" => "expected a list (`- item` lines) here".into(),
        "expected string scalar" => "expected a text value here".into(),
        _ => msg.to_string(),
    }
}

/// Writes a value as YAML (breakfix writes the scenario files it generates with it).
pub fn to_string<T: Serialize>(value: &T) -> Result<String, String> {
    serde_saphyr::to_string(value).map_err(|e| e.to_string())
}

/// For tests and small values: parse and render the error as one string.
pub fn from_str_plain<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    from_str(text).map_err(|e| format!("{}:{}: {}", e.pos.line, e.pos.column, e.message))
}

/// A value that remembers where it was written, so validation errors can point at it.
/// Serializes and describes itself (JSON Schema) exactly as the inner value.
#[derive(Clone, Debug, Default)]
pub struct Located<T> {
    pub value: T,
    pub pos: Pos,
}

impl<T> Located<T> {
    pub fn new(value: T) -> Self {
        Located {
            value,
            pos: Pos::default(),
        }
    }
}

impl<T: PartialEq> PartialEq for Located<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T> std::ops::Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Display> fmt::Display for Located<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<T>::deserialize(d)?;
        Ok(Located {
            value: s.value,
            pos: Pos {
                line: s.referenced.line(),
                column: s.referenced.column(),
            },
        })
    }
}

impl<T: Serialize> Serialize for Located<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<T: JsonSchema> JsonSchema for Located<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        name: Located<String>,
        #[allow(dead_code)]
        count: u32,
    }

    #[test]
    fn located_values_carry_their_line_and_column() {
        let d: Doc = from_str("count: 3\nname:   web\n").unwrap();
        assert_eq!(d.name.value, "web");
        assert_eq!(d.name.pos, Pos { line: 2, column: 9 });
    }

    #[test]
    fn type_errors_carry_a_position_and_a_message_without_it() {
        let e = from_str::<Doc>("name: web\ncount: many\n").unwrap_err();
        assert_eq!(e.pos.line, 2, "{e:?}");
        assert!(!e.message.contains("line"), "{e:?}");
        assert!(!e.message.starts_with("error"), "{e:?}");
        assert!(e.message.contains("whole number"), "{e:?}");
    }

    #[test]
    fn a_duplicate_key_is_said_plainly() {
        let e = from_str::<Doc>("name: a\nname: b\ncount: 1\n").unwrap_err();
        assert_eq!(e.message, "key `name` is written twice in the same mapping");
    }

    #[test]
    fn an_alias_bomb_is_refused_quickly() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("b{}", i - 1)
            };
            text.push_str(&format!("b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let started = std::time::Instant::now();
        let e = from_str::<serde_json::Value>(&text).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(!e.message.is_empty());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(200) + &"]".repeat(200);
        assert!(from_str::<serde_json::Value>(&text).is_err());
    }
}
