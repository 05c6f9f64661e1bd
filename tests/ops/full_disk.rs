//! A full disk under tallies.redb is reported on /healthz (503 with the reason), votes are
//! refused rather than acknowledged-but-never-applied, and the node recovers by itself when
//! space returns, with every 202 counted. The data dir lives on a small tmpfs mounted for the
//! test (root only; skipped with a message where mounting is impossible).

use std::io::Write;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ServeProcess, child_serve_args, free_port, single};

/// A tmpfs of `mib` MiB mounted on a temp dir, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(mib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

/// Fills the filesystem of `file`'s dir until writes fail.
fn fill(file: &std::path::Path) {
    let mut f = std::fs::File::create(file).unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
}

#[tokio::test]
async fn a_full_disk_is_reported_refuses_votes_and_recovers_with_every_202_counted() {
    let Some(disk) = Tmpfs::mount(48) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let data_dir = disk.0.path().join("data");
    let port = free_port();
    let args = child_serve_args(&data_dir);
    let serve = ServeProcess::start(&args.iter().map(String::as_str).collect::<Vec<_>>(), port);
    serve.wait_healthy(60).await;
    let api = serve.api();
    let poll = api.open_poll(single(2)).await;
    let mut accepted = 0;
    let mut voters = Vec::new();
    for _ in 0..3 {
        let v = api.session().await;
        assert_eq!(
            api.vote(&v, &poll, json!({"choice": 0})).await,
            StatusCode::ACCEPTED
        );
        accepted += 1;
        voters.push(v);
    }
    api.wait_results(&poll, |r| r["voters"] == accepted).await;
    let pid = serve.child.id();

    // The disk fills: /healthz says so, votes are refused (not acknowledged), and a change
    // that reaches the tally database meanwhile fails its write there.
    let ballast = disk.0.path().join("ballast");
    fill(&ballast);
    let health = super::wait_for(30, "/healthz reporting the full disk", || {
        let api = api.clone();
        async move {
            let res = api.client.get(api.url("/healthz")).send().await.ok()?;
            let status = res.status();
            let body: Value = res.json().await.ok()?;
            (status == StatusCode::SERVICE_UNAVAILABLE
                && body["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("is full")))
            .then_some(body)
        }
    })
    .await;
    assert!(
        health["reason"]
            .as_str()
            .unwrap()
            .contains("tally database"),
        "{health}"
    );
    let late = api.session().await;
    let res = api
        .client
        .post(api.url(&format!("/api/polls/{poll}/votes")))
        .header("x-livepoll-voter", &late)
        .json(&json!({"choice": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("is full"),
        "{body}"
    );
    // Admin changes are refused too: nothing reaches the database while it cannot be written.
    let res = api
        .as_admin(reqwest::Method::POST, "/api/polls")
        .json(&single(3))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Space returns: the node recovers by itself and counts every acknowledged vote once.
    std::fs::remove_file(&ballast).unwrap();
    serve.wait_healthy(90).await;
    let r = api
        .wait_results(&poll, |r| {
            r["voters"] == accepted && r["counts"] == json!([3, 0])
        })
        .await;
    assert_eq!(r["counts"], json!([3, 0]), "{r}");
    let _ = api
        .admin_post(&format!("/api/polls/{poll}/open"), None)
        .await;
    super::wait_for(30, "a vote taken again", || {
        let (api, poll, late) = (api.clone(), poll.clone(), late.clone());
        async move {
            (api.vote(&late, &poll, json!({"choice": 1})).await == StatusCode::ACCEPTED)
                .then_some(())
        }
    })
    .await;
    api.wait_results(&poll, |r| r["counts"] == json!([3, 1]))
        .await;
    assert_eq!(serve.child.id(), pid);
    drop(serve);
}
