//! Reports after the fact: `report verify`, `report keygen`.

use super::*;

/// `report verify` and `report keygen`.
pub(super) fn report_action(state_dir: &Option<PathBuf>, action: ReportAction) -> CmdResult {
    use crate::seal::{self, SignatureVerdict, Verdict};
    match action {
        ReportAction::Keygen { output } => {
            let store = open_store(state_dir)?;
            let path = output.unwrap_or_else(|| store.root().join(seal::DEFAULT_KEY));
            let public = seal::generate_key(&path)?;
            let pub_path = seal::public_path(&path);
            println!("signing key  {} (keep it private)", path.display());
            println!(
                "public key   {} ({})",
                pub_path.display(),
                hex::encode(public.to_bytes())
            );
            if output_is_default(&path, store.root()) {
                println!("Reports graded from now on are signed with it.");
            } else {
                println!(
                    "Set BREAKFIX_SIGNING_KEY={} for breakfix to sign reports with it.",
                    path.display()
                );
            }
            println!(
                "A colleague checks a report with: breakfix report verify report.json --key {}",
                pub_path.display()
            );
            Ok(exit::OK)
        }
        ReportAction::Verify { file, key, json } => {
            let trusted = key.as_deref().map(seal::load_verifying_key).transpose()?;
            let verdict = seal::verify(&file, trusted.as_ref())?;
            let ok = verdict.is_trustworthy(trusted.is_some());
            let f = file.display();
            let line = match &verdict {
                Verdict::NotSealed => format!(
                    "{f}: NOT SEALED: it carries no digest, so nothing shows whether it was changed"
                ),
                Verdict::Sealed {
                    carried, actual, ..
                } if carried != actual => format!(
                    "{f}: HAS BEEN CHANGED: its content no longer matches the digest it carries (sha256 {carried}, content {actual})"
                ),
                Verdict::Sealed {
                    actual, signature, ..
                } => match signature {
                    SignatureVerdict::Absent if trusted.is_some() => format!(
                        "{f}: unchanged (sha256 {actual}) but NOT SIGNED, so it cannot be shown to come from the key given"
                    ),
                    SignatureVerdict::Absent => format!(
                        "{f}: unchanged since breakfix wrote it (sha256 {actual}; not signed, so anyone could have recomputed it)"
                    ),
                    SignatureVerdict::Valid {
                        public_key,
                        trusted: Some(false),
                    } => format!(
                        "{f}: unchanged, but signed by ANOTHER key ({}…), not the one given",
                        &public_key[..16.min(public_key.len())]
                    ),
                    SignatureVerdict::Valid {
                        public_key,
                        trusted,
                    } => format!(
                        "{f}: unchanged since breakfix wrote it (sha256 {actual}), signed by ed25519 key {}…{}",
                        &public_key[..16.min(public_key.len())],
                        if trusted == &Some(true) {
                            " (the key given)"
                        } else {
                            ""
                        }
                    ),
                    SignatureVerdict::Invalid { .. } => {
                        format!("{f}: HAS BEEN CHANGED: its signature does not match its content")
                    }
                },
            };
            if json {
                print_json(&json!({"file": file, "ok": ok, "verdict": line}));
            } else {
                println!("{line}");
            }
            Ok(if ok { exit::OK } else { exit::TAMPERED })
        }
    }
}
pub(super) fn output_is_default(path: &Path, state: &Path) -> bool {
    path == state.join(crate::seal::DEFAULT_KEY)
}
