//! Voter tokens and the admin token.
//!
//! A voter token is `ID.SIG`: a random id and an HMAC-SHA256 of it under a key kept in the data
//! dir, so the server can check tokens without storing them. The admin token is given on the
//! command line or generated once; both secrets are files of mode 0600.
//!
//! Nodes of one deployment share a secret file (`--secret-file`, written by `livepoll secret
//! new`): one key per line in hex, the first signs and every one verifies, so a key can be
//! rotated in without signing anybody out. The data dir's `secret.key` (32 raw bytes) is the
//! one-key form of the same thing.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub mod roles;
pub use roles::{ROLE_COOKIE, Role, ScopedKeys};

type HmacSha256 = Hmac<Sha256>;

/// The server's secrets. Cheap to clone.
#[derive(Clone)]
pub struct Keys {
    /// The first signs; all verify. Never empty.
    keys: std::sync::Arc<[[u8; 32]]>,
    admin_token: String,
}

/// How long an admin session cookie stays valid after it was issued.
pub const ADMIN_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

fn write_secret(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(contents)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rng().fill_bytes(&mut b);
    b
}

impl Keys {
    /// Loads the signing key and admin token from `data_dir`, creating them on first use.
    /// `admin_token` (from `--admin-token`) overrides the stored token.
    pub fn load_or_create(data_dir: &Path, admin_token: Option<&str>) -> std::io::Result<Keys> {
        let key_path = data_dir.join("secret.key");
        if !key_path.exists() {
            write_secret(&key_path, &random_bytes::<32>())?;
        }
        let raw = fs::read(&key_path)?;
        let key: [u8; 32] = raw.as_slice().try_into().map_err(|_| {
            std::io::Error::other(format!(
                "{} is corrupt (expected 32 bytes)",
                key_path.display()
            ))
        })?;
        Keys::with_keys(vec![key], data_dir, admin_token)
    }

    /// The keys of a shared secret file (see [`read_secret_file`]) and the admin token
    /// (`admin_token`, else the one kept in `data_dir`).
    pub fn load_shared(
        secret_file: &Path,
        data_dir: &Path,
        admin_token: Option<&str>,
    ) -> std::io::Result<Keys> {
        Keys::with_keys(read_secret_file(secret_file)?, data_dir, admin_token)
    }

    fn with_keys(
        keys: Vec<[u8; 32]>,
        data_dir: &Path,
        admin_token: Option<&str>,
    ) -> std::io::Result<Keys> {
        assert!(!keys.is_empty(), "at least one key");
        let admin_token = match admin_token {
            Some(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => {
                let path = data_dir.join("admin.token");
                if !path.exists() {
                    write_secret(&path, hex::encode(random_bytes::<16>()).as_bytes())?;
                }
                fs::read_to_string(&path)?.trim().to_string()
            }
        };
        Ok(Keys {
            keys: keys.into(),
            admin_token,
        })
    }

    fn signing_key(&self) -> &[u8; 32] {
        &self.keys[0]
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// A public id of each key, the signing key's first: a keyed hash that identifies the key
    /// and reveals nothing of it (see [`crate::identity`]).
    pub fn key_ids(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| hex::encode(&mac(k, "key id:", "")[..8]))
            .collect()
    }

    /// A public id of the admin token under the signing key: nodes that share the key compare
    /// it to find one started with another token.
    pub fn admin_token_id(&self) -> String {
        hex::encode(&mac(self.signing_key(), "admin token id:", &self.admin_token)[..8])
    }

    /// A new voter token; the voter id is its part before the dot.
    pub fn issue_voter(&self) -> String {
        let id = B64.encode(random_bytes::<16>());
        let sig = B64.encode(&mac(self.signing_key(), "voter:", &id)[..16]);
        format!("{id}.{sig}")
    }

    /// The voter id if the token is well-formed and was signed by this server.
    pub fn verify_voter<'a>(&self, token: &'a str) -> Option<&'a str> {
        let (id, sig) = token.split_once('.')?;
        if id.len() != 22 || sig.len() != 22 {
            return None;
        }
        let sig = B64.decode(sig).ok()?;
        let mut ok = subtle::Choice::from(0);
        for key in self.keys.iter() {
            ok |= mac(key, "voter:", id)[..16].ct_eq(&sig);
        }
        bool::from(ok).then_some(id)
    }

    /// Constant-time check of an `Authorization` header value: `Bearer` (any case), one space,
    /// and exactly the admin token. Raw bytes, so a header that is not ASCII is simply refused.
    pub fn is_admin_bearer(&self, header: Option<&[u8]>) -> bool {
        let Some(h) = header else {
            return false;
        };
        let Some((scheme, token)) = h.split_at_checked(7) else {
            return false;
        };
        scheme.eq_ignore_ascii_case(b"Bearer ")
            && bool::from(token.ct_eq(self.admin_token.as_bytes()))
    }

    /// A new admin session cookie value, `ISSUED.MAC`: the issue time (Unix seconds) and an
    /// HMAC over it and the admin token. Valid for [`ADMIN_SESSION_TTL`]; changing the admin
    /// token or the key ends every session.
    pub fn issue_admin_session(&self) -> String {
        self.admin_session_at(unix_secs())
    }

    fn admin_session_at(&self, issued: u64) -> String {
        let mac = self.admin_session_mac(self.signing_key(), issued);
        format!("{issued}.{}", B64.encode(mac))
    }

    fn admin_session_mac(&self, key: &[u8; 32], issued: u64) -> Vec<u8> {
        mac(
            key,
            "admin-session:",
            &format!("{issued}:{}", self.admin_token),
        )
    }

    pub fn is_admin_session(&self, cookie: Option<&str>) -> bool {
        cookie.is_some_and(|c| self.admin_session_valid_at(c, unix_secs()))
    }

    fn admin_session_valid_at(&self, cookie: &str, now: u64) -> bool {
        let Some((issued, sig)) = cookie.split_once('.') else {
            return false;
        };
        let (Ok(issued), Ok(sig)) = (issued.parse::<u64>(), B64.decode(sig)) else {
            return false;
        };
        // A minute of clock skew between nodes is tolerated; a session from the future is not.
        let fresh = issued <= now + 60 && now.saturating_sub(issued) < ADMIN_SESSION_TTL.as_secs();
        let mut ok = subtle::Choice::from(0);
        for key in self.keys.iter() {
            ok |= self.admin_session_mac(key, issued).ct_eq(&sig);
        }
        fresh && bool::from(ok)
    }
}

