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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::grade::sample::report;

    fn mixed() -> Report {
        report(|id| match id {
            "web-stays-up" | "checkout-api-through-web" => Status::Pass,
            "nginx-config-valid" => Status::Error,
            "keeps-hardening" => Status::Fail,
            "web-reports-healthy" => Status::Fail,
            _ => Status::Pass,
        })
    }

    #[test]
    fn the_text_report_reads_well() {
        insta::assert_snapshot!(render(&mixed(), Format::Text));
    }

    #[test]
    fn the_markdown_report_reads_well() {
        insta::assert_snapshot!(render(&mixed(), Format::Markdown));
    }

    #[test]
    fn the_json_report_keeps_its_documented_shape() {
        insta::assert_snapshot!(render(&mixed(), Format::Json));
    }

    #[test]
    fn the_json_report_round_trips() {
        let r = mixed();
        let back: Report = serde_json::from_str(&render(&r, Format::Json)).unwrap();
        assert_eq!(back.score, r.score);
        assert_eq!(back.checks.len(), r.checks.len());
    }
}
