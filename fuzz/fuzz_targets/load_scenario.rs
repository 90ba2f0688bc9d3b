//! Arbitrary bytes as a package's `scenario.yaml`: the loader must answer with diagnostics or
//! a package, never panic, hang or exhaust memory.
//!
//! Every input is parsed without touching the disk first; an input that parses is also
//! written into a fresh copy of `fixtures/valid/minimal` and loaded there, so the checks
//! that need the package's other files run too.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a folder of the package copy");
    for entry in std::fs::read_dir(from).expect("read fixtures/valid/minimal") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file of the package");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = breakfix::scenario::parse_text(Path::new("scenario.yaml"), data);
    if let Err(d) = parsed {
        let _ = d.to_string();
        return;
    }
    let minimal = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/valid/minimal");
    let tmp = tempfile::tempdir().expect("temporary folder");
    // Named like the fixture, so an input with `id: minimal` can pass validation.
    let package = tmp.path().join("minimal");
    copy_dir(&minimal, &package);
    std::fs::write(package.join("scenario.yaml"), data).expect("write scenario.yaml");
    if let Err(e) = breakfix::scenario::load(&package) {
        let _ = e.to_string();
    }
});
