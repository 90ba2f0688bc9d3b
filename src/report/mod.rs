//! Reporters: each renders a [`Report`] it is given and computes nothing of its own.

mod json;
mod markdown;
mod text;

use crate::grade::Report;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For a terminal.
    Text,
    /// Versioned JSON (`format-version`), for scripts and archives.
    Json,
    /// For a hiring ticket or a wiki page.
    Markdown,
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text::render(report),
        Format::Json => json::render(report),
        Format::Markdown => markdown::render(report),
    }
}

pub fn clock_text(secs: u64) -> String {
    format!("{}m{:02}s", secs / 60, secs % 60)
}
