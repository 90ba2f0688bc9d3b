//! Reading a folder the candidate controls: a workspace, a bound folder, a build context, a
//! submission. Everything under such a folder is untrusted (DESIGN.md, the trust boundary),
//! so one walk serves every reader, and it decides what may be read before anything is:
//!
//! - a link is never followed. It is kept (copied as a link, hashed and packed as its
//!   target's text) when its target is relative, stays inside the root when resolved from
//!   the link's folder, and, when it resolves at all, resolves inside the root; any other
//!   link is refused, and so is a loop of links;
//! - a FIFO, socket or device is refused, with its path, before it is opened;
//! - depth, number of entries and total bytes (from the sizes the walk sees, so a huge
//!   sparse file is refused without reading it) are bounded: [`Limits`];
//! - a folder that contains itself (a bind mount made inside the tree) is a loop, refused.
//!
//! Files are then opened one path component at a time from the root, each with
//! `O_NOFOLLOW`, the last one without blocking (`O_NONBLOCK`), and what was opened is checked
//! again to be a regular file: a folder or file swapped for a link or a FIFO after the walk
//! saw it is refused, never followed or waited on. A read stops at the size the walk saw, so
//! a file that grows in the meantime cannot take a reader past the byte limit.
//!
//! A lenient walk ([`Walk::lenient`]) lists links and special files instead of refusing them
//! and stops at the limits instead of failing, for readers that only describe a folder (the
//! timeline's snapshot, a digest) and must never fail.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use sha2::{Digest, Sha256};

/// The deepest a walk goes below its root.
pub const MAX_DEPTH: usize = 32;
/// The most files, folders and links a walk lists.
pub const MAX_ENTRIES: usize = 100_000;
/// The most bytes of regular files a walk admits: far above any workspace a candidate edits
/// by hand, far below what would exhaust the machine's memory or disk.
pub const MAX_BYTES: u64 = 256 << 20;

/// The most files, folders and links of a build context.
pub const MAX_CONTEXT_ENTRIES: usize = 5_000;

/// How much of a folder a walk admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub depth: usize,
    pub entries: usize,
    pub bytes: u64,
}

