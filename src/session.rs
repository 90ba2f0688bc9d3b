//! Sessions persisted in a state directory, so `start`, `hint`, `check`, `grade` and `stop`
//! are separate invocations and a crash loses nothing. Every write is atomic (a temporary
//! file renamed over the old one); commands that change a session hold its lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::scenario::BackendKind;
use crate::timeline::{CommandRun, Note, Observation};

pub const FORMAT_VERSION: u32 = 1;
/// How long a candidate's link stays open after the session's time limit.
pub const LINK_GRACE: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("create the state directory {}", path.display())]
    CreateStateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("find session `{id}` in {}; `breakfix list` shows the sessions there", dir.display())]
    NotFound { id: String, dir: PathBuf },
    #[error("pick a session: `{id}` matches {} sessions ({})", matches.len(), matches.join(", "))]
    Ambiguous { id: String, matches: Vec<String> },
    #[error("read session file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read session file {}: it is corrupted (move it aside, then run `breakfix gc` to remove what the session left running)", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lock session `{id}`: another breakfix command is working on it (waited {}s)", waited.as_secs())]
    Busy { id: String, waited: Duration },
}

type Result<T> = std::result::Result<T, SessionError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// `start` is building and deploying (or was killed while doing so).
    Provisioning,
    /// The sandbox is up and broken; the clock runs.
    Ready,
    /// Torn down; the record and reports stay.
    Stopped,
    /// Provisioning failed or was interrupted; what it created was torn down (or `gc` will).
    Failed,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Provisioning => "provisioning",
            Status::Ready => "ready",
            Status::Stopped => "stopped",
            Status::Failed => "failed",
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HintTaken {
    /// 1-based position in the scenario's hint list.
    pub number: usize,
    #[serde(with = "time::serde::rfc3339")]
    pub taken_at: OffsetDateTime,
    pub cost: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Event {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub kind: EventKind,
    pub detail: String,
}

/// What happened, in a session's record and in a report's timeline (as its kebab-case name:
/// `workspace-changed`, `check-passed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// The session was created and its sandbox is being provisioned.
    Created,
    /// The broken state was reached (or a submission deployed): the clock starts.
    Ready,
    /// A take-home submission replaced the workspace as issued.
    Submission,
    /// A fault step of the scenario could not be applied.
    FaultFailed,
    /// Provisioning failed, or the session was abandoned while provisioning.
    Failed,
    /// The workspace was refused (above the ceiling, invalid) before anything changed.
    ApplyRejected,
    ApplyFailed,
    Applied,
    Hint,
    Graded,
    /// A recorded shell was opened or closed.
    Shell,
    Reset,
    Stopped,
    WorkspaceChanged,
    /// The candidate's use of the sandbox through breakfix (`ps`, `logs`, `inspect`, `exec`).
    Ps,
    Logs,
    Inspect,
    ExecFailed,
    /// A call through the session's Docker endpoint (`docker restart web`).
    Docker,
    /// An integrity signal from the candidate's browser terminal: pasted input, input faster
    /// than typing, the page losing or regaining focus. A signal, never a verdict.
    Signal,
    /// Pairing at the browser terminal: an interviewer took the keyboard or gave it back.
    Pairing,
    // Only in a report's timeline, merged from the rest of the record.
    CheckPassed,
    CheckFailed,
    Command,
    Note,
    /// A kind this version does not know (a record written by a newer breakfix).
    #[serde(other)]
    Other,
}

