//! Refusing to start on another event's data or with another deployment's secrets.
//!
//! A bit-flipped or replaced `secret.key` signs every voter out (their tokens turn 401) and lets
//! them vote again; a tally database built from another log or another topic prefix shows
//! another event's polls; two nodes on one topic prefix with different secrets or admin tokens
//! give every voter two identities. Each is refused at start with a clear message (exit 2):
//! - the tally database records the signing key's id, the topic prefix and the polls topic's
//!   first record ([`crate::store::StoredIdentity`]);
//! - every node publishes the ids of its key and admin token in `livepoll.polls` (a `deployment`
//!   event: keyed hashes, never the secrets) and compares them with the last published ones.
//!
//! Ids are HMACs under the key itself ([`crate::auth::Keys::key_ids`]). How to rotate a key on
//! purpose is in docs/operations.md "Rotating the secret".

use crate::auth::Keys;
use crate::cli::ConfigError;
use crate::domain::events::PollEvent;
use crate::state::AppState;
use crate::store::{StoredIdentity, TallyStore};

/// Checks a data dir's recorded identity against this start's keys and topic prefix.
/// `new_secret` (`--new-secret`) accepts a changed key on purpose; a database that has not
/// consumed anything yet (`holds_event` false) belongs to no event and is taken over.
pub fn check_data_dir(
    stored: &StoredIdentity,
    key_ids: &[String],
    prefix: &str,
    new_secret: bool,
    holds_event: bool,
) -> Result<(), String> {
    if !holds_event {
        return Ok(());
    }
    if let Some(old) = &stored.topic_prefix
        && old != prefix
    {
        return Err(format!(
            "the tally database holds the event of topic prefix {old:?}, but this serve reads \
             {prefix:?}: start with --topic-prefix {old}, or delete tallies.redb in the data dir \
             to show the event of {prefix:?} (rebuilt from its topics)"
        ));
    }
    if let Some(old) = &stored.key_id
        && !key_ids.contains(old)
        && !new_secret
    {
        return Err(format!(
            "the secret changed: the tally database was built with key {old}, but the secret \
             holds key {}. A changed key signs every voter out and lets them vote again. Restore \
             the original secret.key; to rotate on purpose, put the new key first in the secret \
             file and keep the old one after it (docs/operations.md), or start with --new-secret \
             to accept the new key (every voter can vote again)",
            key_ids.join(", ")
        ));
    }
    Ok(())
}

/// Checks the deployment ids last published on the topic prefix (`published`: key id, admin
/// token id) against this node's; `Ok(true)` if this node's should be published.
pub fn check_deployment(
    published: Option<&(String, String)>,
    key_ids: &[String],
    admin_id: &str,
    new_secret: bool,
) -> Result<bool, String> {
    let Some((key, admin)) = published else {
        return Ok(true);
    };
    let ours = key_ids.first().map(String::as_str).unwrap_or_default();
    if new_secret {
        return Ok(key != ours || admin != admin_id);
    }
    if !key_ids.contains(key) {
        return Err(format!(
            "another node on this topic prefix signs with another secret (key {key}; this node \
             has {}): give every node the same --secret-file. If the secret was changed on \
             purpose on every node, start with --new-secret",
            key_ids.join(", ")
        ));
    }
    if key == ours && admin != admin_id {
        return Err(
            "another node on this topic prefix uses another admin token: give every node the \
             same --admin-token (or the same secret file's token). If it was changed on purpose \
             on every node, start with --new-secret"
                .into(),
        );
    }
    Ok(key != ours || admin != admin_id)
}

/// [`check_data_dir`] on the store, then records this start's key id and prefix.
pub fn enforce_data_dir(
    store: &TallyStore,
    keys: &Keys,
    prefix: &str,
    new_secret: bool,
) -> anyhow::Result<()> {
    let ids = keys.key_ids();
    let holds_event = !store.offsets()?.is_empty();
    check_data_dir(&store.identity()?, &ids, prefix, new_secret, holds_event)
        .map_err(ConfigError)?;
    store.record_identity(&ids[0], prefix)?;
    Ok(())
}

/// [`check_deployment`] against the polls topic as applied at start; publishes this node's ids
/// when they are not the last published ones.
pub async fn enforce_deployment(state: &AppState, new_secret: bool) -> anyhow::Result<()> {
    let ids = state.keys.key_ids();
    let admin = state.keys.admin_token_id();
    let polls = state.polls();
    let publish = check_deployment(polls.deployment.as_ref(), &ids, &admin, new_secret)
        .map_err(ConfigError)?;
    if publish {
        let event = PollEvent::Deployment {
            key: ids[0].clone(),
            admin,
        };
        crate::service::command(state, event)
            .await
            .map_err(|e| anyhow::anyhow!("publishing this node's deployment ids: {e}"))?;
    }
    Ok(())
}

/// A short hash of a record's value, to recognise the polls topic's first record.
pub fn record_hash(payload: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(payload)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_changed_key_or_prefix_is_refused_and_a_rotation_is_not() {
        let stored = StoredIdentity {
            key_id: Some("k1".into()),
            topic_prefix: Some("livepoll".into()),
            first_record: None,
        };
        assert_eq!(
            check_data_dir(&stored, &ids(&["k1"]), "livepoll", false, true),
            Ok(())
        );
        let flipped = check_data_dir(&stored, &ids(&["k9"]), "livepoll", false, true).unwrap_err();
        assert!(flipped.contains("secret changed"), "{flipped}");
        assert_eq!(
            check_data_dir(&stored, &ids(&["k2", "k1"]), "livepoll", false, true),
            Ok(()),
            "a rotation keeps the old key after the new one"
        );
        assert_eq!(
            check_data_dir(&stored, &ids(&["k9"]), "livepoll", true, true),
            Ok(())
        );
        let other = check_data_dir(&stored, &ids(&["k1"]), "event2", false, true).unwrap_err();
        assert!(other.contains("--topic-prefix livepoll"), "{other}");
        assert_eq!(
            check_data_dir(&StoredIdentity::default(), &ids(&["k1"]), "x", false, true),
            Ok(()),
            "a database from before identities"
        );
        assert_eq!(
            check_data_dir(&stored, &ids(&["k9"]), "other", false, false),
            Ok(()),
            "a database that consumed nothing belongs to no event"
        );
    }

    #[test]
    fn nodes_with_another_secret_or_admin_token_are_refused() {
        let published = ("k1".to_string(), "a1".to_string());
        assert_eq!(check_deployment(None, &ids(&["k1"]), "a1", false), Ok(true));
        assert_eq!(
            check_deployment(Some(&published), &ids(&["k1"]), "a1", false),
            Ok(false)
        );
        assert!(
            check_deployment(Some(&published), &ids(&["k2"]), "a1", false)
                .unwrap_err()
                .contains("another secret")
        );
        assert!(
            check_deployment(Some(&published), &ids(&["k1"]), "a2", false)
                .unwrap_err()
                .contains("admin token")
        );
        assert_eq!(
            check_deployment(Some(&published), &ids(&["k2", "k1"]), "a2", false),
            Ok(true),
            "the first node of a rotation publishes the new ids"
        );
        assert_eq!(
            check_deployment(Some(&published), &ids(&["k2"]), "a2", true),
            Ok(true)
        );
    }
}
