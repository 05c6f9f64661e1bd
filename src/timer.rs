//! Poll timers: a poll with `duration_secs` closes by itself. Intake already refuses votes
//! after `closes_at`; this task appends the `closed` event so pages and exports show it.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::poll::State;
use crate::state::{AppState, now_ms};

const TICK: Duration = Duration::from_millis(200);

pub async fn run(state: AppState, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = cancel.cancelled() => return,
        }
        close_expired(&state).await;
    }
}

/// Appends `closed` (at the timer's end time) for every open poll whose timer ran out.
async fn close_expired(state: &AppState) {
    let now = now_ms();
    let expired: Vec<(String, u64)> = state
        .polls()
        .list()
        .into_iter()
        .filter(|p| p.state == State::Open)
        .filter_map(|p| p.closes_at.filter(|c| *c <= now).map(|c| (p.id.clone(), c)))
        .collect();
    for (id, at) in expired {
        if let Err(e) = crate::service::polls::close_at(state, &id, at).await {
            tracing::warn!("closing {id} at the end of its timer: {e}");
        }
    }
}
