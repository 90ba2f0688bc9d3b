//! A problem in a file the user wrote, with where it is. Rendered `file:line:column: message`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::yaml::{ParseError, Pos};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub pos: Pos,
    pub message: String,
}

impl Diagnostic {
    pub fn at(file: &Path, pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            pos,
            message: message.into(),
        }
    }

    pub fn from_parse(file: &Path, e: ParseError) -> Self {
        Diagnostic::at(file, e.pos, e.message)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        if self.pos.line == 0 {
            write!(f, "{file}: {}", self.message)
        } else {
            write!(
                f,
                "{file}:{}:{}: {}",
                self.pos.line, self.pos.column, self.message
            )
        }
    }
}

/// Renders a list of diagnostics, one per line.
pub fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
