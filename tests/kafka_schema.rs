//! The record schemas in `docs/schemas/` hold for real records: every kind of record is produced
//! through the HTTP API, read back raw from the broker by a plain Kafka consumer, and validated
//! against the JSON Schema documented for its topic (`docs/kafka.md`). The schemas forbid
//! unknown fields, so a field added to a record without documenting it fails here.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn schema(name: &str) -> jsonschema::Validator {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("docs/schemas/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&value).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every record of the topic, as (key, value), from the first offset to the end.
fn read_topic(brokers: &str, topic: &str) -> Vec<(String, Value)> {
    let consumer: BaseConsumer = livepoll::kafka::consumer_config(brokers)
        .create()
        .expect("a consumer");
    let meta = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    let mut list = TopicPartitionList::new();
    let mut ends = 0;
    for p in meta.topics()[0].partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
            .expect("watermarks");
        ends += high - low;
        list.add_partition_offset(topic, p.id(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while (out.len() as i64) < ends {
        assert!(
            std::time::Instant::now() < deadline,
            "{topic}: read {} of {ends} records",
            out.len()
        );
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.expect("a record");
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let value: Value = serde_json::from_slice(m.payload().unwrap_or_default())
                .unwrap_or_else(|e| panic!("{topic}: a record that is not JSON: {e}"));
            out.push((key, value));
        }
    }
    out
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let body = res.text().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

async fn admin(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut r = app.as_admin(method, path);
    if let Some(b) = body {
        r = r.json(&b);
    }
    ok(r.send().await.unwrap()).await
}

async fn as_voter(app: &TestApp, voter: &str, method: Method, path: &str, body: Value) -> Value {
    let res = app
        .client
        .request(method, app.url(path))
        .header("x-livepoll-voter", voter)
        .json(&body)
        .send()
        .await
        .unwrap();
    ok(res).await
}

/// Produces every kind of record livepoll writes, through the API.
async fn produce_every_record(app: &TestApp) {
    use Method as M;
    let a = app.open_poll(json!({"question": "Best?", "kind": "single", "options": ["A", "B"], "visibility": "never"})).await;
    let b = app.open_poll(json!({"question": "Which?", "kind": "multiple", "max_choices": 2, "options": ["A", "B", "C"]})).await;
    let r = app
        .open_poll(
            json!({"question": "How?", "kind": "rating", "scale": 5, "labels": ["bad", "good"]}),
        )
        .await;
    let w = app
        .open_poll(json!({"question": "Word?", "kind": "wordcloud", "duration_secs": 600}))
        .await;
    let draft = admin(
        app,
        M::POST,
        "/api/polls",
        Some(json!({"question": "Later?", "kind": "single", "options": ["x", "y"]})),
    )
    .await;
    let draft = draft["id"].as_str().unwrap().to_string();
    admin(
        app,
        M::PUT,
        &format!("/api/polls/{draft}"),
        Some(json!({"question": "Later, then?", "kind": "single", "options": ["x", "y"]})),
    )
    .await;
    let voter = app.session().await;
    for (poll, body) in [
        (&a, json!({"choice": 1})),
        (&b, json!({"choices": [2, 0]})),
        (&r, json!({"rating": 4})),
        (&w, json!({"text": "Kafka"})),
    ] {
        assert_eq!(app.vote(&voter, poll, body).await, 202);
    }
    // Ballots arriving together travel as one pack record.
    let voters = futures::future::join_all((0..200).map(|_| app.session())).await;
    let statuses = futures::future::join_all(
        voters
            .iter()
            .enumerate()
            .map(|(i, v)| app.vote(v, &a, json!({"choice": i % 2}))),
    )
    .await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    admin(
        app,
        M::PATCH,
        &format!("/api/polls/{a}"),
        Some(json!({"question": "Best one?", "options": ["A", "B"]})),
    )
    .await;
    admin(app, M::POST, &format!("/api/polls/{a}/reveal"), None).await;
    admin(app, M::POST, &format!("/api/polls/{a}/close"), None).await;
    admin(app, M::POST, &format!("/api/polls/{a}/reset"), None).await;
    admin(
        app,
        M::POST,
        &format!("/api/polls/{a}/rounds/1/discard"),
        None,
    )
    .await;
    admin(app, M::POST, &format!("/api/polls/{b}/duplicate"), None).await;
    app.put_on_air(Some(&r)).await;
    admin(app, M::POST, &format!("/api/polls/{w}/present"), None).await;
    admin(app, M::POST, "/api/screen/next", None).await;
    admin(app, M::PUT, "/api/agenda", Some(json!({"order": [w, r]}))).await;
    admin(app, M::PUT, "/api/screen", Some(json!({"view": "qa"}))).await;
    let del = app
        .as_admin(M::DELETE, &format!("/api/polls/{draft}"))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);

    // Quiz: an answer carries its stamp; names; the leaderboard.
    let q = admin(app, M::POST, "/api/polls", Some(json!({"question": "2+2?", "kind": "quiz", "options": ["3", "4"], "correct": [1], "duration_secs": 60}))).await;
    let q = q["id"].as_str().unwrap().to_string();
    admin(app, M::POST, &format!("/api/polls/{q}/present"), None).await;
    let quiz_vote = app.vote(&voter, &q, json!({"choice": 1})).await;
    assert_eq!(quiz_vote, 202);
    as_voter(app, &voter, M::PUT, "/api/me", json!({"name": "Ada"})).await;
    admin(app, M::POST, "/api/leaderboard/reset", None).await;

    // Q&A.
    admin(
        app,
        M::PUT,
        "/api/qa",
        Some(json!({"open": true, "moderated": true})),
    )
    .await;
    let asked = as_voter(
        app,
        &voter,
        M::POST,
        "/api/questions",
        json!({"text": "Why Kafka?", "name": "Ada"}),
    )
    .await;
    let id = asked["id"].as_str().unwrap().to_string();
    let other = app.session().await;
    let second = as_voter(
        app,
        &other,
        M::POST,
        "/api/questions",
        json!({"text": "And redb?"}),
    )
    .await;
    let second = second["id"].as_str().unwrap().to_string();
    for action in ["approve", "pin", "unpin", "answer", "hide"] {
        admin(app, M::POST, &format!("/api/questions/{id}/{action}"), None).await;
    }
    admin(
        app,
        M::POST,
        &format!("/api/questions/{second}/approve"),
        None,
    )
    .await;
    as_voter(
        app,
        &voter,
        M::POST,
        &format!("/api/questions/{second}/upvote"),
        json!({}),
    )
    .await;
    as_voter(
        app,
        &voter,
        M::DELETE,
        &format!("/api/questions/{second}/upvote"),
        json!({}),
    )
    .await;
    let del = app
        .as_admin(M::DELETE, &format!("/api/questions/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);

    // Moderation: words hidden, shown, approved; the block list and its setting; players.
    let m = app
        .open_poll(json!({"question": "Three words?", "kind": "wordcloud", "max_words": 3, "moderation": "pre"}))
        .await;
    assert_eq!(
        app.vote(&voter, &m, json!({"words": ["Kafka", "redb", "warp"]}))
            .await,
        202
    );
    for action in ["hide", "show", "approve"] {
        let path = format!("/api/polls/{m}/words/{action}");
        admin(app, M::POST, &path, Some(json!({"word": "kafka"}))).await;
    }
    for action in ["block", "unblock"] {
        let path = format!("/api/moderation/{action}");
        admin(app, M::POST, &path, Some(json!({"word": "zorblax"}))).await;
    }
    admin(
        app,
        M::PUT,
        "/api/moderation",
        Some(json!({"blocked_mode": "drop"})),
    )
    .await;
    let player = voter.split('.').next().unwrap();
    let rename = format!("/api/players/{player}/rename");
    let res = app
        .as_admin(M::POST, &rename)
        .json(&json!({"name": "Grace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let hide = format!("/api/players/{player}/hide");
    assert_eq!(
        app.as_admin(M::POST, &hide).send().await.unwrap().status(),
        204
    );
}

#[tokio::test]
async fn every_record_in_every_topic_matches_its_documented_schema() {
    let app = spawn_app().await;
    produce_every_record(&app).await;

    let poll_event = schema("poll-event.schema.json");
    let vote = schema("vote.schema.json");
    let name = schema("voter-name.schema.json");
    let pack = schema("vote-pack.schema.json");
    let qa_event = schema("qa-event.schema.json");
    let (brokers, prefix) = (app.brokers.clone(), app.prefix.clone());
    let topics = tokio::task::spawn_blocking(move || {
        ["polls", "votes", "qa"].map(|t| read_topic(&brokers, &format!("{prefix}.{t}")))
    })
    .await
    .unwrap();

    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (topic, records) in ["polls", "votes", "qa"].iter().zip(&topics) {
        for (key, value) in records {
            let (validator, kind) = match (*topic, value["type"].as_str()) {
                ("polls", Some(t)) => (&poll_event, t.to_string()),
                ("votes", Some("name")) => (&name, "name".to_string()),
                ("votes", Some("votes")) => (&pack, "pack".to_string()),
                ("votes", None) if value.get("quiz").is_some() => (&vote, "quiz ballot".into()),
                ("votes", None) => (
                    &vote,
                    format!(
                        "ballot {}",
                        value["ballot"]
                            .as_object()
                            .and_then(|b| b.keys().next().cloned())
                            .unwrap_or_default()
                    ),
                ),
                ("qa", Some(t)) => (&qa_event, t.to_string()),
                _ => {
                    problems.push(format!("{topic}: a record of no known type: {value}"));
                    continue;
                }
            };
            seen.insert(format!("{topic}: {kind}"));
            for e in validator.iter_errors(value) {
                problems.push(format!(
                    "{topic} key {key:?}: {e} at {} in {value}",
                    e.instance_path()
                ));
            }
            // A pack's elements are ballot records.
            for ballot in value["votes"].as_array().into_iter().flatten() {
                for e in vote.iter_errors(ballot) {
                    problems.push(format!(
                        "{topic} pack: {e} at {} in {ballot}",
                        e.instance_path()
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "records that break the documented schemas:\n{}",
        problems.join("\n")
    );

    // The test only proves something for record types it actually produced.
    let polls = [
        "created",
        "updated",
        "fixed",
        "opened",
        "closed",
        "reset",
        "deleted",
        "screen",
        "presented",
        "stepped",
        "discarded",
        "revealed",
        "agenda",
        "view",
        "leaderboard_reset",
        "word_hidden",
        "word_shown",
        "word_approved",
        "word_blocked",
        "word_unblocked",
        "moderation_settings",
        "player_renamed",
        "player_hidden",
    ];
    let votes = [
        "ballot choices",
        "ballot rating",
        "ballot text",
        "ballot words",
        "quiz ballot",
        "name",
        "pack",
    ];
    let qa = [
        "settings",
        "asked",
        "approved",
        "pinned",
        "unpinned",
        "answered",
        "hidden",
        "upvoted",
        "unupvoted",
        "deleted",
    ];
    let want: BTreeSet<String> = polls
        .iter()
        .map(|t| format!("polls: {t}"))
        .chain(votes.iter().map(|t| format!("votes: {t}")))
        .chain(qa.iter().map(|t| format!("qa: {t}")))
        .collect();
    let missing: Vec<_> = want.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "record types never produced: {missing:?}; seen {seen:?}"
    );
}