impl EventKind {
    /// The kebab-case name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Ready => "ready",
            EventKind::Submission => "submission",
            EventKind::FaultFailed => "fault-failed",
            EventKind::Failed => "failed",
            EventKind::ApplyRejected => "apply-rejected",
            EventKind::ApplyFailed => "apply-failed",
            EventKind::Applied => "applied",
            EventKind::Hint => "hint",
            EventKind::Graded => "graded",
            EventKind::Shell => "shell",
            EventKind::Reset => "reset",
            EventKind::Stopped => "stopped",
            EventKind::WorkspaceChanged => "workspace-changed",
            EventKind::Ps => "ps",
            EventKind::Logs => "logs",
            EventKind::Inspect => "inspect",
            EventKind::ExecFailed => "exec-failed",
            EventKind::Docker => "docker",
            EventKind::Signal => "signal",
            EventKind::Pairing => "pairing",
            EventKind::CheckPassed => "check-passed",
            EventKind::CheckFailed => "check-failed",
            EventKind::Command => "command",
            EventKind::Note => "note",
            EventKind::Other => "other",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Session {
    pub format_version: u32,
    pub id: String,
    pub scenario: String,
    /// The scenario package folder the session was started from.
    pub package: PathBuf,
    pub candidate: Option<String>,
    pub backend: BackendKind,
    /// The kubeconfig context the session runs in (kube backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The OCI runtime candidate containers run under (`runsc`), when not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// The candidate's namespace-scoped kubeconfig and their namespace (kube backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Where the candidate's workstation runs (its container), when the backend has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workstation: Option<String>,
    /// The secret in the candidate's link to the workstation's terminal (`breakfix serve`):
    /// it opens this session's candidate page and terminal only, while the session is live
    /// and until its time limit plus [`LINK_GRACE`] have passed since the clock started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_token: Option<String>,
    pub status: Status,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the sandbox was ready (broken): the clock starts here.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ready_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub stopped_at: Option<OffsetDateTime>,
    pub time_limit_secs: u64,
    /// The folder the candidate edits.
    pub workspace: PathBuf,
    /// The process that provisioned the session (to tell a crashed `start` from a live one).
    pub pid: u32,
    #[serde(default)]
    pub hints: Vec<HintTaken>,
    #[serde(default)]
    pub events: Vec<Event>,
    /// Each check's status whenever a round saw it change (the timeline's source).
    #[serde(default)]
    pub observations: Vec<Observation>,
    /// The interviewer's notes and marks.
    #[serde(default)]
    pub notes: Vec<Note>,
    /// Commands the candidate ran in recorded shells.
    #[serde(default)]
    pub commands: Vec<CommandRun>,
    /// The workspace's files as last seen (path → digest), to tell when the candidate changed it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workspace_files: BTreeMap<String, String>,
    /// A take-home submission graded in this session (`grade --submission`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission: Option<crate::session::SubmissionInfo>,
}

impl Session {
    pub fn record(&mut self, kind: EventKind, detail: impl Into<String>) {
        self.events.push(Event {
            at: OffsetDateTime::now_utc(),
            kind,
            detail: detail.into(),
        });
    }

    /// Records a workspace change since the last look; true when the record changed (a
    /// change, or the first look of a session recorded before files were tracked).
    pub fn note_workspace(&mut self) -> bool {
        let now = crate::timeline::snapshot(&self.workspace);
        // A session recorded before files were tracked has no baseline to compare with.
        let first = self.workspace_files.is_empty() && !now.is_empty();
        let change = (!self.workspace_files.is_empty())
            .then(|| crate::timeline::describe_change(&self.workspace_files, &now))
            .flatten();
        self.workspace_files = now;
        match change {
            Some(what) => {
                self.record(EventKind::WorkspaceChanged, what);
                true
            }
            None => first,
        }
    }

    /// Time since the clock started, up to the stop (or now).
    pub fn elapsed(&self) -> Option<Duration> {
        let start = self.ready_at?;
        let end = self.stopped_at.unwrap_or_else(OffsetDateTime::now_utc);
        Some((end - start).try_into().unwrap_or_default())
    }

    /// Whether `token` is this session's candidate link, still open at `now`.
    pub fn candidate_link_open(&self, token: &str, now: OffsetDateTime) -> bool {
        let Some(want) = &self.candidate_token else {
            return false;
        };
        // Compared in full whatever the first difference, so timing tells nothing.
        let same = want.len() == token.len()
            && want
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        let until = self
            .ready_at
            .map(|t| t + Duration::from_secs(self.time_limit_secs) + LINK_GRACE);
        same && self.status == Status::Ready && until.is_some_and(|u| now < u)
    }

