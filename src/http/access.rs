//! Who may do what: the admin token (everything), the presenter key and the moderator key
//! (each a part; see docs/api.md "Scoped keys"). A request without any of them gets 401; one
//! with a key that may not do this gets 403 `forbidden`, and nothing changes.

use warp::Filter;
use warp::http::HeaderMap;
use warp::http::header::AUTHORIZATION;

use super::error::ApiError;
use super::{ADMIN_COOKIE, cookie, with_state};
use crate::auth::{ROLE_COOKIE, Role};
use crate::state::AppState;

/// What the presenter key opens (and the admin token).
pub const PRESENT: &[Role] = &[Role::Admin, Role::Presenter];
/// What the moderator key opens (and the admin token).
pub const MODERATE: &[Role] = &[Role::Admin, Role::Moderator];
/// Admin only.
pub const ADMIN: &[Role] = &[Role::Admin];

/// The role of a request: the admin bearer or session cookie first, then a scoped key's bearer
/// or session cookie. Headers are read as bytes: one that is not ASCII counts as absent.
pub fn role_in(state: &AppState, headers: &HeaderMap) -> Option<Role> {
    let bearer = headers.get(AUTHORIZATION).map(|v| v.as_bytes());
    if state.keys.is_admin_bearer(bearer)
        || state
            .keys
            .is_admin_session(cookie(headers, ADMIN_COOKIE).as_deref())
    {
        return Some(Role::Admin);
    }
    state.roles.bearer_role(bearer).or_else(|| {
        state
            .roles
            .session_role(cookie(headers, ROLE_COOKIE).as_deref())
    })
}

/// The caller's role, if any (never rejects).
pub fn role(
    state: AppState,
) -> impl Filter<Extract = (Option<Role>,), Error = warp::Rejection> + Clone {
    with_state(state)
        .and(warp::header::headers_cloned())
        .and_then(|state: AppState, headers: HeaderMap| async move {
            Ok::<_, warp::Rejection>(role_in(&state, &headers))
        })
}

/// True if the caller's role is one of `roles` (never rejects).
pub fn is_one_of(
    state: AppState,
    roles: &'static [Role],
) -> impl Filter<Extract = (bool,), Error = warp::Rejection> + Clone {
    role(state).map(move |r: Option<Role>| r.is_some_and(|r| roles.contains(&r)))
}

/// Passes a caller whose role is in `allowed`: 401 without any key, 403 with another one.
pub fn allow(
    state: AppState,
    allowed: &'static [Role],
) -> impl Filter<Extract = (AppState,), Error = warp::Rejection> + Clone {
    with_state(state)
        .and(warp::header::headers_cloned())
        .and_then(move |state: AppState, headers: HeaderMap| async move {
            check(role_in(&state, &headers), allowed)
                .map(|()| state)
                .map_err(warp::reject::custom)
        })
}

/// Ok if `role` is in `allowed`: 401 without any key, 403 with another one.
pub fn check(role: Option<Role>, allowed: &[Role]) -> Result<(), ApiError> {
    match role {
        Some(r) if allowed.contains(&r) => Ok(()),
        Some(_) => Err(ApiError::Forbidden(
            "this key may not do that: it needs the admin token".into(),
        )),
        None => Err(ApiError::Unauthorized(
            "this needs Authorization: Bearer ADMIN_TOKEN (or a key allowed to do it)".into(),
        )),
    }
}
