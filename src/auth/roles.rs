//! Scoped keys: a presenter key (run the show from a phone) and a moderator key (moderate Q&A,
//! words and player names), so the people helping an organiser never hold the admin token.
//!
//! Each key is given on the command line (`--presenter-key`, `--moderator-key`) or generated
//! once and kept in the data dir (mode 0600) like the admin token, so every node of a
//! deployment that gets the same flags accepts the same keys. A browser signed in with a key
//! holds a session cookie `ROLE.ISSUED.MAC`, the MAC keyed by that role's key: it works on
//! every node and ends when the key changes. Which endpoints each role may use is documented in
//! docs/api.md ("Scoped keys").

use std::fs;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use subtle::ConstantTimeEq;

use super::{ADMIN_SESSION_TTL, mac, random_bytes, unix_secs, write_secret};

/// Who a request speaks for. The admin may do everything; the others a part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    /// Presents, steps, closes, reveals and switches the projector's view.
    Presenter,
    /// Moderates Q&A, words and player names.
    Moderator,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Presenter => "presenter",
            Role::Moderator => "moderator",
        }
    }
}

/// The presenter and moderator keys. Cheap to clone.
#[derive(Clone)]
pub struct ScopedKeys {
    presenter: String,
    moderator: String,
}

/// The cookie a browser signed in with a scoped key holds.
pub const ROLE_COOKIE: &str = "livepoll_role";

impl ScopedKeys {
    /// The keys given (`Some` and not blank), else the ones kept in `data_dir`
    /// (`presenter.key`, `moderator.key`), created on first use with mode 0600.
    pub fn load_or_create(
        data_dir: &Path,
        presenter: Option<&str>,
        moderator: Option<&str>,
    ) -> std::io::Result<ScopedKeys> {
        let keys = ScopedKeys {
            presenter: given_or_kept(data_dir, "presenter.key", presenter)?,
            moderator: given_or_kept(data_dir, "moderator.key", moderator)?,
        };
        if keys.presenter == keys.moderator {
            return Err(std::io::Error::other(
                "the presenter key and the moderator key must differ",
            ));
        }
        Ok(keys)
    }

    pub fn presenter_key(&self) -> &str {
        &self.presenter
    }

    pub fn moderator_key(&self) -> &str {
        &self.moderator
    }

    fn key(&self, role: Role) -> Option<&str> {
        match role {
            Role::Admin => None,
            Role::Presenter => Some(&self.presenter),
            Role::Moderator => Some(&self.moderator),
        }
    }

    /// The role whose key an `Authorization: Bearer KEY` header carries, compared in constant
    /// time (both keys are always compared, so timing does not tell which one matched).
    pub fn bearer_role(&self, header: Option<&[u8]>) -> Option<Role> {
        let token = header?;
        let (scheme, token) = token.split_at_checked(7)?;
        if !scheme.eq_ignore_ascii_case(b"Bearer ") {
            return None;
        }
        let presenter = bool::from(token.ct_eq(self.presenter.as_bytes()));
        let moderator = bool::from(token.ct_eq(self.moderator.as_bytes()));
        match (presenter, moderator) {
            (true, _) => Some(Role::Presenter),
            (_, true) => Some(Role::Moderator),
            _ => None,
        }
    }

    /// A new session cookie value for a scoped `role` (none for the admin, which has its own).
    pub fn issue_session(&self, role: Role) -> Option<String> {
        self.session_at(role, unix_secs())
    }

    fn session_at(&self, role: Role, issued: u64) -> Option<String> {
        let key = self.key(role)?;
        let sig = B64.encode(mac(
            key.as_bytes(),
            "role-session:",
            &session_msg(role, issued),
        ));
        Some(format!("{}.{issued}.{sig}", role.name()))
    }

    /// The role of a valid, fresh session cookie.
    pub fn session_role(&self, cookie: Option<&str>) -> Option<Role> {
        self.session_role_at(cookie?, unix_secs())
    }