impl Limits {
    pub const WORKSPACE: Limits = Limits {
        depth: MAX_DEPTH,
        entries: MAX_ENTRIES,
        bytes: MAX_BYTES,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("`{}` is {kind}; a {scope} may hold only regular files, folders and links that stay inside it", path.display())]
    Special {
        path: PathBuf,
        kind: &'static str,
        scope: &'static str,
    },
    #[error("`{}` is a link to `{}`, which leaves the {scope}; a {scope} may hold only regular files, folders and links that stay inside it", path.display(), target.display())]
    LinkLeaves {
        path: PathBuf,
        target: PathBuf,
        scope: &'static str,
    },
    #[error("`{}` is a link in a loop of links", path.display())]
    LinkLoop { path: PathBuf },
    #[error("`{}` is a folder that contains itself (a loop)", path.display())]
    FolderLoop { path: PathBuf },
    #[error("`{}` is more than {limit} folders deep, the deepest breakfix reads in a {scope}", path.display())]
    TooDeep {
        path: PathBuf,
        limit: usize,
        scope: &'static str,
    },
    #[error("`{}` holds more than {limit} files and folders, the most breakfix reads in a {scope}", path.display())]
    TooMany {
        path: PathBuf,
        limit: usize,
        scope: &'static str,
    },
    #[error("`{}` ({}) takes the {scope} past {}, the most breakfix reads from one", path.display(), size(*len), size(*limit))]
    TooBig {
        path: PathBuf,
        len: u64,
        limit: u64,
        scope: &'static str,
    },
    #[error("`{}` became {now} while breakfix read it", path.display())]
    Changed { path: PathBuf, now: &'static str },
    #[error("read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl TreeError {
    /// The message with its causes, on one line: for a diagnostic that has no room for a
    /// chain of causes.
    pub fn explain(&self) -> String {
        crate::chain::one_line(self)
    }
}

/// `1.5 GiB`, `256 MiB`, `12 KiB`, `300 bytes`.
pub fn size(bytes: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    match bytes {
        b if b >= GIB => format!("{:.1} GiB", b as f64 / GIB as f64),
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= MIB => format!("{:.1} MiB", b as f64 / MIB as f64),
        b if b >= KIB => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

/// What an entry is, as the walk saw it (without following links).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// `mode` holds the permission bits.
    File {
        len: u64,
        mode: u32,
    },
    Link {
        target: PathBuf,
    },
    /// A FIFO, socket or device, named (`a FIFO`); only a lenient walk lists one.
    Special(&'static str),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Relative to where the walk started; empty for that place itself.
    pub rel: PathBuf,
    pub kind: Kind,
}

/// The settings of a walk: what is being read (`workspace`, named in refusals), its limits,
/// folder names left out, and whether it refuses or lists what it does not admit.
#[derive(Clone, Copy, Debug)]
pub struct Walk {
    scope: &'static str,
    limits: Limits,
    skip: &'static [&'static str],
    lenient: bool,
}

impl Walk {
    /// A strict walk of a `scope` (`"workspace"`, `"build context"`) with the workspace limits.
    pub fn new(scope: &'static str) -> Self {
        Walk {
            scope,
            limits: Limits::WORKSPACE,
            skip: &[],
            lenient: false,
        }
    }

    /// A strict walk of a Docker build context, whose files the engine receives in one
    /// message held in memory: at most [`MAX_CONTEXT_ENTRIES`] entries.
    pub fn build_context() -> Self {
        Walk::new("build context").limits(Limits {
            entries: MAX_CONTEXT_ENTRIES,
            ..Limits::WORKSPACE
        })
    }

    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Folders with one of these names are left out, with what they hold.
    pub fn skip(mut self, names: &'static [&'static str]) -> Self {
        self.skip = names;
        self
    }

    /// Lists links and special files instead of refusing them, leaves out what lies past the
    /// depth and entry limits (and says so in [`Tree::incomplete`]) and does not enforce the
    /// byte limit (the caller decides what it reads). A folder it cannot list is left out
    /// too; only an unreadable root is an error.
    pub fn lenient(mut self) -> Self {
        self.lenient = true;
        self
    }

    /// Walks `root` itself.
    pub fn run(&self, root: &Path) -> Result<Tree, TreeError> {
        self.run_from(root, Path::new(""))
    }

    /// Walks `start` (relative to `root`, or an absolute path inside it), judging links
    /// against `root`: a link may point anywhere inside `root`, not only inside `start`.
    pub fn run_from(&self, root: &Path, start: &Path) -> Result<Tree, TreeError> {
        let shown = root.file_name().map(PathBuf::from).unwrap_or_default();
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TreeError::Io { path, source }
        };
        let real_root = root.canonicalize().map_err(io(&shown))?;
        let start = if start.is_absolute() {
            start
                .strip_prefix(root)
                .or_else(|_| start.strip_prefix(&real_root))
                .map_err(|_| TreeError::Io {
                    path: start.to_path_buf(),
                    source: io::Error::new(io::ErrorKind::InvalidInput, "it is outside the root"),
                })?
                .to_path_buf()
        } else {
            start.to_path_buf()
        };
        if !start
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(TreeError::Io {
                path: start,
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a plain relative path"),
            });
        }
        let top = root.join(&start);
        // The root is the caller's choice and may be reached through a link; nothing below it is.
        let meta = if start.as_os_str().is_empty() {
            std::fs::metadata(root)
        } else {
            std::fs::symlink_metadata(&top)
        }
        .map_err(io(&join(&shown, &start)))?;
        let mut w = Walker {
            walk: *self,
            real_root,
            tree: Tree {
                root: root.to_path_buf(),
                shown,
                start,
                scope: self.scope,
                entries: vec![],
                bytes: 0,
                incomplete: false,
            },
            ancestors: HashSet::new(),
            full: false,
        };
        w.visit(PathBuf::new(), meta)?;
        Ok(w.tree)
    }
}

