//! Broken `scenario.yaml` files are rejected by `breakfix validate` with exit code 4 and the
//! exact diagnostics recorded next to them.
//!
//! Each `fixtures/invalid/<case>.yaml` is laid over a copy of `fixtures/valid/minimal` (in a
//! temporary folder named `minimal`, so the id still matches) and validated with the real
//! binary. Its stderr, with the temporary package path removed so paths read relative to the
//! package (`scenario.yaml:3:5: ...`), must equal `fixtures/invalid/<case>.expected`.
//!
//! To regenerate the expected files after an intended change in wording, run
//! `BREAKFIX_BLESS=1 cargo test --test invalid_scenarios` and review the diff by eye.
//!
//! Inputs too large to keep as fixtures (files of several MiB, packages of many files) and
//! packages holding links are made at test time. Every validation runs with a deadline and
//! a limited address space, so a hang or a blow-up fails the test instead of the machine.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Exit code of `breakfix validate` for an invalid package (`exit::SCENARIO_INVALID`).
const SCENARIO_INVALID: i32 = 4;
/// The least number of invalid fixtures the suite must hold.
const MIN_INVALID_FIXTURES: usize = 12;
/// How long one validation may take before it counts as a hang.
const TIME_LIMIT: Duration = Duration::from_secs(3);
/// The address space one validation may use; more counts as a blow-up.
const MEMORY_LIMIT: u64 = 1 << 30;
/// What `breakfix validate` reads of a file at most (`yaml::MAX_FILE_BYTES`).
const MAX_FILE_BYTES: usize = 1 << 20;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn valid_minimal() -> PathBuf {
    fixtures().join("valid").join("minimal")
}

