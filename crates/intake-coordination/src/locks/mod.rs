//! Distributed locks (SPEC section 7), in Redis or in process.
//!
//! A lock on resource R is the key `{prefix}lock:{R}`, the braces literal
//! (a Cluster hash tag), holding a random 128-bit owner token, set with
//! `NX` and a TTL. Release and extend are compare-and-act scripts: only the
//! owner can do either. Each acquisition also increments the counter
//! `{prefix}lock-fence:{R}` (same hash tag, so one script reaches both) and
//! returns it as the *fencing token*: it grows with every acquisition of R,
//! so a store that records the highest token it has seen can refuse writes
//! from a holder that lost the lock without knowing it. The counter has a
//! TTL of 30 days, refreshed on every acquisition; a counter that vanished
//! starts again from the store's clock in microseconds, above every token
//! it could have issued, so tokens keep growing.
//!
//! [`Coordinator::acquire_lock`] returns a [`LockGuard`]. While it lives, a
//! background task extends the lease every third of its TTL. The guard
//! tells its holder when the lock is lost ([`LockGuard::lost`]): when a
//! renewal is refused (someone else holds it now), or when the lease runs
//! out by the holder's own monotonic clock before a renewal succeeded (the
//! store unreachable, the process paused). The lease is counted from just
//! before the acquire or extend request was sent, so the holder's clock
//! never believes in a lease longer than the store's. Once lost, a guard
//! stays lost.
//!
//! Waiting for a held lock retries with jittered exponential backoff
//! (never sleeping past the holder's remaining lease or the deadline). An
//! unreachable store ends the wait at once with [`LockError::Unavailable`]:
//! waiting for Redis would only delay the 503.
//!
//! Releasing is [`LockGuard::release`]; dropping a guard releases too,
//! without blocking: the release is spawned on the runtime (with no runtime
//! left, the lease simply runs out).
//!
//! Known limits: an acquire whose answer is lost (a timeout after Redis
//! ran the script, or the caller's future dropped mid-call) leaves the key
//! held, unrenewed, until its TTL ends. Fencing tokens protect only the
//! stores that check them.

mod memory;
mod redis;

pub use memory::MemoryLocks;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::Rng as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::redis::RedisLocks;
use crate::Coordinator;
use crate::clock::millis;
use crate::redis::GatewayError;

/// Longest pause between two attempts while waiting for a lock.
const MAX_BACKOFF: Duration = Duration::from_millis(250);
/// First pause while waiting for a lock.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// Longest resource name.
const MAX_RESOURCE_LEN: usize = 200;
/// Longest wait for a lock; longer waits count as this.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);
/// Longest lease one acquisition or renewal grants. Work that runs longer
/// is covered by renewal, not by a longer lease.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// Why a lock was not acquired (or could not be extended or released).
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another owner holds the lock (until the deadline, when waiting).
    #[error("the lock is held by another owner")]
    Contended {
        /// The holder's remaining lease at the last attempt, when known:
        /// a fair `Retry-After`.
        held_for: Option<Duration>,
    },
    /// The store is unreachable (breaker open, timeout, refused
    /// connection).
    #[error("the lock store is unavailable: {0}")]
    Unavailable(GatewayError),
    /// Redis answered with an error (a script error, a wrong type).
    #[error("the lock store refused the command: {0}")]
    Store(GatewayError),
    /// The resource name is not 1 to 200 characters of
    /// `A-Z a-z 0-9 - _ . :` (it must not shape the key or its slot).
    #[error("a lock resource is 1 to 200 characters of A-Z a-z 0-9 - _ . :")]
    InvalidResource,
    /// The TTL is shorter than one millisecond or longer than a day.
    #[error("a lock's TTL must be from one millisecond to one day")]
    InvalidTtl,
}

impl LockError {
    /// Whether another owner holds the lock (409 at the HTTP layer).
    pub fn is_contended(&self) -> bool {
        matches!(self, Self::Contended { .. })
    }

    /// Whether the store could not be used (503 at the HTTP layer).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Store(_))
    }
}

impl From<GatewayError> for LockError {
    fn from(error: GatewayError) -> Self {
        if error.is_unavailable() {
            Self::Unavailable(error)
        } else {
            Self::Store(error)
        }
    }
}