/// Copies a folder tree: folders, regular files and links that stay inside it (copied as
/// links). The tree is walked and judged first: a FIFO, a device, a link leading out or a
/// tree past the limits is refused by name before anything is written.
pub fn copy(from: &Path, to: &Path) -> Result<(), TreeError> {
    walk(from)?.copy_to(to)
}

/// Shorthand for a strict walk of a whole workspace.
pub fn walk(root: &Path) -> Result<Tree, TreeError> {
    Walk::new("workspace").run(root)
}

/// What a walk found, in order: each folder before what it holds, names sorted byte-wise (so
/// the order is that of the sorted relative paths), starting with where the walk started.
#[derive(Debug)]
pub struct Tree {
    root: PathBuf,
    /// The root's own name: paths in errors start with it (`workspace/logs/pipe`).
    shown: PathBuf,
    /// Where the walk started, relative to the root.
    start: PathBuf,
    scope: &'static str,
    pub entries: Vec<Entry>,
    /// Bytes of the regular files listed, as the walk saw them.
    pub bytes: u64,
    /// A lenient walk left something out at its limits.
    pub incomplete: bool,
}

impl Tree {
    /// The entry's path on disk.
    pub fn path(&self, e: &Entry) -> PathBuf {
        join(&join(&self.root, &self.start), &e.rel)
    }

    /// The entry's path as errors show it, from the root's own name.
    pub fn shown(&self, e: &Entry) -> PathBuf {
        join(&join(&self.shown, &self.start), &e.rel)
    }

    /// Opens a regular file of the walk for reading (see the module's notes); the reader
    /// stops at the size the walk saw.
    pub fn open(&self, e: &Entry) -> Result<Content, TreeError> {
        let shown = self.shown(e);
        let Kind::File { len, .. } = e.kind else {
            return Err(TreeError::Io {
                path: shown,
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            });
        };
        let file =
            open_beneath(&self.root, &join(&self.start, &e.rel)).map_err(|source| match source
                .raw_os_error()
            {
                Some(libc::ELOOP) => TreeError::Changed {
                    path: shown.clone(),
                    now: "a link",
                },
                Some(libc::ENXIO) => TreeError::Changed {
                    path: shown.clone(),
                    now: "a socket",
                },
                _ => TreeError::Io {
                    path: shown.clone(),
                    source,
                },
            })?;
        let meta = file.metadata().map_err(|source| TreeError::Io {
            path: shown.clone(),
            source,
        })?;
        if !meta.is_file() {
            return Err(TreeError::Changed {
                path: shown,
                now: describe(&meta.file_type()),
            });
        }
        Ok(Content {
            inner: file.take(len),
            meta,
            shown,
        })
    }

    /// The whole content of a regular file of the walk (at most the size the walk saw).
    pub fn read(&self, e: &Entry) -> Result<Vec<u8>, TreeError> {
        self.load(e).map(|(bytes, _)| bytes)
    }

    /// [`Tree::read`], with the opened file's own metadata.
    pub fn load(&self, e: &Entry) -> Result<(Vec<u8>, Metadata), TreeError> {
        let mut c = self.open(e)?;
        let mut out = Vec::with_capacity(c.inner.limit().min(1 << 20) as usize);
        c.read_to_end(&mut out).map_err(|source| TreeError::Io {
            path: c.shown.clone(),
            source,
        })?;
        Ok((out, c.meta))
    }