    fn session_role_at(&self, cookie: &str, now: u64) -> Option<Role> {
        let mut parts = cookie.splitn(3, '.');
        let role = match parts.next()? {
            "presenter" => Role::Presenter,
            "moderator" => Role::Moderator,
            _ => return None,
        };
        let issued: u64 = parts.next()?.parse().ok()?;
        let sig = B64.decode(parts.next()?).ok()?;
        let fresh = issued <= now + 60 && now.saturating_sub(issued) < ADMIN_SESSION_TTL.as_secs();
        let key = self.key(role)?;
        let want = mac(key.as_bytes(), "role-session:", &session_msg(role, issued));
        (fresh && bool::from(want.ct_eq(&sig))).then_some(role)
    }
}

fn session_msg(role: Role, issued: u64) -> String {
    format!("{}:{issued}", role.name())
}

fn given_or_kept(data_dir: &Path, file: &str, given: Option<&str>) -> std::io::Result<String> {
    if let Some(k) = given.map(str::trim).filter(|k| !k.is_empty()) {
        return Ok(k.to_string());
    }
    let path = data_dir.join(file);
    if !path.exists() {
        write_secret(&path, hex::encode(random_bytes::<16>()).as_bytes())?;
    }
    Ok(fs::read_to_string(&path)?.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_keys_are_kept_with_mode_0600_and_tell_their_role() {
        let dir = tempfile::tempdir().unwrap();
        let a = ScopedKeys::load_or_create(dir.path(), None, None).unwrap();
        let b = ScopedKeys::load_or_create(dir.path(), None, Some(" ")).unwrap();
        assert_eq!(a.presenter_key(), b.presenter_key());
        assert_eq!(a.moderator_key(), b.moderator_key());
        assert_ne!(a.presenter_key(), a.moderator_key());
        #[cfg(unix)]
        for f in ["presenter.key", "moderator.key"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let role = |h: String| a.bearer_role(Some(h.as_bytes()));
        assert_eq!(
            role(format!("Bearer {}", a.presenter_key())),
            Some(Role::Presenter)
        );
        assert_eq!(
            role(format!("bearer {}", a.moderator_key())),
            Some(Role::Moderator)
        );
        assert_eq!(role(format!("Bearer {} ", a.moderator_key())), None);
        assert_eq!(role("Bearer nope".into()), None);
        assert_eq!(a.bearer_role(None), None);
        let given = ScopedKeys::load_or_create(dir.path(), Some("p"), Some("m")).unwrap();
        assert_eq!((given.presenter_key(), given.moderator_key()), ("p", "m"));
        assert!(ScopedKeys::load_or_create(dir.path(), Some("x"), Some("x")).is_err());
    }

    #[test]
    fn a_role_session_is_signed_by_its_key_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let keys = ScopedKeys::load_or_create(dir.path(), Some("p"), Some("m")).unwrap();
        let s = keys.issue_session(Role::Moderator).unwrap();
        assert_eq!(keys.session_role(Some(&s)), Some(Role::Moderator));
        let forged = s.replacen("moderator", "presenter", 1);
        assert_eq!(keys.session_role(Some(&forged)), None, "the role is signed");
        let now = unix_secs();
        let old = keys.session_at(Role::Presenter, now).unwrap();
        let ttl = ADMIN_SESSION_TTL.as_secs();
        assert_eq!(
            keys.session_role_at(&old, now + ttl - 1),
            Some(Role::Presenter)
        );
        assert_eq!(keys.session_role_at(&old, now + ttl), None);
        let other = ScopedKeys::load_or_create(dir.path(), Some("p2"), Some("m")).unwrap();
        assert_eq!(
            other.session_role(Some(&old)),
            None,
            "a new key ends sessions"
        );
        assert_eq!(keys.issue_session(Role::Admin), None);
        assert_eq!(keys.session_role(Some("admin.1.x")), None);
    }
}
