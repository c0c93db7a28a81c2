//! The session contract, run against Redis and against the in-process
//! coordinator: every test body runs once per store.

mod common;

use std::time::Duration;

use intake_coordination::Coordinator;
use intake_coordination::sessions::{
    ActionResult, SessionAction, SessionDetails, SessionOutcome, SessionPolicy, SessionRef,
};
use intake_testkit::redis::RedisServer;

/// A store under test; the Redis server lives as long as it does.
struct Store {
    coordinator: Coordinator,
    _server: Option<RedisServer>,
}

async fn stores() -> Vec<Store> {
    common::install_crypto_provider();
    let server = RedisServer::builder().password("s3cretpw").start();
    let gateway = common::connect(common::settings_for(&server)).await;
    vec![
        Store {
            coordinator: Coordinator::redis(gateway, "intake:"),
            _server: Some(server),
        },
        Store {
            coordinator: Coordinator::in_process(),
            _server: None,
        },
    ]
}

fn policy() -> SessionPolicy {
    SessionPolicy {
        absolute_ttl: Duration::from_secs(3600),
        idle_timeout: Some(Duration::from_secs(600)),
        csrf_ttl: Duration::from_secs(600),
        max_csrf_tokens: 3,
    }
}

fn details(user: &str) -> SessionDetails {
    SessionDetails {
        user_id: user.into(),
        organization_id: "org-1".into(),
        role: "staff".into(),
        permissions: vec!["read:forms".into(), "write:forms".into()],
        ip_address: "127.0.0.1".into(),
        user_agent: "test-agent".into(),
        session_type: "web".into(),
        auth_method: "password".into(),
    }
}

fn session(user_tag: &str, id: &str) -> SessionRef {
    SessionRef::new(user_tag, id).expect("test refs are base64url")
}

async fn create(coordinator: &Coordinator, session: &SessionRef, csrf: &str) {
    coordinator
        .create_session(session, &details("user-1"), csrf, &policy())
        .await
        .expect("created");
}

async fn act(
    coordinator: &Coordinator,
    session: &SessionRef,
    csrf: Option<&str>,
    action: SessionAction<'_>,
) -> SessionOutcome {
    coordinator
        .use_session(session, csrf, action, &policy())
        .await
        .expect("the store answers")
}

fn result(outcome: SessionOutcome) -> ActionResult {
    match outcome {
        SessionOutcome::Done { result, .. } => result,
        other => panic!("expected an authenticated session, got {other:?}"),
    }
}

#[tokio::test]
async fn a_created_session_authenticates_and_returns_its_details() {
    for store in stores().await {
        let coordinator = &store.coordinator;
        let me = session("tagA", "session1");
        create(coordinator, &me, "csrf1").await;

        let outcome = act(coordinator, &me, None, SessionAction::Touch).await;

        let SessionOutcome::Done {
            session,
            now_ms,
            result,
        } = outcome
        else {
            panic!("not authenticated: {outcome:?}");
        };
        assert_eq!(result, ActionResult::Touched);
        assert_eq!(session.details, details("user-1"));
        assert!(session.absolute_expires_at_ms > now_ms);
        assert!(session.last_seen_at_ms >= session.created_at_ms);
    }
}

#[tokio::test]
async fn an_unknown_session_is_refused() {
    for store in stores().await {
        let outcome = act(
            &store.coordinator,
            &session("tagA", "nope"),
            None,
            SessionAction::Touch,
        )
        .await;
        assert_eq!(outcome, SessionOutcome::Unknown);
    }
}

#[tokio::test]
async fn csrf_tokens_are_bound_to_their_session() {
    for store in stores().await {
        let coordinator = &store.coordinator;
        let mine = session("tagA", "mine");
        let other = session("tagA", "other");
        create(coordinator, &mine, "csrf-mine").await;
        create(coordinator, &other, "csrf-other").await;

        let valid = act(coordinator, &mine, Some("csrf-mine"), SessionAction::Touch).await;
        let foreign = act(coordinator, &mine, Some("csrf-other"), SessionAction::Touch).await;
        let made_up = act(coordinator, &mine, Some("made-up"), SessionAction::Touch).await;

        assert_eq!(result(valid), ActionResult::Touched);
        assert_eq!(foreign, SessionOutcome::CsrfRefused);
        assert_eq!(made_up, SessionOutcome::CsrfRefused);
    }
}

#[tokio::test]
async fn several_csrf_tokens_live_at_once_up_to_the_limit() {
    for store in stores().await {
        let coordinator = &store.coordinator;
        let me = session("tagA", "tabs");
        create(coordinator, &me, "first").await;
        for token in ["second", "third"] {
            let issued = act(coordinator, &me, None, SessionAction::IssueCsrf(token)).await;
            assert!(matches!(result(issued), ActionResult::CsrfIssued { .. }));
        }
        for token in ["first", "second", "third"] {
            let outcome = act(coordinator, &me, Some(token), SessionAction::Touch).await;
            assert_eq!(result(outcome), ActionResult::Touched, "{token}");
        }

        // A fourth token pushes out the oldest (the limit is three). Tokens
        // issued within one millisecond are equally old, so the test asks
        // only that one of the first three went.
        act(coordinator, &me, None, SessionAction::IssueCsrf("fourth")).await;
        let mut live = Vec::new();
        for token in ["first", "second", "third", "fourth"] {
            if act(coordinator, &me, Some(token), SessionAction::Touch).await
                != SessionOutcome::CsrfRefused
            {
                live.push(token);
            }
        }
        assert_eq!(live.len(), 3, "{live:?}");
        assert!(live.contains(&"fourth"), "{live:?}");
    }
}