/// One try at taking a lock, as a store reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Taken, with this fencing token.
    Acquired { fencing_token: u64 },
    /// Someone else holds it, for this much longer if known.
    Held { held_for: Option<Duration> },
}

/// Where locks live, owned so that background tasks can use it.
#[derive(Clone)]
enum LockStore {
    Redis(RedisLocks),
    Memory(MemoryLocks),
}

impl LockStore {
    async fn acquire(
        &self,
        resource: &str,
        owner: &Arc<str>,
        ttl: Duration,
    ) -> Result<Attempt, LockError> {
        match self {
            Self::Redis(redis) => Ok(redis.acquire(resource, owner, ttl).await?),
            Self::Memory(memory) => Ok(memory.acquire(resource, owner, ttl)),
        }
    }

    async fn extend(&self, resource: &str, owner: &str, ttl: Duration) -> Result<bool, LockError> {
        match self {
            Self::Redis(redis) => Ok(redis.extend(resource, owner, ttl).await?),
            Self::Memory(memory) => Ok(memory.extend(resource, owner, ttl)),
        }
    }

    async fn release(&self, resource: &str, owner: &str) -> Result<bool, LockError> {
        match self {
            Self::Redis(redis) => Ok(redis.release(resource, owner).await?),
            Self::Memory(memory) => Ok(memory.release(resource, owner)),
        }
    }
}

/// Whether `resource` is 1 to 200 characters of `A-Z a-z 0-9 - _ . :`.
fn is_resource_name(resource: &str) -> bool {
    (1..=MAX_RESOURCE_LEN).contains(&resource.len())
        && resource
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':'))
}

/// A new owner token: 128 random bits from the thread's CSPRNG, as hex.
fn new_owner_token() -> Arc<str> {
    let bits: u128 = rand::rng().random();
    Arc::from(format!("{bits:032x}"))
}

/// Jittered exponential backoff: each pause is drawn from the upper half
/// of a ceiling that doubles from [`FIRST_BACKOFF`] to [`MAX_BACKOFF`], so
/// waiters that collided once spread out.
struct Backoff {
    ceiling: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self {
            ceiling: FIRST_BACKOFF,
        }
    }

    fn next_pause(&mut self) -> Duration {
        let ceiling = micros_u64(self.ceiling);
        self.ceiling = (self.ceiling * 2).min(MAX_BACKOFF);
        Duration::from_micros(rand::rng().random_range(ceiling / 2..=ceiling))
    }
}