    pub fn is_live(&self) -> bool {
        matches!(self.status, Status::Ready | Status::Provisioning)
    }

    /// A `start` that was killed leaves `provisioning` behind with a dead process.
    pub fn is_abandoned(&self) -> bool {
        self.status == Status::Provisioning && !process_alive(self.pid)
    }
}

fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // A zombie (`Z`) has exited; only its parent has not collected it yet.
    match stat.rsplit_once(')') {
        Some((_, rest)) => !rest.trim_start().starts_with('Z'),
        None => false,
    }
}

/// The state directory.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// Holds a session's lock until dropped.
pub struct Lock {
    _file: std::fs::File,
}

impl Store {
    /// The default state directory: `$BREAKFIX_STATE_DIR`, else the user's data directory.
    pub fn default_dir() -> PathBuf {
        dirs::data_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("breakfix")
    }

    pub fn open(root: &Path) -> Result<Store> {
        let sessions = root.join("sessions");
        std::fs::create_dir_all(&sessions).map_err(|source| SessionError::CreateStateDir {
            path: root.to_path_buf(),
            source,
        })?;
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A short id of this state directory, carried by every object its sessions create.
    pub fn id(&self) -> String {
        use sha2::Digest;
        let path = self
            .root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone());
        let digest = sha2::Sha256::digest(path.as_os_str().as_encoded_bytes());
        hex::encode(&digest[..6])
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join("sessions").join(id)
    }

    fn file(&self, id: &str) -> PathBuf {
        self.dir(id).join("session.json")
    }

    /// Every session id in the store.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.root.join("sessions"))
            .map(|rd| {
                rd.filter_map(std::result::Result::ok)
                    .filter(|e| e.path().join("session.json").is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// Resolves a full id or a unique prefix of one.
    pub fn resolve(&self, id: &str) -> Result<String> {
        let ids = self.ids();
        if ids.iter().any(|i| i == id) {
            return Ok(id.to_string());
        }
        let matches: Vec<String> = ids.into_iter().filter(|i| i.starts_with(id)).collect();
        match matches.len() {
            1 => Ok(matches.into_iter().next().unwrap_or_default()),
            0 => Err(SessionError::NotFound {
                id: id.to_string(),
                dir: self.root.clone(),
            }),
            _ => Err(SessionError::Ambiguous {
                id: id.to_string(),
                matches,
            }),
        }
    }

    pub fn load(&self, id: &str) -> Result<Session> {
        let path = self.file(id);
        let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => SessionError::NotFound {
                id: id.to_string(),
                dir: self.root.clone(),
            },
            _ => SessionError::Read {
                path: path.clone(),
                source,
            },
        })?;
        serde_json::from_slice(&bytes).map_err(|source| SessionError::Corrupt { path, source })
    }

    pub fn save(&self, s: &Session) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(s).unwrap_or_default();
        write_atomic(&self.file(&s.id), &bytes)
    }

