//! Voter tokens and the admin token.
//!
//! A voter token is `ID.SIG`: a random id and an HMAC-SHA256 of it under a key kept in the data
//! dir, so the server can check tokens without storing them. The admin token is given on the
//! command line or generated once; both secrets are files of mode 0600.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The server's secrets. Cheap to clone.
#[derive(Clone)]
pub struct Keys {
    key: [u8; 32],
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
        Ok(Keys { key, admin_token })
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// A new voter token; the voter id is its part before the dot.
    pub fn issue_voter(&self) -> String {
        let id = B64.encode(random_bytes::<16>());
        let sig = B64.encode(&mac(&self.key, "voter:", &id)[..16]);
        format!("{id}.{sig}")
    }

    /// The voter id if the token is well-formed and was signed by this server.
    pub fn verify_voter<'a>(&self, token: &'a str) -> Option<&'a str> {
        let (id, sig) = token.split_once('.')?;
        if id.len() != 22 || sig.len() != 22 {
            return None;
        }
        let sig = B64.decode(sig).ok()?;
        let expected = &mac(&self.key, "voter:", id)[..16];
        bool::from(expected.ct_eq(&sig)).then_some(id)
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
        format!("{issued}.{}", B64.encode(self.admin_session_mac(issued)))
    }

    fn admin_session_mac(&self, issued: u64) -> Vec<u8> {
        mac(
            &self.key,
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
        fresh && bool::from(self.admin_session_mac(issued).ct_eq(&sig))
    }
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
}
