//! `livepoll kafka read TOPIC` prints the records livepoll wrote, as JSON lines.

use serde_json::Value;

use crate::helpers::{bin, single, spawn_app};

#[tokio::test]
async fn kafka_read_prints_a_produced_record_as_a_json_line() {
    let app = spawn_app().await;
    let id = app.open_poll(single(3)).await;
    let topic = format!("{}.polls", app.prefix);
    let out = tokio::task::spawn_blocking({
        let (topic, brokers) = (topic.clone(), app.brokers.clone());
        move || {
            bin()
                .args([
                    "kafka",
                    "read",
                    &topic,
                    "--from-beginning",
                    "--brokers",
                    &brokers,
                ])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let created = lines
        .iter()
        .find(|r| r["value"].is_object() && r["value"].to_string().contains(&id))
        .unwrap_or_else(|| panic!("no record of poll {id} in {stdout}"));
    assert_eq!(created["topic"], topic.as_str());
    assert!(created["offset"].as_i64().is_some() && created["partition"].as_i64().is_some());
    assert!(stdout.contains(&id), "{stdout}");

    // --limit stops after that many; a topic that does not exist is a clear error.
    let out = bin()
        .args([
            "kafka",
            "read",
            &topic,
            "--from-beginning",
            "--limit",
            "1",
            "--brokers",
            &app.brokers,
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let out = bin()
        .args([
            "kafka",
            "read",
            "no.such.topic",
            "--from-beginning",
            "--brokers",
            &app.brokers,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
