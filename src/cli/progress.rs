//! Progress for long work: a spinner on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::backend::Progress;

pub struct Term {
    bar: Mutex<Option<(ProgressBar, String)>>,
    fancy: bool,
    quiet: bool,
}

impl Term {
    pub fn new(quiet: bool) -> Self {
        Term {
            bar: Mutex::new(None),
            fancy: std::io::stderr().is_terminal(),
            quiet,
        }
    }
}

impl Term {
    /// Clears the current step's spinner and hands back its slot (none when quiet).
    fn take_current(&self) -> Option<std::sync::MutexGuard<'_, Option<(ProgressBar, String)>>> {
        if self.quiet {
            return None;
        }
        let mut slot = self.bar.lock().ok()?;
        if let Some((bar, _)) = slot.take() {
            bar.finish_and_clear();
        }
        Some(slot)
    }
}

impl Progress for Term {
    fn begin(&self, step: &str) {
        let Some(mut slot) = self.take_current() else {
            return;
        };
        if self.fancy {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(step.to_string());
            *slot = Some((bar, step.to_string()));
        } else {
            note!("… {step}");
            *slot = Some((ProgressBar::hidden(), step.to_string()));
        }
    }

    fn detail(&self, line: &str) {
        if self.quiet {
            return;
        }
        let Ok(slot) = self.bar.lock() else { return };
        if let Some((bar, step)) = slot.as_ref() {
            if self.fancy {
                let line: String = line.chars().take(80).collect();
                bar.set_message(format!("{step} · {line}"));
            } else if line.starts_with("Step ") && !line.contains("LABEL dev.breakfix.") {
                note!("    {line}");
            }
        }
    }

    fn finish(&self, outcome: &str) {
        if self.take_current().is_some() {
            note!("✓ {outcome}");
        }
    }
}
