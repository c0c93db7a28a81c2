//! Sessions held in this process, with the Redis store's exact contract.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{
    ActionResult, CreatedSession, Session, SessionAction, SessionDetails, SessionOutcome,
    SessionPolicy, SessionRef, millis,
};

/// The in-process session store. Cheap to clone; clones share state.
#[derive(Debug, Clone, Default)]
pub struct MemorySessions {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    sessions: HashMap<SessionRef, Entry>,
    /// Session id hashes by user tag: the index behind `List`.
    by_user: HashMap<String, BTreeSet<String>>,
}

#[derive(Debug)]
struct Entry {
    session: Session,
    /// CSRF token hash → expiry (Unix milliseconds).
    csrf: HashMap<String, u64>,
}

fn now_ms() -> u64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    millis(elapsed)
}

impl State {
    fn remove(&mut self, session: &SessionRef) -> Option<Entry> {
        if let Some(ids) = self.by_user.get_mut(&session.user_tag) {
            ids.remove(&session.id_hash);
            if ids.is_empty() {
                self.by_user.remove(&session.user_tag);
            }
        }
        self.sessions.remove(session)
    }

    /// Drops every session that has ended, so memory stays bounded by the
    /// live sessions.
    fn sweep(&mut self, now: u64, policy: &SessionPolicy) {
        let ended: Vec<SessionRef> = self
            .sessions
            .iter()
            .filter(|(_, entry)| now >= entry.session.expires_at_ms(policy))
            .map(|(session, _)| session.clone())
            .collect();
        for session in ended {
            self.remove(&session);
        }
    }
}

impl MemorySessions {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn create(
        &self,
        session: &SessionRef,
        details: &SessionDetails,
        csrf_hash: &str,
        policy: &SessionPolicy,
    ) -> CreatedSession {
        let now = now_ms();
        let absolute = now + millis(policy.absolute_ttl);
        let csrf_expiry = (now + millis(policy.csrf_ttl)).min(absolute);
        let mut state = self.lock();
        state.sweep(now, policy);
        let entry = Entry {
            session: Session {
                id_hash: session.id_hash.clone(),
                details: details.clone(),
                created_at_ms: now,
                last_seen_at_ms: now,
                absolute_expires_at_ms: absolute,
            },
            csrf: HashMap::from([(csrf_hash.to_owned(), csrf_expiry)]),
        };
        state.sessions.insert(session.clone(), entry);
        state
            .by_user
            .entry(session.user_tag.clone())
            .or_default()
            .insert(session.id_hash.clone());
        CreatedSession {
            created_at_ms: now,
            absolute_expires_at_ms: absolute,
            csrf_expires_at_ms: csrf_expiry,
        }
    }

    pub(crate) fn use_session(
        &self,
        session: &SessionRef,
        csrf_hash: Option<&str>,
        action: SessionAction<'_>,
        policy: &SessionPolicy,
    ) -> SessionOutcome {
        let now = now_ms();
        let mut state = self.lock();
        let Some(entry) = state.sessions.get_mut(session) else {
            return SessionOutcome::Unknown;
        };
        if now >= entry.session.expires_at_ms(policy) {
            state.remove(session);
            return SessionOutcome::Expired;
        }
        if let Some(hash) = csrf_hash {
            let live = entry.csrf.get(hash).is_some_and(|expiry| *expiry > now);
            if !live {
                return SessionOutcome::CsrfRefused;
            }
        }
        if action == SessionAction::End {
            let ended = state.remove(session).expect("the session was just found");
            return done(ended.session, now, ActionResult::Ended);
        }
        entry.session.last_seen_at_ms = now;
        let current = entry.session.clone();
        let result = match action {
            SessionAction::Touch | SessionAction::End => ActionResult::Touched,
            SessionAction::IssueCsrf(hash) => {
                entry.csrf.retain(|_, expiry| *expiry > now);
                let most = usize::try_from(policy.max_csrf_tokens).unwrap_or(usize::MAX);
                while entry.csrf.len() >= most.max(1) {
                    let oldest = entry
                        .csrf
                        .iter()
                        .min_by_key(|(_, expiry)| **expiry)
                        .map(|(token, _)| token.clone())
                        .expect("the map is not empty");
                    entry.csrf.remove(&oldest);
                }
                let expiry = (now + millis(policy.csrf_ttl)).min(current.absolute_expires_at_ms);
                entry.csrf.insert(hash.to_owned(), expiry);
                ActionResult::CsrfIssued {
                    expires_at_ms: expiry,
                }
            }
            SessionAction::Revoke(target) => {
                let revoked = session
                    .sibling(target)
                    .and_then(|target| state.remove(&target))
                    .is_some_and(|entry| now < entry.session.expires_at_ms(policy));
                ActionResult::Revoked(revoked)
            }
            SessionAction::RevokeOthers => {
                let others = state.user_sessions(session, now, policy);
                let mut revoked = 0;
                for other in others.into_iter().filter(|other| other != session) {
                    state.remove(&other);
                    revoked += 1;
                }
                ActionResult::RevokedOthers(revoked)
            }
            SessionAction::List => {
                let live = state.user_sessions(session, now, policy);
                let listed = live
                    .iter()
                    .filter_map(|other| state.sessions.get(other))
                    .map(|entry| entry.session.clone())
                    .collect();
                ActionResult::Listed(listed)
            }
        };
        done(current, now, result)
    }
}

impl State {
    /// The live sessions of `session`'s user, dropping ended ones.
    fn user_sessions(
        &mut self,
        session: &SessionRef,
        now: u64,
        policy: &SessionPolicy,
    ) -> Vec<SessionRef> {
        let ids: Vec<String> = self
            .by_user
            .get(&session.user_tag)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        let mut live = Vec::new();
        for id in ids {
            let Some(other) = session.sibling(&id) else {
                continue;
            };
            let ended = self
                .sessions
                .get(&other)
                .is_none_or(|entry| now >= entry.session.expires_at_ms(policy));
            if ended {
                self.remove(&other);
            } else {
                live.push(other);
            }
        }
        live
    }
}

fn done(session: Session, now: u64, result: ActionResult) -> SessionOutcome {
    SessionOutcome::Done {
        session: Box::new(session),
        now_ms: now,
        result,
    }
}
