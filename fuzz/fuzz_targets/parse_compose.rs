//! Arbitrary bytes as a workspace's `compose.yaml`: parsing and resolving must answer with
//! diagnostics or a deployment, never panic, hang or exhaust memory. Paths it names are
//! resolved against `fixtures/valid/minimal/workspace`, which is only read.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let workspace =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/valid/minimal/workspace");
    // A ceiling in force, so its checks are fuzzed too.
    let mut ceiling = breakfix::ceiling::Ceiling::unlimited();
    ceiling.services = 8;
    match breakfix::compose::parse(&workspace, &workspace.join("compose.yaml"), data, &ceiling) {
        Ok(deployment) => {
            let _ = deployment.start_order();
        }
        Err(diagnostics) => {
            let _ = breakfix::diagnostic::render(&diagnostics);
        }
    }
});
