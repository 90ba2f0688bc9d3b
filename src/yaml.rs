//! The one place that knows which YAML parser breakfix uses (serde-saphyr), with its limits
//! on alias expansion, nesting and size switched on. Everything else asks this module for
//! values and for [`Located`] positions, so the parser can be swapped.

use std::fmt;
use std::io::Read;
use std::path::Path;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Files breakfix reads from a package (scenario, compose, variables, fixes, manifests, the
/// briefing) and plan files larger than this are refused without reading them.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// Lists and mappings may nest this deep (block and flow style alike); deeper input is
/// refused while parsing, before it can exhaust the stack.
pub const MAX_DEPTH: usize = 32;

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
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH,
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

fn too_large(len: u64) -> ParseError {
    ParseError {
        message: format!(
            "file is {len} bytes, more than the {MAX_FILE_BYTES} bytes breakfix reads"
        ),
        pos: Pos::default(),
    }
}

/// The text of a file's `bytes`: refused when larger than [`MAX_FILE_BYTES`], or when not
/// UTF-8 (positioned at the first invalid byte). Touches no disk.
pub fn text(bytes: &[u8]) -> Result<&str, ParseError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let prefix = &bytes[..offset];
        let line = prefix.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        let line_start = prefix
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        ParseError {
            message: "the file is not UTF-8 text (invalid byte here)".into(),
            pos: Pos {
                line,
                column: (offset - line_start) as u64 + 1,
            },
        }
    })
}

/// Reads a file of a package as text (see [`text`]) in bounded memory: only a regular file
/// is opened (not a device or a pipe), and at most [`MAX_FILE_BYTES`] + 1 bytes are read.
/// `what` names the file in an I/O error (`cannot read the {what}: ...`).
pub fn read_file(path: &Path, what: &str) -> Result<String, ParseError> {
    let io = |e: std::io::Error| ParseError {
        message: format!("cannot read the {what}: {e}"),
        pos: Pos::default(),
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(ParseError {
            message: format!("cannot read the {what}: it is not a regular file"),
            pos: Pos::default(),
        });
    }
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(too_large(meta.len()));
    }
    // Opened without blocking and checked again: a file swapped for a FIFO since the check
    // above is refused, not waited on.
    let mut bytes = Vec::new();
    crate::tree::open_regular(path, MAX_FILE_BYTES as u64)
        .and_then(|f| f.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes))
        .map_err(io)?;
    text(&bytes).map(str::to_owned)
}

/// Parses one YAML document into `T`, with breakfix's limits.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(too_large(text.len() as u64));
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
    if msg.starts_with("budget breached: Depth") || msg.starts_with("recursion limit exceeded") {
        return format!("lists and mappings nest more than {MAX_DEPTH} levels deep here");
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

    /// `depth` nested lists in flow style, nested mappings and nested lists in block style.
    fn nested(depth: usize) -> [String; 3] {
        let flow = "[".repeat(depth) + &"]".repeat(depth);
        let mut mappings = String::new();
        let mut lists = String::new();
        for i in 0..depth {
            mappings.push_str(&format!("{}k{i}:\n", "  ".repeat(i)));
            lists.push_str(&format!("{}-\n", "  ".repeat(i)));
        }
        mappings.push_str(&format!("{}x\n", "  ".repeat(depth)));
        lists.push_str(&format!("{}x\n", "  ".repeat(depth)));
        [flow, mappings, lists]
    }

    #[test]
    fn nesting_up_to_the_limit_is_read() {
        for text in nested(MAX_DEPTH) {
            from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        }
    }

    #[test]
    fn deep_nesting_is_refused_with_a_position_in_every_style() {
        for depth in [MAX_DEPTH + 1, 300, 600] {
            for text in nested(depth) {
                let e = from_str::<serde_json::Value>(&text).unwrap_err();
                assert_eq!(
                    e.message,
                    format!("lists and mappings nest more than {MAX_DEPTH} levels deep here"),
                    "depth {depth}"
                );
                assert!(e.pos.line > 0, "{e:?}");
            }
        }
    }

    #[test]
    fn text_names_the_line_and_column_of_the_first_byte_that_is_not_utf8() {
        let e = text(b"a: 1\nbc: \xff\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, column: 5 });
        assert_eq!(text(b"a: 1\n").unwrap(), "a: 1\n");
    }

    #[test]
    fn read_file_refuses_large_files_and_devices_without_reading_them() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(64 << 30).unwrap(); // sparse: 64 GiB that take no room
        let e = read_file(&big, "scenario file").unwrap_err();
        assert!(
            e.message
                .starts_with(&format!("file is {} bytes", 64u64 << 30)),
            "{e:?}"
        );
        let e = read_file(Path::new("/dev/zero"), "scenario file").unwrap_err();
        assert_eq!(
            e.message,
            "cannot read the scenario file: it is not a regular file"
        );
        let e = read_file(&dir.path().join("none.yaml"), "compose file").unwrap_err();
        assert!(
            e.message.starts_with("cannot read the compose file: "),
            "{e:?}"
        );
    }
}
