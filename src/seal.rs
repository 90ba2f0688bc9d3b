//! Tamper-evident reports: every JSON report breakfix writes carries an `integrity` member, a
//! SHA-256 digest over the rest of the report in a canonical form (object keys sorted, no
//! whitespace), and an Ed25519 signature of that digest when the interviewer holds a signing
//! key. `breakfix report verify` recomputes both.
//!
//! A digest alone shows the file was not changed by accident or by someone who did not
//! bother to recompute it; anyone can recompute a digest. A signature shows the report came
//! from the holder of the key and was not changed since.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The member a sealed report carries.
pub const MEMBER: &str = "integrity";
/// The signing key breakfix uses when `BREAKFIX_SIGNING_KEY` is not set, in the state dir.
pub const DEFAULT_KEY: &str = "keys/report-signing.key";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read {}: it is not JSON ({detail})", path.display())]
    NotJson { path: PathBuf, detail: String },
    #[error("read key {}: {why}", path.display())]
    BadKey { path: PathBuf, why: String },
    #[error("write key {}", path.display())]
    WriteKey {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write key {}: the file exists; breakfix never overwrites a key", path.display())]
    KeyExists { path: PathBuf },
}

/// The canonical bytes of a JSON value: keys sorted at every level, no whitespace.
fn canonical(v: &Value) -> Vec<u8> {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // serde_json writes object members in the map's order; with keys inserted sorted, the
    // output is sorted whichever map type serde_json was built with.
    serde_json::to_vec(&sorted(v)).unwrap_or_default()
}

fn digest_of(report: &Value) -> [u8; 32] {
    let mut content = report.clone();
    if let Value::Object(m) = &mut content {
        m.remove(MEMBER);
    }
    Sha256::digest(canonical(&content)).into()
}

/// Adds (or replaces) the `integrity` member: the digest, and a signature with `key`.
pub fn seal(mut report: Value, key: Option<&SigningKey>) -> Value {
    let digest = digest_of(&report);
    let mut integrity = json!({
        "algorithm": "sha256",
        "canonical-form": "JSON, object keys sorted, no whitespace, without this member",
        "digest": hex::encode(digest),
    });
    if let Some(k) = key {
        let sig = k.sign(&digest);
        integrity["signature"] = json!({
            "algorithm": "ed25519",
            "public-key": hex::encode(k.verifying_key().to_bytes()),
            "value": hex::encode(sig.to_bytes()),
        });
    }
    if let Value::Object(m) = &mut report {
        m.insert(MEMBER.into(), integrity);
    }
    report
}

/// Renders a serialisable report as sealed, pretty JSON with a final newline.
pub fn sealed_json<T: serde::Serialize>(report: &T, key: Option<&SigningKey>) -> String {
    let v = serde_json::to_value(report).unwrap_or(Value::Null);
    let mut s = serde_json::to_string_pretty(&seal(v, key)).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// What a sealed report's signature says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureVerdict {
    Absent,
    /// Valid, by the key with this public key (hex); `trusted` when it is the key expected.
    Valid {
        public_key: String,
        trusted: Option<bool>,
    },
    Invalid {
        public_key: String,
    },
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The report carries no `integrity` member.
    NotSealed,
    Sealed {
        /// The digest the report carries, and the one its content has now.
        carried: String,
        actual: String,
        signature: SignatureVerdict,
    },
}

impl Verdict {
    /// True when the content is unchanged and, if a key was expected, signed by it.
    pub fn is_trustworthy(&self, expected_key: bool) -> bool {
        match self {
            Verdict::NotSealed => false,
            Verdict::Sealed {
                carried,
                actual,
                signature,
            } => {
                carried == actual
                    && match signature {
                        SignatureVerdict::Absent => !expected_key,
                        SignatureVerdict::Valid { trusted, .. } => trusted.unwrap_or(true),
                        SignatureVerdict::Invalid { .. } => false,
                    }
            }
        }
    }
}