#[tokio::test]
async fn ending_a_session_removes_it_and_all_its_csrf_tokens() {
    for store in stores().await {
        let coordinator = &store.coordinator;
        let me = session("tagA", "ending");
        create(coordinator, &me, "token").await;

        let ended = act(coordinator, &me, Some("token"), SessionAction::End).await;
        assert_eq!(result(ended), ActionResult::Ended);

        assert_eq!(
            act(coordinator, &me, None, SessionAction::Touch).await,
            SessionOutcome::Unknown
        );
        assert_eq!(
            act(coordinator, &me, Some("token"), SessionAction::Touch).await,
            SessionOutcome::Unknown
        );
    }
}

#[tokio::test]
async fn a_refused_csrf_token_changes_nothing() {
    for store in stores().await {
        let coordinator = &store.coordinator;
        let me = session("tagA", "kept");
        create(coordinator, &me, "token").await;

        let refused = act(coordinator, &me, Some("wrong"), SessionAction::End).await;

        assert_eq!(refused, SessionOutcome::CsrfRefused);
        assert_eq!(
            result(act(coordinator, &me, None, SessionAction::Touch).await),
            ActionResult::Touched
        );
    }
}

#[tokio::test]
async fn listing_shows_the_users_live_sessions_and_revoking_ends_them() {
    for store in stores().await {
        let coordinator = &store.coordinator;
        let me = session("tagA", "current");
        let laptop = session("tagA", "laptop");
        let phone = session("tagA", "phone");
        let someone_else = session("tagB", "theirs");
        for (reference, csrf) in [
            (&me, "c1"),
            (&laptop, "c2"),
            (&phone, "c3"),
            (&someone_else, "c4"),
        ] {
            create(coordinator, reference, csrf).await;
        }

        let ActionResult::Listed(listed) =
            result(act(coordinator, &me, None, SessionAction::List).await)
        else {
            panic!("not a list");
        };
        let mut ids: Vec<&str> = listed.iter().map(|s| s.id_hash.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["current", "laptop", "phone"]);

        let revoked = act(
            coordinator,
            &me,
            Some("c1"),
            SessionAction::Revoke("laptop"),
        )
        .await;
        assert_eq!(result(revoked), ActionResult::Revoked(true));
        assert_eq!(
            act(coordinator, &laptop, None, SessionAction::Touch).await,
            SessionOutcome::Unknown
        );
        let again = act(
            coordinator,
            &me,
            Some("c1"),
            SessionAction::Revoke("laptop"),
        )
        .await;
        assert_eq!(result(again), ActionResult::Revoked(false));

        let others = act(coordinator, &me, Some("c1"), SessionAction::RevokeOthers).await;
        assert_eq!(result(others), ActionResult::RevokedOthers(1));
        assert_eq!(
            act(coordinator, &phone, None, SessionAction::Touch).await,
            SessionOutcome::Unknown
        );
        assert_eq!(
            result(act(coordinator, &me, None, SessionAction::Touch).await),
            ActionResult::Touched
        );
        assert_eq!(
            result(act(coordinator, &someone_else, None, SessionAction::Touch).await),
            ActionResult::Touched,
            "another user's session is untouched"
        );
    }
}

#[tokio::test]
async fn a_session_idle_past_its_timeout_expires() {
    for store in stores().await {
        let coordinator = &store.coordinator;
        let short = SessionPolicy {
            idle_timeout: Some(Duration::from_millis(300)),
            ..policy()
        };
        let me = session("tagA", "idle");
        coordinator
            .create_session(&me, &details("user-1"), "token", &short)
            .await
            .unwrap();
        // The idle timeout is the behaviour under test: time must pass.
        tokio::time::sleep(Duration::from_millis(450)).await;
        let outcome = coordinator
            .use_session(&me, None, SessionAction::Touch, &short)
            .await
            .unwrap();
        assert!(
            matches!(outcome, SessionOutcome::Expired | SessionOutcome::Unknown),
            "{outcome:?}"
        );
    }
}

#[tokio::test]
async fn refs_that_are_not_base64url_are_refused_before_reaching_a_key() {
    assert!(SessionRef::new("tag}", "id").is_none());
    assert!(SessionRef::new("tag", "a:b").is_none());
    assert!(SessionRef::new("", "id").is_none());
    assert!(SessionRef::new("tag_-09", "Az-_").is_some());
}

#[tokio::test]
async fn redis_holds_only_prefixed_keys_with_a_ttl_and_no_raw_token() {
    common::install_crypto_provider();
    let server = RedisServer::builder().password("s3cretpw").start();
    let coordinator = Coordinator::redis(
        common::connect(common::settings_for(&server)).await,
        "intake:",
    );
    let me = session("tagA", "hashedid");
    create(&coordinator, &me, "hashedcsrf").await;
    act(&coordinator, &me, None, SessionAction::IssueCsrf("second")).await;

    let keys = server.cli(&["--scan", "--pattern", "*"]);
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    for key in keys {
        assert!(
            key.starts_with("intake:") && key.contains("{tagA}"),
            "{key}"
        );
        let ttl: i64 = server.cli(&["PTTL", key]).parse().unwrap();
        assert!(ttl > 0, "{key} has no TTL");
    }
}
