//! A candidate's workspace is read without trusting it: `apply` on a live session whose
//! workspace holds a FIFO or a link leading out answers promptly, naming the file, instead of
//! hanging or reading without bound. Real Docker engine, real binary.

mod common;

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Runs breakfix, killing it and failing the test if it has not finished within `limit`.
fn run_within(env: &Env, args: &[&str], limit: Duration) -> Output {
    let mut child = env
        .cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run breakfix");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait for breakfix").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect breakfix's output");
            panic!(
                "breakfix {} was still running after {limit:?}\n--- stderr\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().expect("collect breakfix's output")
}

fn start(env: &Env, args: &[&str]) -> (String, PathBuf) {
    let v = env.json(args, EXIT_OK);
    let id = v["session"].as_str().expect("session id").to_string();
    let ws = PathBuf::from(v["workspace"].as_str().expect("workspace"));
    (id, ws)
}

fn mkfifo(path: &std::path::Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
}

#[test]
fn apply_with_a_fifo_in_a_bound_folder_fails_promptly_naming_it() {
    let env = Env::new();
    let (id, ws) = start(
        &env,
        &[
            "start",
            "crashloop-docker",
            "--seed",
            CLASSIC_SEED,
            "--json",
        ],
    );
    // The candidate binds the whole folder, which has gained a FIFO.
    let compose = ws.join("compose.yaml");
    let text = std::fs::read_to_string(&compose).unwrap();
    let bound = text.replace(
        "./nginx/conf.d/shop.conf:/etc/nginx/conf.d/shop.conf:ro",
        "./nginx/conf.d:/etc/nginx/conf.d:ro",
    );
    assert_ne!(text, bound, "the compose file no longer binds shop.conf");
    std::fs::write(&compose, bound).unwrap();
    mkfifo(&ws.join("nginx/conf.d/pipe"));

    let out = run_within(&env, &["apply", &id], Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_SCENARIO_INVALID), "{err}");
    assert!(
        err.contains("`workspace/nginx/conf.d/pipe` is a FIFO; a workspace may hold only regular files, folders and links that stay inside it"),
        "{err}"
    );
    assert!(
        err.contains("compose.yaml:"),
        "the compose line is named: {err}"
    );
    env.expect(&["stop", &id], EXIT_OK);
}

#[test]
fn apply_with_a_link_to_dev_zero_in_a_build_context_fails_promptly_naming_it() {
    let env = Env::new();
    let (id, ws) = start(&env, &["start", "harden-image", "--json"]);
    std::os::unix::fs::symlink("/dev/zero", ws.join("ratecalc/zero")).unwrap();

    let out = run_within(&env, &["apply", &id], Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_SCENARIO_INVALID), "{err}");
    assert!(
        err.contains("`ratecalc/zero` is a link to `/dev/zero`, which leaves the build context"),
        "{err}"
    );
    env.expect(&["stop", &id], EXIT_OK);
}
