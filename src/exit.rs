//! Exit codes, in one place so `--help`, the README and scripts agree.

/// Everything asked for succeeded (for `grade`, `check` and `verify`: every check passed).
pub const OK: i32 = 0;
/// An operational error not covered by a more specific code (I/O, a failed build, a bad session id).
pub const FAILURE: i32 = 1;
/// The command line could not be parsed (clap's own code).
pub const USAGE: i32 = 2;
/// The checks ran and at least one did not pass (or `verify` found the scenario unproven).
pub const CHECKS_FAILED: i32 = 3;
/// A scenario package (or a candidate's compose file) is invalid, or asks for more than the
/// scenario's ceiling allows.
pub const SCENARIO_INVALID: i32 = 4;
/// The backend (the Docker engine) cannot be reached.
pub const BACKEND_UNREACHABLE: i32 = 5;
/// At least one check could not run (error, not failure); the grade is incomplete.
pub const CHECKS_ERRORED: i32 = 6;
/// Another breakfix command holds the session.
pub const SESSION_BUSY: i32 = 7;
/// `report verify`: the report was changed since breakfix wrote it, is not sealed, or is not
/// signed by the key given.
pub const TAMPERED: i32 = 8;
/// Interrupted by Ctrl-C; what the invocation created was torn down.
pub const INTERRUPTED: i32 = 130;

/// The table printed under `--help` and copied into the README.
pub const TABLE: &str = "\
Exit codes:
  0    success; for check, grade and verify: every check passed
  1    operational error (I/O, image build, unknown session)
  2    invalid command line
  3    checks ran and at least one failed (verify: scenario not proven)
  4    scenario package or workspace is invalid, or above the scenario's ceiling
  5    the backend (Docker engine) is unreachable
  6    at least one check could not run; the grade is incomplete
  7    the session is busy with another breakfix command
  8    report verify: the report was changed, is not sealed, or is not signed by the key given
  130  interrupted; what this invocation created was torn down
  exec exits with its command's exit code once the command ran";