    /// Feeds a regular file of the walk to `h` in chunks (at most the size the walk saw).
    pub fn hash(&self, e: &Entry, h: &mut Sha256) -> Result<(), TreeError> {
        let mut c = self.open(e)?;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = c.read(&mut buf).map_err(|source| TreeError::Io {
                path: c.shown.clone(),
                source,
            })?;
            if n == 0 {
                return Ok(());
            }
            h.update(&buf[..n]);
        }
    }

    /// Copies what the walk listed to `to` (created if missing; what it already holds and
    /// the walk does not is kept): folders, regular files with their permission bits (not
    /// set-id bits), links as links. Nothing is written through a link already at `to`: a
    /// link there is replaced.
    pub fn copy_to(&self, to: &Path) -> Result<(), TreeError> {
        for e in &self.entries {
            let dest = join(to, &e.rel);
            let werr = |source| TreeError::Write {
                path: dest.clone(),
                source,
            };
            let existing = std::fs::symlink_metadata(&dest).ok();
            match &e.kind {
                Kind::Dir => match existing {
                    Some(m) if m.is_dir() => {}
                    // The top may be reached through a link: it is the caller's choice.
                    Some(m) if e.rel.as_os_str().is_empty() && m.file_type().is_symlink() => {
                        std::fs::create_dir_all(&dest).map_err(werr)?
                    }
                    Some(_) => {
                        return Err(werr(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "it exists and is not a folder",
                        )));
                    }
                    None if e.rel.as_os_str().is_empty() => {
                        std::fs::create_dir_all(&dest).map_err(werr)?
                    }
                    None => std::fs::create_dir(&dest).map_err(werr)?,
                },
                Kind::File { .. } => {
                    let mut src = self.open(e)?;
                    if existing.is_some_and(|m| m.file_type().is_symlink()) {
                        std::fs::remove_file(&dest).map_err(werr)?;
                    }
                    let mode = src.meta.permissions().mode() & 0o777;
                    let mut out = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(mode)
                        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                        .open(&dest)
                        .map_err(werr)?;
                    let mut buf = vec![0u8; 64 << 10];
                    loop {
                        let n = src.read(&mut buf).map_err(|source| TreeError::Io {
                            path: src.shown.clone(),
                            source,
                        })?;
                        if n == 0 {
                            break;
                        }
                        io::Write::write_all(&mut out, &buf[..n]).map_err(werr)?;
                    }
                    out.set_permissions(std::fs::Permissions::from_mode(mode))
                        .map_err(werr)?;
                }
                Kind::Link { target } => {
                    match existing {
                        Some(m) if m.is_dir() => {
                            return Err(werr(io::Error::new(
                                io::ErrorKind::AlreadyExists,
                                "it exists and is a folder",
                            )));
                        }
                        Some(_) => std::fs::remove_file(&dest).map_err(werr)?,
                        None => {}
                    }
                    std::os::unix::fs::symlink(target, &dest).map_err(werr)?;
                }
                Kind::Special(kind) => {
                    return Err(TreeError::Special {
                        path: self.shown(e),
                        kind,
                        scope: self.scope,
                    });
                }
            }
        }
        Ok(())
    }
}

/// A regular file opened by [`Tree::open`].
pub struct Content {
    inner: io::Take<File>,
    /// The opened file's own metadata (`fstat`).
    pub meta: Metadata,
    shown: PathBuf,
}

impl Read for Content {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

/// Opens one file for reading without blocking on it (a FIFO opens at once, and is then
/// refused) and checks that what was opened is a regular file of at most `max` bytes. The
/// path is followed as given: for a file the caller has already judged (a canonical path
/// inside the workspace), read in place of `metadata` + `File::open`, which a file swapped
/// for a FIFO in between would hang.
pub fn open_regular(path: &Path, max: u64) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {}, not a regular file", describe(&meta.file_type())),
        ));
    }
    if meta.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "it is {}, more than the {} breakfix reads from it",
                size(meta.len()),
                size(max)
            ),
        ));
    }
    Ok(file)
}

/// Writes `bytes` to `path` so a reader sees the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The content of one regular file of at most `max` bytes (see [`open_regular`]).
pub fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path, max)?;
    let mut out = Vec::new();
    file.take(max).read_to_end(&mut out)?;
    Ok(out)
}

struct Walker {
    walk: Walk,
    real_root: PathBuf,
    tree: Tree,
    /// The folders being walked, by device and inode: one seen again is a loop.
    ancestors: HashSet<(u64, u64)>,
    /// A lenient walk reached its entry limit.
    full: bool,
}

impl Walker {
    /// A refusal, or in a lenient walk a note that something was left out.
    fn refuse(&mut self, e: TreeError) -> Result<(), TreeError> {
        if self.walk.lenient {
            self.tree.incomplete = true;
            Ok(())
        } else {
            Err(e)
        }
    }