fn micros_u64(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

impl Coordinator {
    /// Takes the lock on `resource` (e.g. `pdf:RESPONSE_ID`) for `ttl`,
    /// renewed automatically while the guard lives.
    ///
    /// With `wait` `None`, tries once; with `Some(limit)`, retries with
    /// jittered backoff until `limit` (at most a day) has passed. Fails with
    /// [`LockError::Contended`] when another owner holds it, and with
    /// [`LockError::Unavailable`] at once when the store cannot be reached.
    /// `ttl` is counted in whole milliseconds, from 1 ms to one day.
    pub async fn acquire_lock(
        &self,
        resource: &str,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<LockGuard, LockError> {
        if !is_resource_name(resource) {
            return Err(LockError::InvalidResource);
        }
        let ttl = Duration::from_millis(millis(ttl));
        if ttl.is_zero() || ttl > MAX_TTL {
            return Err(LockError::InvalidTtl);
        }
        let store = self.lock_store();
        let owner = new_owner_token();
        let deadline = wait.map(|wait| Instant::now() + wait.min(MAX_WAIT));
        let mut backoff = Backoff::new();
        loop {
            let sent_at = Instant::now();
            let held_for = match store.acquire(resource, &owner, ttl).await? {
                Attempt::Acquired { fencing_token } => {
                    let held = Held {
                        store,
                        resource: Arc::from(resource),
                        owner,
                        ttl,
                    };
                    return Ok(LockGuard::start(held, fencing_token, sent_at));
                }
                Attempt::Held { held_for } => {
                    metrics::counter!("intake_lock_contentions_total").increment(1);
                    held_for
                }
            };
            let Some(remaining) = deadline
                .and_then(|deadline| deadline.checked_duration_since(Instant::now()))
                .filter(|remaining| !remaining.is_zero())
            else {
                return Err(LockError::Contended { held_for });
            };
            let mut pause = backoff.next_pause().min(remaining);
            if let Some(held_for) = held_for {
                pause = pause.min(held_for + Duration::from_millis(1));
            }
            tokio::time::sleep(pause).await;
        }
    }

    fn lock_store(&self) -> LockStore {
        match self {
            Self::Redis(redis) => LockStore::Redis(RedisLocks::new(
                redis.gateway().clone(),
                Arc::clone(redis.key_prefix()),
            )),
            Self::InProcess(memory) => LockStore::Memory(memory.locks().clone()),
        }
    }
}

/// What a guard and its renewal task share: where the lock is and who
/// owns it.
#[derive(Clone)]
struct Held {
    store: LockStore,
    resource: Arc<str>,
    owner: Arc<str>,
    ttl: Duration,
}

/// The lease as the holder's monotonic clock sees it.
struct Lease {
    /// When the lease runs out unless renewed.
    expires_at: Mutex<Instant>,
    /// Fired once when the lock is lost; never reset.
    lost: CancellationToken,
    /// Fired when the guard is released or dropped: renewal stops.
    stop: CancellationToken,
}

impl Lease {
    fn expires_at(&self) -> MutexGuard<'_, Instant> {
        self.expires_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a renewal whose request was sent at `sent_at`.
    fn renewed(&self, sent_at: Instant, ttl: Duration) {
        let mut expires_at = self.expires_at();
        *expires_at = (*expires_at).max(sent_at + ttl);
    }

    fn has_run_out(&self) -> bool {
        Instant::now() >= *self.expires_at()
    }

    /// Resolves once the lease has run out (following renewals).
    async fn run_out(&self) {
        loop {
            let expires_at = *self.expires_at();
            tokio::time::sleep_until(expires_at).await;
            if self.has_run_out() {
                return;
            }
        }
    }

    /// Signals the loss, unless the guard was already let go.
    fn lose(&self, resource: &str, why: &'static str) {
        if !self.stop.is_cancelled() && !self.lost.is_cancelled() {
            tracing::warn!(resource, why, "lock lost");
            self.lost.cancel();
        }
    }
}

/// A held lock. Renewed in the background while it lives; released when
/// [released](Self::release) or dropped.
pub struct LockGuard {
    held: Held,
    fencing_token: u64,
    lease: Arc<Lease>,
    released: bool,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The owner token stays out of logs: with it anyone could release
        // the lock.
        formatter
            .debug_struct("LockGuard")
            .field("resource", &self.held.resource)
            .field("fencing_token", &self.fencing_token)
            .field("lost", &self.lease.lost.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl LockGuard {
    fn start(held: Held, fencing_token: u64, sent_at: Instant) -> Self {
        let lease = Arc::new(Lease {
            expires_at: Mutex::new(sent_at + held.ttl),
            lost: CancellationToken::new(),
            stop: CancellationToken::new(),
        });
        tokio::spawn(renew(held.clone(), Arc::clone(&lease), sent_at));
        Self {
            held,
            fencing_token,
            lease,
            released: false,
        }
    }

    /// The locked resource.
    pub fn resource(&self) -> &str {
        &self.held.resource
    }

    /// The fencing token of this acquisition: larger than that of every
    /// earlier acquisition of the same resource.
    pub fn fencing_token(&self) -> u64 {
        self.fencing_token
    }

    /// The lease length each renewal grants.
    pub fn ttl(&self) -> Duration {
        self.held.ttl
    }

    /// Whether the lock has been lost.
    pub fn is_lost(&self) -> bool {
        self.lease.lost.is_cancelled()
    }

    /// Resolves when the lock is lost: a renewal was refused, or the lease
    /// ran out before a renewal succeeded. Work guarded by the lock should
    /// `select!` on it and stop. Never resolves after a release.
    pub fn lost(&self) -> impl Future<Output = ()> + Send + '_ {
        self.lease.lost.cancelled()
    }

    /// A token cancelled when the lock is lost, to hand to work that does
    /// not hold the guard. Cancelling it affects nothing else.
    pub fn lost_signal(&self) -> CancellationToken {
        self.lease.lost.child_token()
    }

    /// Extends the lease by the TTL now, beside the automatic renewal.
    /// `Ok(false)` (and the lock is lost) when the lock is no longer this
    /// guard's; a lost guard answers `Ok(false)` without asking the store.
    pub async fn extend(&self) -> Result<bool, LockError> {
        if self.is_lost() {
            return Ok(false);
        }
        let sent_at = Instant::now();
        let extended = self
            .held
            .store
            .extend(&self.held.resource, &self.held.owner, self.held.ttl)
            .await?;
        if extended {
            self.lease.renewed(sent_at, self.held.ttl);
        } else {
            self.lease.lose(&self.held.resource, "extension refused");
        }
        Ok(extended)
    }

    /// Stops renewal and releases the lock. `Ok(true)` when this guard
    /// still owned it; `Ok(false)` when it had already lost it (the key,
    /// now someone else's or gone, is left alone). When the store cannot
    /// be reached the lease, no longer renewed, runs out by itself.
    pub async fn release(mut self) -> Result<bool, LockError> {
        self.released = true;
        self.lease.stop.cancel();
        self.held
            .store
            .release(&self.held.resource, &self.held.owner)
            .await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        self.lease.stop.cancel();
        if let LockStore::Memory(memory) = &self.held.store {
            memory.release(&self.held.resource, &self.held.owner);
            return;
        }
        // Dropping must not block: the release runs on the runtime. With
        // no runtime left, the lease runs out by itself.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let held = self.held.clone();
        runtime.spawn(async move {
            if let Err(error) = held.store.release(&held.resource, &held.owner).await {
                tracing::debug!(
                    error = %error,
                    "dropped lock not released; its lease will run out"
                );
            }
        });
    }
}

/// Renews the lease every third of its TTL until the guard lets go, and
/// signals the loss when a renewal is refused or the lease runs out first.
async fn renew(held: Held, lease: Arc<Lease>, acquired_at: Instant) {
    let every = held.ttl / 3;
    let mut next = acquired_at + every;
    loop {
        tokio::select! {
            biased;
            () = lease.stop.cancelled() => return,
            () = lease.run_out() => break,
            () = tokio::time::sleep_until(next) => {}
        }
        // A paused process wakes here late: trust the clock, not the
        // store, once the lease has run out.
        if lease.has_run_out() {
            break;
        }
        let sent_at = Instant::now();
        let outcome = tokio::select! {
            biased;
            () = lease.stop.cancelled() => return,
            () = lease.run_out() => break,
            outcome = held.store.extend(&held.resource, &held.owner, held.ttl) => outcome,
        };
        match outcome {
            Ok(true) => {
                lease.renewed(sent_at, held.ttl);
                next = sent_at + every;
            }
            Ok(false) => {
                lease.lose(&held.resource, "renewal refused");
                return;
            }
            Err(error) => {
                // Try again sooner; the lease's own end still bounds it.
                tracing::warn!(resource = &*held.resource, error = %error, "lock renewal failed");
                next = Instant::now() + every / 2;
            }
        }
    }
    lease.lose(&held.resource, "lease ran out before a renewal succeeded");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_cannot_shape_the_key() {
        assert!(is_resource_name("pdf:6f1c0d3e-1b2a-4c5d-8e9f-0a1b2c3d4e5f"));
        for bad in ["", "pdf:{x}", "a}b", "a b", "é", &"x".repeat(201)] {
            assert!(!is_resource_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn owner_tokens_are_128_random_bits() {
        let first = new_owner_token();
        assert_eq!(first.len(), 32);
        assert!(first.bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_ne!(first, new_owner_token());
    }

    #[test]
    fn backoff_is_jittered_within_a_doubling_ceiling() {
        let mut backoff = Backoff::new();
        let mut ceiling = FIRST_BACKOFF;
        for _ in 0..10 {
            let pause = backoff.next_pause();
            assert!(
                pause >= ceiling / 2 && pause <= ceiling,
                "{pause:?} {ceiling:?}"
            );
            ceiling = (ceiling * 2).min(MAX_BACKOFF);
        }
    }
}