/// Checks a report file's digest and signature; `trusted` is the public key expected.
pub fn verify(path: &Path, trusted: Option<&VerifyingKey>) -> Result<Verdict, SealError> {
    let bytes = std::fs::read(path).map_err(|source| SealError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let report: Value = serde_json::from_slice(&bytes).map_err(|e| SealError::NotJson {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    Ok(verify_value(&report, trusted))
}

pub fn verify_value(report: &Value, trusted: Option<&VerifyingKey>) -> Verdict {
    let Some(integrity) = report.get(MEMBER) else {
        return Verdict::NotSealed;
    };
    let digest = digest_of(report);
    let carried = integrity["digest"].as_str().unwrap_or_default().to_string();
    let signature = match integrity.get("signature") {
        None => SignatureVerdict::Absent,
        Some(sig) => {
            let public_key = sig["public-key"].as_str().unwrap_or_default().to_string();
            let key = hex::decode(&public_key)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .and_then(|b| VerifyingKey::from_bytes(&b).ok());
            let value = hex::decode(sig["value"].as_str().unwrap_or_default())
                .ok()
                .and_then(|b| <[u8; 64]>::try_from(b).ok())
                .map(|b| Signature::from_bytes(&b));
            match (key, value) {
                (Some(k), Some(s)) if k.verify(&digest, &s).is_ok() => SignatureVerdict::Valid {
                    trusted: trusted.map(|t| t == &k),
                    public_key,
                },
                _ => SignatureVerdict::Invalid { public_key },
            }
        }
    };
    Verdict::Sealed {
        carried,
        actual: hex::encode(digest),
        signature,
    }
}

fn read_hex32(path: &Path) -> Result<[u8; 32], SealError> {
    let text = std::fs::read_to_string(path).map_err(|source| SealError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |why: &str| SealError::BadKey {
        path: path.to_path_buf(),
        why: why.into(),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| bad("it is not a hex key"))?;
    <[u8; 32]>::try_from(bytes).map_err(|_| bad("a key is 32 bytes (64 hex digits)"))
}

/// Creates a signing key at `path` (mode 0600) and its public key at `<path>.pub`.
pub fn generate_key(path: &Path) -> Result<VerifyingKey, SealError> {
    use std::io::Write;
    let pub_path = public_path(path);
    for p in [path, pub_path.as_path()] {
        if p.exists() {
            return Err(SealError::KeyExists {
                path: p.to_path_buf(),
            });
        }
    }
    let err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| SealError::WriteKey { path: p, source }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err(dir))?;
    }
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(err(path))?
    };
    writeln!(f, "{}", hex::encode(key.to_bytes())).map_err(err(path))?;
    let public = key.verifying_key();
    std::fs::write(&pub_path, format!("{}\n", hex::encode(public.to_bytes())))
        .map_err(err(&pub_path))?;
    Ok(public)
}

/// `<key>.pub`.
pub fn public_path(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

pub fn load_signing_key(path: &Path) -> Result<SigningKey, SealError> {
    Ok(SigningKey::from_bytes(&read_hex32(path)?))
}

/// A public key from a `.pub` file (or from the signing key file itself).
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, SealError> {
    let bytes = read_hex32(path)?;
    if path.extension().is_some_and(|e| e == "pub") {
        VerifyingKey::from_bytes(&bytes).map_err(|_| SealError::BadKey {
            path: path.to_path_buf(),
            why: "it is not an Ed25519 public key".into(),
        })
    } else {
        Ok(SigningKey::from_bytes(&bytes).verifying_key())
    }
}

/// The key reports are signed with: `BREAKFIX_SIGNING_KEY`, else `<state>/keys/report-signing.key`
/// if it exists, else none (reports carry a digest only).
pub fn signing_key_for(state_dir: &Path) -> Result<Option<SigningKey>, SealError> {
    if let Some(p) = std::env::var_os("BREAKFIX_SIGNING_KEY").filter(|p| !p.is_empty()) {
        return load_signing_key(Path::new(&p)).map(Some);
    }
    let default = state_dir.join(DEFAULT_KEY);
    if default.is_file() {
        return load_signing_key(&default).map(Some);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Value {
        json!({"format-version": 1, "score": 60, "checks": [{"id": "web", "evidence": ["up 20s"]}], "percent": 66})
    }

    #[test]
    fn a_sealed_report_verifies_and_any_changed_value_does_not() {
        let sealed = seal(report(), None);
        assert!(verify_value(&sealed, None).is_trustworthy(false));
        let mut score = sealed.clone();
        score["score"] = json!(90);
        assert!(!verify_value(&score, None).is_trustworthy(false));
        let mut evidence = sealed.clone();
        evidence["checks"][0]["evidence"][0] = json!("up 21s");
        assert!(!verify_value(&evidence, None).is_trustworthy(false));
    }

    #[test]
    fn reordering_keys_or_reindenting_does_not_break_the_seal() {
        let sealed = seal(report(), None);
        let compact = serde_json::to_string(&sealed).unwrap();
        let reparsed: Value = serde_json::from_str(&compact).unwrap();
        assert!(verify_value(&reparsed, None).is_trustworthy(false));
        let text = r#"{"percent": 66, "integrity": INTEGRITY, "checks": [{"evidence": ["up 20s"], "id": "web"}], "score": 60, "format-version": 1}"#
            .replace("INTEGRITY", &sealed["integrity"].to_string());
        let reordered: Value = serde_json::from_str(&text).unwrap();
        assert!(verify_value(&reordered, None).is_trustworthy(false));
    }

    #[test]
    fn a_signed_report_names_its_key_and_a_tampered_one_fails_the_signature() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        let sealed = seal(report(), Some(&key));
        match verify_value(&sealed, Some(&key.verifying_key())) {
            Verdict::Sealed {
                signature: SignatureVerdict::Valid { trusted, .. },
                ..
            } => assert_eq!(trusted, Some(true)),
            v => panic!("{v:?}"),
        }
        let by_other = verify_value(&sealed, Some(&other));
        assert!(!by_other.is_trustworthy(true), "{by_other:?}");
        // Recomputing the digest after an edit does not help: the signature no longer fits.
        let mut edited = sealed.clone();
        edited["score"] = json!(90);
        let resealed_digest = seal(edited.clone(), None)["integrity"]["digest"].clone();
        edited["integrity"]["digest"] = resealed_digest;
        match verify_value(&edited, None) {
            Verdict::Sealed {
                carried,
                actual,
                signature,
            } => {
                assert_eq!(carried, actual);
                assert!(matches!(signature, SignatureVerdict::Invalid { .. }));
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn a_report_without_integrity_is_not_sealed() {
        assert_eq!(verify_value(&report(), None), Verdict::NotSealed);
    }

    #[test]
    fn key_files_round_trip_and_keygen_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/k.key");
        let public = generate_key(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load_signing_key(&path).unwrap().verifying_key(), public);
        assert_eq!(load_verifying_key(&public_path(&path)).unwrap(), public);
        assert_eq!(load_verifying_key(&path).unwrap(), public);
        let before = std::fs::read(&path).unwrap();
        assert!(matches!(
            generate_key(&path),
            Err(SealError::KeyExists { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        std::fs::write(dir.path().join("bad.pub"), "xyz\n").unwrap();
        let e = load_verifying_key(&dir.path().join("bad.pub"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.pub") && e.contains("not a hex key"), "{e}");
    }
}