    fn visit(&mut self, rel: PathBuf, meta: Metadata) -> Result<(), TreeError> {
        if self.full {
            return Ok(());
        }
        let limits = self.walk.limits;
        let scope = self.walk.scope;
        let entry = Entry {
            rel,
            kind: Kind::Dir,
        };
        let shown = self.tree.shown(&entry);
        let rel = entry.rel;
        if rel.components().count() > limits.depth {
            return self.refuse(TreeError::TooDeep {
                path: shown,
                limit: limits.depth,
                scope,
            });
        }
        if self.tree.entries.len() >= limits.entries {
            self.full = true;
            return self.refuse(TreeError::TooMany {
                path: join(&self.tree.shown, &self.tree.start),
                limit: limits.entries,
                scope,
            });
        }
        let ft = meta.file_type();
        if ft.is_dir() {
            let id = (meta.dev(), meta.ino());
            if !self.ancestors.insert(id) {
                return self.refuse(TreeError::FolderLoop { path: shown });
            }
            let path = join(&join(&self.tree.root, &self.tree.start), &rel);
            self.tree.entries.push(Entry {
                rel: rel.clone(),
                kind: Kind::Dir,
            });
            let io = |source| TreeError::Io {
                path: shown.clone(),
                source,
            };
            let room = limits.entries - self.tree.entries.len();
            let mut children: Vec<(OsString, Metadata)> = vec![];
            let listed = std::fs::read_dir(&path).and_then(|rd| {
                for e in rd {
                    let e = e?;
                    // One past the room is enough for the entry limit to refuse.
                    if children.len() > room {
                        break;
                    }
                    match e.metadata() {
                        Ok(m) => children.push((e.file_name(), m)),
                        // Gone since the folder was listed (an editor's temporary file).
                        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                        Err(err) => return Err(err),
                    }
                }
                Ok(())
            });
            if let Err(source) = listed {
                // A folder the walk may not read (made by a container's root user) is left
                // out of a description, and refused by a strict walk.
                if self.walk.lenient {
                    self.tree.incomplete = true;
                } else {
                    return Err(io(source));
                }
            }
            children.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, m) in children {
                if m.is_dir() && self.walk.skip.iter().any(|s| name == **s) {
                    continue;
                }
                self.visit(rel.join(name), m)?;
            }
            self.ancestors.remove(&id);
            return Ok(());
        }
        let kind = if ft.is_file() {
            let len = meta.len();
            self.tree.bytes = self.tree.bytes.saturating_add(len);
            if !self.walk.lenient && self.tree.bytes > limits.bytes {
                return Err(TreeError::TooBig {
                    path: shown,
                    len,
                    limit: limits.bytes,
                    scope,
                });
            }
            Kind::File {
                len,
                mode: meta.permissions().mode() & 0o7777,
            }
        } else if ft.is_symlink() {
            let path = join(&join(&self.tree.root, &self.tree.start), &rel);
            let target = std::fs::read_link(&path).map_err(|source| TreeError::Io {
                path: shown.clone(),
                source,
            })?;
            if !self.walk.lenient {
                self.check_link(&rel, &path, &target, shown)?;
            }
            Kind::Link { target }
        } else {
            let kind = describe(&ft);
            if !self.walk.lenient {
                return Err(TreeError::Special {
                    path: shown,
                    kind,
                    scope,
                });
            }
            Kind::Special(kind)
        };
        self.tree.entries.push(Entry { rel, kind });
        Ok(())
    }

    /// A link is kept only when it stays inside the root: relative, not climbing above the
    /// root from its folder, and resolving (if it resolves at all) inside the root. The last
    /// test catches links whose `..` climbs out of a folder another link led into.
    fn check_link(
        &self,
        rel: &Path,
        path: &Path,
        target: &Path,
        shown: PathBuf,
    ) -> Result<(), TreeError> {
        let leaves = |shown: PathBuf| TreeError::LinkLeaves {
            path: shown,
            target: target.to_path_buf(),
            scope: self.walk.scope,
        };
        let from_root = join(&self.tree.start, rel);
        let mut depth = from_root.components().count().saturating_sub(1);
        for c in target.components() {
            match c {
                Component::Normal(_) => depth += 1,
                Component::CurDir => {}
                Component::ParentDir if depth > 0 => depth -= 1,
                _ => return Err(leaves(shown)),
            }
        }
        match path.canonicalize() {
            Ok(real) if !real.starts_with(&self.real_root) => Err(leaves(shown)),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                Err(TreeError::LinkLoop { path: shown })
            }
            // Inside, or dangling: nothing reads through it.
            _ => Ok(()),
        }
    }
}