    /// Takes the session's lock, waiting up to `wait` for another command to release it.
    pub fn lock(&self, id: &str, wait: Duration) -> Result<Lock> {
        let path = self.dir(id).join("lock");
        let write_err = |source| SessionError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(self.dir(id)).map_err(write_err)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(write_err)?;
        let started = Instant::now();
        loop {
            match fs4::fs_std::FileExt::try_lock_exclusive(&file) {
                Ok(true) => return Ok(Lock { _file: file }),
                Ok(false) => {}
                Err(e) => return Err(write_err(e)),
            }
            if started.elapsed() >= wait {
                return Err(SessionError::Busy {
                    id: id.to_string(),
                    waited: wait,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Writes `bytes` to `path` so a reader sees the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::tree::write_atomic(path, bytes).map_err(|source| SessionError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// A new session id: the scenario id and six random characters.
/// A secret for a link: 24 random bytes, hex.
pub fn new_secret() -> String {
    use rand::Rng;
    let bytes: [u8; 24] = rand::rng().random();
    hex::encode(bytes)
}

pub fn new_id(scenario: &str) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let suffix: String = (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    let prefix: String = scenario.chars().take(24).collect();
    format!("{}-{suffix}", prefix.trim_end_matches('-'))
}

// What a graded submission was (a take-home handed in): a fact of the session record,
// shown in its report.

/// What kind of thing was submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubmissionKind {
    Folder,
    Tarball,
    GitBundle,
}

impl std::fmt::Display for SubmissionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SubmissionKind::Folder => "folder",
            SubmissionKind::Tarball => "tarball",
            SubmissionKind::GitBundle => "git bundle",
        })
    }
}

/// How one file of the submission differs from the workspace as issued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Added,
    Removed,
    Changed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FileChange {
    pub path: String,
    pub change: Change,
    /// A unified diff for text files (cut when long); none for binary files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// What a graded submission was: carried by its session and shown in its report.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SubmissionInfo {
    /// The file or folder graded (as given).
    pub source: String,
    pub kind: SubmissionKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_home: Option<String>,
    /// Who the take-home was issued to, by the interviewer's record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_to: Option<String>,
    /// The submission against the workspace as issued.
    pub changes: Vec<FileChange>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_are_stored_by_their_kebab_case_names_and_unknown_ones_still_load() {
        for kind in [
            EventKind::WorkspaceChanged,
            EventKind::ApplyRejected,
            EventKind::CheckPassed,
            EventKind::ExecFailed,
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<EventKind>(&json).unwrap(), kind);
        }
        let e: Event = serde_json::from_str(
            r#"{"at": "2026-12-01T10:00:00Z", "kind": "something-new", "detail": "d"}"#,
        )
        .unwrap();
        assert_eq!(e.kind, EventKind::Other);
    }

    fn sample(id: &str) -> Session {
        Session {
            format_version: FORMAT_VERSION,
            id: id.into(),
            scenario: "s".into(),
            package: "/p".into(),
            candidate: None,
            backend: BackendKind::Docker,
            context: None,
            runtime: None,
            kubeconfig: None,
            namespace: None,
            workstation: None,
            candidate_token: None,
            status: Status::Ready,
            created_at: OffsetDateTime::now_utc(),
            ready_at: None,
            stopped_at: None,
            time_limit_secs: 60,
            workspace: "/w".into(),
            pid: std::process::id(),
            hints: vec![],
            events: vec![],
            observations: vec![],
            notes: vec![],
            commands: vec![],
            workspace_files: Default::default(),
            submission: None,
        }
    }

    #[test]
    fn a_saved_session_loads_back_and_resolves_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.save(&sample("crash-abc123")).unwrap();
        assert_eq!(store.resolve("crash-a").unwrap(), "crash-abc123");
        assert_eq!(store.load("crash-abc123").unwrap().scenario, "s");
    }

    #[test]
    fn a_corrupted_session_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        std::fs::create_dir_all(store.dir("x")).unwrap();
        std::fs::write(store.dir("x").join("session.json"), b"{ not json").unwrap();
        let e = store.load("x").unwrap_err();
        assert!(e.to_string().contains("corrupted"), "{e}");
    }

    #[test]
    fn a_second_lock_on_a_session_waits_then_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let _held = store.lock("x", Duration::ZERO).unwrap();
        let e = store.lock("x", Duration::from_millis(200)).err().unwrap();
        assert!(matches!(e, SessionError::Busy { .. }));
    }

    #[test]
    fn session_ids_are_docker_safe_and_distinct() {
        let a = new_id("crashloop-docker");
        assert!(a.starts_with("crashloop-docker-"));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert_ne!(a, new_id("crashloop-docker"));
    }
}