/// Reads a secret file: 32 raw bytes (the data dir's `secret.key`), or text with one key per
/// line as 64 hex digits (blank lines and `#` comments ignored). The first key signs.
pub fn read_secret_file(path: &Path) -> std::io::Result<Vec<[u8; 32]>> {
    let raw = fs::read(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    if let Ok(key) = <[u8; 32]>::try_from(raw.as_slice()) {
        return Ok(vec![key]);
    }
    let bad = |why: String| std::io::Error::other(format!("{}: {why}", path.display()));
    let text = std::str::from_utf8(&raw)
        .map_err(|_| bad("not a secret file (one 64-hex-digit key per line)".into()))?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = hex::decode(line)
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| bad(format!("line {} is not a key (64 hex digits)", n + 1)))?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(bad("holds no key".into()));
    }
    Ok(keys)
}

/// Writes a new secret file holding one fresh key (mode 0600). Refuses to overwrite: replacing
/// a deployment's key would sign every voter and organiser out.
pub fn new_secret_file(path: &Path) -> std::io::Result<()> {
    let text = format!(
        "# livepoll cluster secret: one key per line, the first signs, all verify\n{}\n",
        hex::encode(random_bytes::<32>())
    );
    write_secret(path, text.as_bytes()).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
            "already exists; refusing to overwrite it (a new key would sign everybody out)"
                .to_string()
        } else {
            e.to_string()
        };
        std::io::Error::new(e.kind(), format!("{}: {why}", path.display()))
    })
}

/// Seconds since the Unix epoch on this node's clock (a wall-clock step neither signs the
/// organiser out nor lengthens a session, see [`crate::clock`]).
fn unix_secs() -> u64 {
    crate::clock::Clock::system().now_ms() / 1000
}