/// `base` joined with `rel`, without a trailing separator when `rel` is empty.
fn join(base: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    }
}

fn describe(ft: &std::fs::FileType) -> &'static str {
    if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_symlink() {
        "a link"
    } else if ft.is_dir() {
        "a folder"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "a file of an unknown kind"
    }
}

/// Opens `rel` below `root` one component at a time, never following a link: every folder
/// with `O_NOFOLLOW | O_DIRECTORY`, the file with `O_NOFOLLOW | O_NONBLOCK`.
fn open_beneath(root: &Path, rel: &Path) -> io::Result<File> {
    let names: Vec<&std::ffi::OsStr> = rel
        .components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a plain relative path",
            )),
        })
        .collect::<io::Result<_>>()?;
    let file_flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let Some((last, folders)) = names.split_last() else {
        return Ok(File::from(rustix::fs::open(
            root,
            file_flags,
            Mode::empty(),
        )?));
    };
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir = rustix::fs::open(root, dir_flags, Mode::empty())?;
    for name in folders {
        dir = rustix::fs::openat(&dir, *name, dir_flags | OFlags::NOFOLLOW, Mode::empty())?;
    }
    Ok(File::from(rustix::fs::openat(
        &dir,
        *last,
        file_flags | OFlags::NOFOLLOW,
        Mode::empty(),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Runs `f` on a thread and fails the test if it takes more than five seconds: a walk
    /// that blocks on a FIFO must fail the test, not hang it.
    fn promptly<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(5))
            .expect("the walk blocked instead of refusing")
    }

    fn mkfifo(path: &Path) {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
    }

    fn err(root: &Path) -> String {
        let root = root.to_path_buf();
        promptly(move || walk(&root).map(|_| ()).unwrap_err().to_string())
    }

    #[test]
    fn a_fifo_is_refused_by_name_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        write(&ws, "logs/app.log", "ok\n");
        mkfifo(&ws.join("logs/pipe"));
        assert_eq!(
            err(&ws),
            "`ws/logs/pipe` is a FIFO; a workspace may hold only regular files, folders and links that stay inside it"
        );
    }

    #[test]
    fn a_socket_is_refused_by_name() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        std::fs::create_dir(&ws).unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(ws.join("sock")).unwrap();
        assert!(err(&ws).starts_with("`ws/sock` is a socket;"));
    }

    #[test]
    fn a_link_to_dev_zero_is_refused_without_reading_it() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        std::fs::create_dir(&ws).unwrap();
        std::os::unix::fs::symlink("/dev/zero", ws.join("zero")).unwrap();
        assert!(
            err(&ws).starts_with("`ws/zero` is a link to `/dev/zero`, which leaves the workspace"),
            "{}",
            err(&ws)
        );
    }

    #[test]
    fn a_link_that_climbs_out_of_the_root_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        write(&ws, "conf/app.conf", "x\n");
        write(d.path(), "secret", "s3cr3t\n");
        std::os::unix::fs::symlink("../../secret", ws.join("conf/s")).unwrap();
        assert!(err(&ws).starts_with("`ws/conf/s` is a link to `../../secret`, which leaves"));
        // Climbing out through another link that leads back to the root is caught too.
        let ws2 = d.path().join("ws2");
        std::fs::create_dir(&ws2).unwrap();
        std::os::unix::fs::symlink(".", ws2.join("here")).unwrap();
        std::os::unix::fs::symlink("here/../secret", ws2.join("out")).unwrap();
        assert!(err(&ws2).starts_with("`ws2/out` is a link to `here/../secret`, which leaves"));
    }

    #[test]
    fn a_loop_of_links_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        std::fs::create_dir(&ws).unwrap();
        std::os::unix::fs::symlink("b", ws.join("a")).unwrap();
        std::os::unix::fs::symlink("a", ws.join("b")).unwrap();
        assert_eq!(err(&ws), "`ws/a` is a link in a loop of links");
    }

    #[test]
    fn a_link_that_stays_inside_is_kept_as_a_link_and_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        write(&ws, "conf/app.conf", "x\n");
        // A link to its own folder: following it would walk forever.
        std::os::unix::fs::symlink("..", ws.join("conf/up")).unwrap();
        std::os::unix::fs::symlink("conf/app.conf", ws.join("current")).unwrap();
        let t = walk(&ws).unwrap();
        let rels: Vec<_> = t.entries.iter().map(|e| e.rel.clone()).collect();
        assert_eq!(
            rels,
            ["", "conf", "conf/app.conf", "conf/up", "current"]
                .map(PathBuf::from)
                .to_vec()
        );
        assert_eq!(
            t.entries[3].kind,
            Kind::Link {
                target: "..".into()
            }
        );
    }

    #[test]
    fn a_tree_deeper_than_the_limit_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        let deep: PathBuf = (0..MAX_DEPTH + 1).map(|i| format!("d{i}")).collect();
        std::fs::create_dir_all(ws.join(&deep)).unwrap();
        let e = err(&ws);
        assert!(
            e.ends_with("is more than 32 folders deep, the deepest breakfix reads in a workspace"),
            "{e}"
        );
        // At the limit it is read.
        std::fs::remove_dir(ws.join(&deep)).unwrap();
        assert!(walk(&ws).is_ok());
    }

    #[test]
    fn more_entries_than_the_limit_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        for i in 0..10 {
            write(&ws, &format!("f{i}"), "x");
        }
        let limits = Limits {
            entries: 10,
            ..Limits::WORKSPACE
        };
        let e = Walk::new("workspace")
            .limits(limits)
            .run(&ws)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "`ws` holds more than 10 files and folders, the most breakfix reads in a workspace"
        );
        let t = Walk::new("workspace")
            .limits(limits)
            .lenient()
            .run(&ws)
            .unwrap();
        assert!(t.incomplete);
        assert_eq!(t.entries.len(), 10);
    }

    #[test]
    fn a_huge_sparse_file_is_refused_by_its_size_without_being_read() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        write(&ws, "small", "x");
        let f = File::create(ws.join("huge")).unwrap();
        f.set_len(8 << 30).unwrap();
        let clock = Instant::now();
        let e = err(&ws);
        assert!(clock.elapsed() < Duration::from_secs(1));
        assert_eq!(
            e,
            "`ws/huge` (8.0 GiB) takes the workspace past 256 MiB, the most breakfix reads from one"
        );
    }

    #[test]
    fn a_file_swapped_for_a_fifo_after_the_walk_is_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        write(&ws, "conf/app.conf", "x\n");
        let t = walk(&ws).unwrap();
        std::fs::remove_file(ws.join("conf/app.conf")).unwrap();
        mkfifo(&ws.join("conf/app.conf"));
        let e = promptly(move || t.read(&t.entries[2]).unwrap_err().to_string());
        assert_eq!(e, "`ws/conf/app.conf` became a FIFO while breakfix read it");
    }

    #[test]
    fn a_folder_swapped_for_a_link_after_the_walk_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        write(&ws, "conf/passwd", "mine\n");
        write(d.path(), "etc/passwd", "the host's\n");
        let t = walk(&ws).unwrap();
        std::fs::remove_dir_all(ws.join("conf")).unwrap();
        std::os::unix::fs::symlink(d.path().join("etc"), ws.join("conf")).unwrap();
        let e = t.read(&t.entries[2]).unwrap_err();
        assert!(matches!(e, TreeError::Io { .. }), "{e}");
    }

    #[test]
    fn open_regular_refuses_a_fifo_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pipe");
        mkfifo(&p);
        let e = promptly(move || read_regular(&p, 100).unwrap_err().to_string());
        assert_eq!(e, "it is a FIFO, not a regular file");
    }

    #[test]
    fn a_regular_tree_is_copied_whole_with_its_modes_and_inner_links() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        write(&ws, "compose.yaml", "services: {}\n");
        write(&ws, "bin/run.sh", "#!/bin/sh\n");
        std::fs::set_permissions(
            ws.join("bin/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::create_dir(ws.join("empty")).unwrap();
        std::os::unix::fs::symlink("bin/run.sh", ws.join("run")).unwrap();
        let to = d.path().join("copy");
        walk(&ws).unwrap().copy_to(&to).unwrap();
        assert_eq!(
            std::fs::read_to_string(to.join("compose.yaml")).unwrap(),
            "services: {}\n"
        );
        let mode = std::fs::metadata(to.join("bin/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(to.join("empty").is_dir());
        assert_eq!(
            std::fs::read_link(to.join("run")).unwrap(),
            PathBuf::from("bin/run.sh")
        );
        // Copying again over the copy changes nothing, and never writes through a link.
        write(d.path(), "outside", "untouched");
        std::fs::remove_file(to.join("compose.yaml")).unwrap();
        std::os::unix::fs::symlink(d.path().join("outside"), to.join("compose.yaml")).unwrap();
        walk(&ws).unwrap().copy_to(&to).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("outside")).unwrap(),
            "untouched"
        );
        assert_eq!(
            std::fs::read_to_string(to.join("compose.yaml")).unwrap(),
            "services: {}\n"
        );
    }

    #[test]
    fn a_walk_from_a_folder_judges_links_against_the_root() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        write(&ws, "nginx/conf.d/shop.conf", "x\n");
        write(&ws, "shared/common.conf", "y\n");
        std::os::unix::fs::symlink("../../shared/common.conf", ws.join("nginx/conf.d/common"))
            .unwrap();
        let t = Walk::new("workspace")
            .run_from(&ws, Path::new("nginx/conf.d"))
            .unwrap();
        let rels: Vec<_> = t.entries.iter().map(|e| e.rel.clone()).collect();
        assert_eq!(
            rels,
            ["", "common", "shop.conf"].map(PathBuf::from).to_vec()
        );
        assert_eq!(t.path(&t.entries[2]), ws.join("nginx/conf.d/shop.conf"));
        assert_eq!(t.read(&t.entries[2]).unwrap(), b"x\n");
        mkfifo(&ws.join("nginx/conf.d/pipe"));
        let e = Walk::new("workspace")
            .run_from(&ws, &ws.join("nginx/conf.d"))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("`ws/nginx/conf.d/pipe` is a FIFO")
        );
    }

    #[test]
    fn a_lenient_walk_lists_what_a_strict_one_refuses() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        write(&ws, ".git/HEAD", "ref\n");
        write(&ws, "a", "x");
        mkfifo(&ws.join("pipe"));
        std::os::unix::fs::symlink("/dev/zero", ws.join("zero")).unwrap();
        let t = promptly(move || {
            Walk::new("workspace")
                .lenient()
                .skip(&[".git"])
                .run(&ws)
                .unwrap()
        });
        let rels: Vec<_> = t.entries.iter().map(|e| e.rel.clone()).collect();
        assert_eq!(rels, ["", "a", "pipe", "zero"].map(PathBuf::from).to_vec());
        assert!(matches!(t.entries[1].kind, Kind::File { len: 1, .. }));
        assert_eq!(t.entries[2].kind, Kind::Special("a FIFO"));
        assert_eq!(
            t.entries[3].kind,
            Kind::Link {
                target: "/dev/zero".into()
            }
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(256 << 20), "256 MiB");
        assert_eq!(size(3 << 29), "1.5 GiB");
        assert_eq!(size(2048), "2 KiB");
        assert_eq!(size(12), "12 bytes");
    }
}