/// Every `fixtures/invalid/*.yaml`, sorted by name.
fn invalid_fixtures() -> Vec<PathBuf> {
    let dir = fixtures().join("invalid");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()))
    {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

/// What one run of `breakfix validate` produced.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs `breakfix validate <package>` with at most [`MEMORY_LIMIT`] of address space (an
/// allocation beyond it fails, and the process aborts), killing it if it takes longer than
/// [`TIME_LIMIT`] (the caller sees that in `elapsed`).
fn validate(package: &Path) -> Run {
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_breakfix"));
    command
        .arg("validate")
        .arg(package)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit,
    // which is async-signal-safe; it allocates nothing.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: MEMORY_LIMIT,
                rlim_max: MEMORY_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut child = command.spawn().expect("start breakfix");
    // Drain both pipes on their own threads so a chatty child cannot block on a full pipe.
    let mut out_pipe = child.stdout.take().expect("stdout pipe");
    let mut err_pipe = child.stderr.take().expect("stderr pipe");
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out_pipe.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err_pipe.read_to_end(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for breakfix") {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            break child.wait().expect("wait for killed breakfix");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out_reader.join().expect("stdout reader")).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().expect("stderr reader")).into_owned();
    Run {
        code: status.code(),
        stdout,
        stderr,
        elapsed,
    }
}

/// What is wrong with how a run ended, if anything: a panic, a hang, running out of
/// address space, or an exit code other than `expected` (and, for an invalid package, no
/// `invalid` line on stdout).
fn misbehaviour(run: &Run, expected: Option<i32>) -> Vec<String> {
    let mut problems = Vec::new();
    if run.stderr.contains("panicked") {
        problems.push(format!("breakfix panicked:\n{}", run.stderr));
    }
    if run.stderr.contains("memory allocation of") {
        problems.push(format!(
            "breakfix ran out of its {} MiB of address space",
            MEMORY_LIMIT >> 20
        ));
    }
    if run.elapsed > TIME_LIMIT {
        problems.push(format!(
            "validation did not finish within {TIME_LIMIT:?} (killed): a hang"
        ));
    }
    if run.code != expected {
        problems.push(format!(
            "exit code {:?}, expected {expected:?}\nstderr:\n{}",
            run.code, run.stderr
        ));
    }
    if expected == Some(SCENARIO_INVALID) && !run.stdout.starts_with("invalid ") {
        problems.push(format!("stdout does not say `invalid`:\n{}", run.stdout));
    }
    problems
}

/// Asserts `package` is refused with exactly `expected` on stderr (paths relative to the
/// package), promptly and without a panic.
fn assert_refused(package: &Path, expected: &str) {
    let run = validate(package);
    let mut problems = misbehaviour(&run, Some(SCENARIO_INVALID));
    let actual = relative_diagnostics(&run.stderr, package);
    if actual != normalise(expected) {
        problems.push(format!(
            "diagnostics differ (- expected, + actual):\n{}",
            diff(&normalise(expected), &actual)
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A copy of `fixtures/valid/minimal` in a temporary folder (named `minimal`, so the id
/// still matches), with the folder that holds it.
fn minimal_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let package = tmp.path().join("minimal");
    copy_dir(&valid_minimal(), &package);
    (tmp, package)
}

/// Stderr with the package path removed, so diagnostics name files relative to the package.
fn relative_diagnostics(stderr: &str, package: &Path) -> String {
    let mut prefix = package.display().to_string();
    prefix.push(std::path::MAIN_SEPARATOR);
    normalise(&stderr.replace(&prefix, ""))
}

/// One diagnostic a line, `\n` line endings, no trailing blank lines, a final newline.
fn normalise(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut lines: Vec<&str> = text.lines().collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// A line-by-line comparison, readable in a test failure: `-` expected, `+` actual.
fn diff(expected: &str, actual: &str) -> String {
    let exp: Vec<&str> = expected.lines().collect();
    let act: Vec<&str> = actual.lines().collect();
    let mut out = Vec::new();
    for i in 0..exp.len().max(act.len()) {
        match (exp.get(i), act.get(i)) {
            (Some(e), Some(a)) if e == a => out.push(format!("    {e}")),
            (e, a) => {
                out.extend(e.map(|e| format!("  - {e}")));
                out.extend(a.map(|a| format!("  + {a}")));
            }
        }
    }
    out.join("\n")
}

fn blessing() -> bool {
    std::env::var("BREAKFIX_BLESS").is_ok_and(|v| v == "1")
}

#[test]
fn the_minimal_valid_package_validates_cleanly() {
    let run = validate(&valid_minimal());
    assert_eq!(
        run.code,
        Some(0),
        "fixtures/valid/minimal should validate\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.trim().is_empty(),
        "unexpected stderr:\n{}",
        run.stderr
    );
    assert!(
        run.stdout.starts_with("ok      minimal"),
        "stdout:\n{}",
        run.stdout
    );
}

#[test]
fn there_are_enough_invalid_fixtures_and_each_has_an_expected_file() {
    let cases = invalid_fixtures();
    assert!(
        cases.len() >= MIN_INVALID_FIXTURES,
        "expected at least {MIN_INVALID_FIXTURES} fixtures in fixtures/invalid/, found {}",
        cases.len()
    );
    let missing: Vec<String> = cases
        .iter()
        .filter(|c| !c.with_extension("expected").is_file())
        .map(|c| c.display().to_string())
        .collect();
    assert!(
        blessing() || missing.is_empty(),
        "fixtures without a .expected file (run with BREAKFIX_BLESS=1 to create them):\n{}",
        missing.join("\n")
    );
    // And no stray .expected file without its fixture.
    let dir = fixtures().join("invalid");
    let orphans: Vec<String> = std::fs::read_dir(&dir)
        .expect("read fixtures/invalid")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "expected"))
        .filter(|p| !p.with_extension("yaml").is_file())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        orphans.is_empty(),
        ".expected files without a fixture:\n{}",
        orphans.join("\n")
    );
}

#[test]
fn every_invalid_fixture_is_rejected_with_its_expected_message() {
    let bless = blessing();
    let mut failures = Vec::new();
    for case in invalid_fixtures() {
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let tmp = tempfile::tempdir().expect("temporary folder");
        let package = tmp.path().join("minimal");
        copy_dir(&valid_minimal(), &package);
        std::fs::copy(&case, package.join("scenario.yaml"))
            .unwrap_or_else(|e| panic!("copy {}: {e}", case.display()));

        let run = validate(&package);
        let actual = relative_diagnostics(&run.stderr, &package);
        let mut problems = misbehaviour(&run, Some(SCENARIO_INVALID));

        let expected_path = case.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &actual)
                .unwrap_or_else(|e| panic!("write {}: {e}", expected_path.display()));
        } else {
            match std::fs::read_to_string(&expected_path) {
                Err(e) => problems.push(format!(
                    "cannot read {} ({e}); run with BREAKFIX_BLESS=1 to create it\nactual:\n{actual}",
                    expected_path.display()
                )),
                Ok(expected) => {
                    let expected = normalise(&expected);
                    if expected != actual {
                        problems.push(format!(
                            "diagnostics differ (- expected, + actual):\n{}",
                            diff(&expected, &actual)
                        ));
                    }
                }
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "fixtures/invalid/{name}:\n  {}",
                problems.join("\n  ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} invalid fixture(s) did not behave as expected:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Every `fixtures/invalid-variables/<case>/` and `fixtures/invalid-packages/<case>/`: its
/// files laid over a copy of the minimal package (a `variables.yaml` and files that use the
/// variables; a workspace file). Validation must refuse it with exactly `<case>.expected`.
#[test]
fn every_invalid_variables_or_package_fixture_is_rejected_with_its_expected_message() {
    let mut cases: Vec<PathBuf> = ["invalid-variables", "invalid-packages"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(fixtures().join(d))
                .unwrap_or_else(|e| panic!("read fixtures/{d}: {e}"))
                .map(|e| e.expect("directory entry").path())
        })
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "too few fixtures: {cases:?}");
    let mut failures = Vec::new();
    for case in cases {
        let tmp = tempfile::tempdir().expect("temporary folder");
        let package = tmp.path().join("minimal");
        copy_dir(&valid_minimal(), &package);
        copy_dir(&case, &package);
        let run = validate(&package);
        let actual = relative_diagnostics(&run.stderr, &package);
        let expected_path = case.with_extension("expected");
        let mut problems = Vec::new();
        if run.stderr.contains("panicked") {
            problems.push(format!("breakfix panicked:\n{}", run.stderr));
        }
        if run.code != Some(SCENARIO_INVALID) {
            problems.push(format!(
                "exit code {:?}, expected {SCENARIO_INVALID}",
                run.code
            ));
        }
        if blessing() {
            std::fs::write(&expected_path, &actual).expect("write the expected file");
        } else {
            let expected = normalise(&std::fs::read_to_string(&expected_path).unwrap_or_default());
            if expected != actual {
                problems.push(format!(
                    "diagnostics differ (- expected, + actual):\n{}",
                    diff(&expected, &actual)
                ));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{}:\n  {}", case.display(), problems.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Comment lines (valid YAML that parses to nothing) until the text holds `bytes` bytes.
fn padding(bytes: usize) -> String {
    let line = format!("# {}\n", "x".repeat(77));
    let mut out = line.repeat(bytes / line.len() + 1);
    out.truncate(bytes - 1);
    out.push('\n');
    out
}

#[test]
fn a_scenario_file_of_several_mebibytes_is_refused_by_its_size() {
    let (_tmp, package) = minimal_copy();
    let scenario = std::fs::read_to_string(valid_minimal().join("scenario.yaml")).unwrap();
    let text = scenario.clone() + &padding(3 * MAX_FILE_BYTES);
    std::fs::write(package.join("scenario.yaml"), &text).unwrap();
    assert_refused(
        &package,
        &format!(
            "scenario.yaml: file is {} bytes, more than the {MAX_FILE_BYTES} bytes breakfix reads",
            text.len()
        ),
    );
}

#[test]
fn a_compose_file_of_several_mebibytes_is_refused_naming_it() {
    let (_tmp, package) = minimal_copy();
    let compose = package.join("workspace").join("compose.yaml");
    let text = std::fs::read_to_string(&compose).unwrap() + &padding(3 * MAX_FILE_BYTES);
    std::fs::write(&compose, &text).unwrap();
    assert_refused(
        &package,
        &format!(
            "workspace/compose.yaml: file is {} bytes, more than the {MAX_FILE_BYTES} bytes breakfix reads",
            text.len()
        ),
    );
}

#[test]
fn a_briefing_of_several_mebibytes_is_refused_naming_it() {
    let (_tmp, package) = minimal_copy();
    let text = "# Briefing\n".to_string() + &padding(3 * MAX_FILE_BYTES);
    std::fs::write(package.join("briefing.md"), &text).unwrap();
    assert_refused(
        &package,
        &format!(
            "briefing.md: file is {} bytes, more than the {MAX_FILE_BYTES} bytes breakfix reads",
            text.len()
        ),
    );
}

#[test]
fn a_file_just_over_the_limit_is_refused_and_one_at_the_limit_is_read() {
    let scenario = std::fs::read_to_string(valid_minimal().join("scenario.yaml")).unwrap();
    for (len, refused) in [(MAX_FILE_BYTES, false), (MAX_FILE_BYTES + 1, true)] {
        let (_tmp, package) = minimal_copy();
        let text = scenario.clone() + &padding(len - scenario.len());
        assert_eq!(text.len(), len);
        std::fs::write(package.join("scenario.yaml"), &text).unwrap();
        if refused {
            assert_refused(
                &package,
                &format!(
                    "scenario.yaml: file is {len} bytes, more than the {MAX_FILE_BYTES} bytes breakfix reads"
                ),
            );
        } else {
            let problems = misbehaviour(&validate(&package), Some(0));
            assert!(problems.is_empty(), "{}", problems.join("\n"));
        }
    }
}

#[test]
fn a_single_line_of_900_kib_under_the_limit_is_read_quickly() {
    let scenario = std::fs::read_to_string(valid_minimal().join("scenario.yaml")).unwrap();
    let title = "title: Minimal scenario used by the validation tests";
    let long = "a".repeat(900 << 10);
    for line in [
        format!("title: {long}"),
        format!("title: \"{long}\""),
        format!("title: '{long}'"),
    ] {
        let (_tmp, package) = minimal_copy();
        std::fs::write(
            package.join("scenario.yaml"),
            scenario.replacen(title, &line, 1),
        )
        .unwrap();
        let problems = misbehaviour(&validate(&package), Some(0));
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}

/// Replaces `rel` in `package` (if it is there) with a link to `target`.
fn link(package: &Path, rel: &str, target: &str) {
    let path = package.join(rel);
    if path.is_dir() {
        std::fs::remove_dir_all(&path).unwrap();
    } else if path.symlink_metadata().is_ok() {
        std::fs::remove_file(&path).unwrap();
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, &path)
        .unwrap_or_else(|e| panic!("link {} -> {target}: {e}", path.display()));
}

/// Enough `..` to climb from any temporary folder to `/`.
const TO_ROOT: &str = "../../../../../../../../../../../../../../../..";

#[test]
fn a_link_that_leaves_the_package_is_refused_naming_the_link_wherever_it_is() {
    let cases = [
        ("scenario.yaml", "/etc/passwd".to_string()),
        ("briefing.md", format!("{TO_ROOT}/etc/passwd")),
        ("workspace/evil", "/etc".to_string()),
        ("workspace/compose.yaml", "/dev/zero".to_string()),
        ("solution/compose.yaml", "/etc/passwd".to_string()),
        ("images/web", "/etc".to_string()),
        ("images/web/Dockerfile", "/etc/passwd".to_string()),
        ("fixes/other/fix.yaml", "/etc/hostname".to_string()),
        ("variables.yaml", "/etc/passwd".to_string()),
    ];
    for (rel, target) in cases {
        let (_tmp, package) = minimal_copy();
        link(&package, rel, &target);
        assert_refused(
            &package,
            &format!("{rel}: is a link that leaves the package"),
        );
    }
}

#[test]
fn a_broken_or_looping_link_is_refused_naming_the_link() {
    for (rel, target) in [
        ("workspace/gone", "nothing-here"),
        ("workspace/loop", "loop"),
    ] {
        let (_tmp, package) = minimal_copy();
        link(&package, rel, target);
        assert_refused(&package, &format!("{rel}: is a broken link"));
    }
}

#[test]
fn a_link_that_stays_inside_the_package_is_allowed() {
    let (_tmp, package) = minimal_copy();
    link(&package, "workspace/same.yaml", "compose.yaml");
    link(&package, "solution/workspace", "../workspace");
    let problems = misbehaviour(&validate(&package), Some(0));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_scenario_file_that_is_a_pipe_is_refused_without_waiting_for_a_writer() {
    let (_tmp, package) = minimal_copy();
    let file = package.join("scenario.yaml");
    std::fs::remove_file(&file).unwrap();
    let c = std::ffi::CString::new(file.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    assert_refused(
        &package,
        "scenario.yaml: cannot read the scenario file: it is not a regular file",
    );
}

#[test]
fn a_package_with_more_files_than_breakfix_checks_for_links_is_refused() {
    let (_tmp, package) = minimal_copy();
    let many = package.join("workspace").join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..10_000 {
        std::fs::write(many.join(i.to_string()), "").unwrap();
    }
    let run = validate(&package);
    let problems = misbehaviour(&run, Some(SCENARIO_INVALID));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        run.stderr
            .contains("holds more than 10000 files and folders; breakfix checks no more"),
        "{}",
        run.stderr
    );
}
