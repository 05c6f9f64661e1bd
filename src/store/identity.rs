//! What the tally database belongs to: the key its voters' tokens were signed with, the topic
//! prefix it was built from, and the first record of that log. Checked at start by
//! [`crate::identity`], so a data dir is never silently reused for another event.

use redb::ReadableDatabase;

use super::{META, StoreError, TallyStore, decode};

/// The identity recorded in the tally database (each part absent in a database from before
/// it was recorded, or before the log had a record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredIdentity {
    /// [`crate::auth::Keys::key_ids`] of the signing key when last started.
    pub key_id: Option<String>,
    /// The `--topic-prefix` it was built from.
    pub topic_prefix: Option<String>,
    /// The polls topic's first record: its offset and a hash of its value.
    pub first_record: Option<(u64, String)>,
}

const KEY_ID: &str = "identity_key_id";
const TOPIC_PREFIX: &str = "identity_topic_prefix";
const FIRST_RECORD: &str = "identity_first_record";

impl TallyStore {
    /// The recorded identity.
    pub fn identity(&self) -> Result<StoredIdentity, StoreError> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(META)?;
        let text = |key: &str| -> Result<Option<String>, StoreError> {
            Ok(meta
                .get(key)?
                .map(|g| String::from_utf8_lossy(g.value()).into_owned()))
        };
        Ok(StoredIdentity {
            key_id: text(KEY_ID)?,
            topic_prefix: text(TOPIC_PREFIX)?,
            first_record: meta
                .get(FIRST_RECORD)?
                .map(|g| decode("first record", g.value()))
                .transpose()?,
        })
    }

    /// Records the signing key's id and the topic prefix (a durable commit).
    pub fn record_identity(&self, key_id: &str, topic_prefix: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            meta.insert(KEY_ID, key_id.as_bytes())?;
            meta.insert(TOPIC_PREFIX, topic_prefix.as_bytes())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records the polls topic's first record (a durable commit).
    pub fn record_first_record(&self, offset: u64, hash: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            let bytes = serde_json::to_vec(&(offset, hash)).expect("first record serialises");
            meta.insert(FIRST_RECORD, bytes.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_recorded_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = TallyStore::open(&dir.path().join("t.redb")).unwrap();
        assert_eq!(store.identity().unwrap(), StoredIdentity::default());
        store.record_identity("k1", "livepoll").unwrap();
        store.record_first_record(0, "abc").unwrap();
        let id = store.identity().unwrap();
        assert_eq!(id.key_id.as_deref(), Some("k1"));
        assert_eq!(id.topic_prefix.as_deref(), Some("livepoll"));
        assert_eq!(id.first_record, Some((0, "abc".into())));
    }
}