fn mac(key: &[u8], domain: &str, msg: &str) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("any key length works");
    m.update(domain.as_bytes());
    m.update(msg.as_bytes());
    m.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voter_tokens_verify_and_forgeries_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::load_or_create(dir.path(), None).unwrap();
        let t = keys.issue_voter();
        let id = keys.verify_voter(&t).unwrap();
        assert_eq!(id, t.split('.').next().unwrap());
        let mut forged = t.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(keys.verify_voter(&forged), None);
        assert_eq!(keys.verify_voter("garbage"), None);
        let other = Keys::load_or_create(tempfile::tempdir().unwrap().path(), None).unwrap();
        assert_eq!(other.verify_voter(&t), None);
    }

    #[test]
    fn the_admin_token_is_kept_with_mode_0600_and_compared_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let a = Keys::load_or_create(dir.path(), None).unwrap();
        let b = Keys::load_or_create(dir.path(), None).unwrap();
        assert_eq!(a.admin_token(), b.admin_token());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("admin.token"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let bearer = |h: &str| a.is_admin_bearer(Some(h.as_bytes()));
        assert!(bearer(&format!("Bearer {}", a.admin_token())));
        assert!(bearer(&format!("bearer {}", a.admin_token())));
        assert!(!bearer("Bearer nope"));
        assert!(!bearer(&format!("Bearer  {}", a.admin_token())));
        assert!(!bearer(&format!("Bearer {} ", a.admin_token())));
        assert!(!bearer(&format!("Basic {}", a.admin_token())));
        assert!(!bearer("Bearer"));
        assert!(!a.is_admin_bearer(Some("Bearer é".as_bytes())));
        assert!(!a.is_admin_bearer(None));
        let c = Keys::load_or_create(dir.path(), Some("given")).unwrap();
        assert_eq!(c.admin_token(), "given");
    }

    #[test]
    fn admin_sessions_expire_and_differ_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::load_or_create(dir.path(), Some("tok")).unwrap();
        let now = unix_secs();
        let s1 = keys.admin_session_at(now);
        let s2 = keys.admin_session_at(now - 1);
        assert_ne!(s1, s2);
        assert!(keys.is_admin_session(Some(&s1)));
        assert!(keys.is_admin_session(Some(&keys.issue_admin_session())));
        let ttl = ADMIN_SESSION_TTL.as_secs();
        assert!(keys.admin_session_valid_at(&s1, now + ttl - 1));
        assert!(!keys.admin_session_valid_at(&s1, now + ttl));
        assert!(!keys.admin_session_valid_at(&keys.admin_session_at(now + 3600), now));
        // The issue time is signed: moving it forward breaks the MAC.
        let (_, sig) = s2.split_once('.').unwrap();
        assert!(!keys.is_admin_session(Some(&format!("{now}.{sig}"))));
        assert!(!keys.is_admin_session(Some("garbage")));
        assert!(!keys.is_admin_session(None));
        // Another admin token (or key) ends every session.
        let other = Keys::load_or_create(dir.path(), Some("other")).unwrap();
        assert!(!other.is_admin_session(Some(&s1)));
    }

    #[test]
    fn a_rotated_secret_file_signs_with_its_first_key_and_verifies_with_all() {
        let dir = tempfile::tempdir().unwrap();
        let old_file = dir.path().join("old.key");
        new_secret_file(&old_file).unwrap();
        let err = new_secret_file(&old_file).unwrap_err().to_string();
        assert!(err.contains("refusing to overwrite"), "{err}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&old_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let old = Keys::load_shared(&old_file, dir.path(), Some("tok")).unwrap();
        let old_token = old.issue_voter();
        let old_session = old.issue_admin_session();

        let new_file = dir.path().join("new.key");
        new_secret_file(&new_file).unwrap();
        let rotated = dir.path().join("rotated.key");
        let text = fs::read_to_string(&new_file).unwrap() + &fs::read_to_string(&old_file).unwrap();
        fs::write(&rotated, text).unwrap();
        let both = Keys::load_shared(&rotated, dir.path(), Some("tok")).unwrap();
        let new_only = Keys::load_shared(&new_file, dir.path(), Some("tok")).unwrap();

        assert!(both.verify_voter(&old_token).is_some());
        assert!(both.is_admin_session(Some(&old_session)));
        let fresh = both.issue_voter();
        assert!(
            new_only.verify_voter(&fresh).is_some(),
            "the first key signs"
        );
        assert!(old.verify_voter(&fresh).is_none());
        assert!(new_only.verify_voter(&old_token).is_none());
        assert!(!new_only.is_admin_session(Some(&old_session)));
    }

    #[test]
    fn the_data_dir_key_is_a_valid_secret_file_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::load_or_create(dir.path(), Some("tok")).unwrap();
        let shared = Keys::load_shared(&dir.path().join("secret.key"), dir.path(), Some("tok"));
        let t = keys.issue_voter();
        assert!(shared.unwrap().verify_voter(&t).is_some());
        let bad = dir.path().join("bad.key");
        for (text, want) in [
            ("", "holds no key"),
            ("# only a comment\n", "holds no key"),
            ("abcd\n", "line 1 is not a key"),
        ] {
            fs::write(&bad, text).unwrap();
            let e = read_secret_file(&bad).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("bad.key"), "{e}");
        }
        let e = read_secret_file(&dir.path().join("missing.key")).unwrap_err();
        assert!(e.to_string().contains("missing.key"), "{e}");
    }
}
