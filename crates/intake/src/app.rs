//! Start-up: everything a serving process needs, made once.
//!
//! The order matters. The database comes first (migrations, and in
//! development the secret key kept there); then Redis, where a wrong password
//! stops start-up but an unreachable server does not (the process serves as
//! unhealthy and connects when Redis appears); then, in production, the
//! compliance rules, any failure of which refuses to start.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use intake_coordination::Coordinator;
use intake_coordination::redis::RedisGateway;
use intake_coordination::redis::compliance::{self, Level};
use intake_storage::Database;
use rand::RngCore as _;
use secrecy::ExposeSecret as _;

use crate::audit::Auditor;
use crate::auth::oidc::IdTokenVerifier;
use crate::auth::tokens::TokenKeys;
use crate::config::{Config, Mode, SecretKey};

/// A started application: configuration and its live dependencies.
#[derive(Clone)]
pub struct App {
    /// The configuration it started with.
    pub config: Arc<Config>,
    /// Where shared state lives.
    pub coordinator: Coordinator,
    /// The SQL database, migrated.
    pub database: Database,
    /// The root of every server-side MAC.
    pub secret_key: Arc<SecretKey>,
    /// Records audit events in the log and the database's trail.
    pub audit: Auditor,
    /// Makes and recognizes session ids and CSRF tokens.
    pub tokens: TokenKeys,
    /// Verifies ID tokens, when an identity provider is configured.
    pub oidc: Option<IdTokenVerifier>,
}

impl App {
    /// Connects everything `config` names; see the module documentation for
    /// the order and what stops start-up.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let database = open_database(&config).await?;
        let secret_key = load_secret_key(&config, &database).await?;
        let oidc = config.oidc.as_ref().map(IdTokenVerifier::new).transpose()?;
        let coordinator = connect_coordinator(&config).await?;
        if config.mode == Mode::Production {
            refuse_noncompliant_redis(&coordinator).await?;
        }
        tracing::info!(
            coordination = %coordinator.describe(),
            database = database.backend().as_str(),
            mode = config.mode.as_str(),
            version = env!("CARGO_PKG_VERSION"),
            "intake starting"
        );
        let secret_key = Arc::new(secret_key);
        Ok(Self {
            config: Arc::new(config),
            coordinator,
            audit: Auditor::new(database.clone(), &secret_key),
            database,
            tokens: TokenKeys::new(secret_key.clone()),
            secret_key,
            oidc,
        })
    }
}

/// Opens and migrates the configured database.
pub async fn open_database(config: &Config) -> anyhow::Result<Database> {
    let database = Database::connect(config.database_url.expose_secret())
        .await
        .with_context(|| {
            format!(
                "DATABASE_URL: cannot open the {} database",
                config.database_scheme()
            )
        })?;
    database
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    Ok(database)
}

/// The secret key: `INTAKE_SECRET_KEY`, or in development (where it may be
/// unset) the key kept in `database`, made and stored by the first process
/// that needs one. Every command that computes or checks a MAC (`serve`,
/// `audit verify`) gets its key here, so they always agree.
pub async fn load_secret_key(config: &Config, database: &Database) -> anyhow::Result<SecretKey> {
    if let Some(key) = &config.secret_key {
        return Ok(SecretKey::new(key.expose().to_vec()).expect("a configured key is long enough"));
    }
    // Only development gets here: production refuses to start without one.
    let mut candidate = vec![0u8; SecretKey::MIN_BYTES];
    rand::rng().fill_bytes(&mut candidate);
    let stored = database
        .development_secret_key(&candidate)
        .await
        .context("cannot keep the development secret key in the database")?;
    tracing::warn!(
        "INTAKE_SECRET_KEY is not set: using a development key kept in the database; \
         set INTAKE_SECRET_KEY before storing real patient data"
    );
    SecretKey::new(stored).context("the development secret key in the database is too short")
}

/// Connects the coordinator `config` asks for.
pub async fn connect_coordinator(config: &Config) -> anyhow::Result<Coordinator> {
    let Some(settings) = config.redis.clone() else {
        return Ok(Coordinator::in_process());
    };
    let gateway = RedisGateway::connect(settings).await?;
    Ok(Coordinator::redis(gateway, &config.key_prefix))
}

async fn refuse_noncompliant_redis(coordinator: &Coordinator) -> anyhow::Result<()> {
    let Some(gateway) = coordinator.gateway() else {
        bail!("REDIS_URL: production requires Redis");
    };
    let findings = compliance::check(gateway).await;
    if findings
        .iter()
        .any(|finding| finding.rule == compliance::REACHABLE_RULE)
    {
        // An outage is not a misconfiguration: serve as unhealthy and let
        // the gateway connect when Redis appears.
        tracing::warn!("Redis is unreachable: compliance rules could not be checked at start-up");
        return Ok(());
    }
    let failures: Vec<String> = findings
        .into_iter()
        .filter(|finding| finding.level == Level::Fail)
        .map(|finding| finding.to_string())
        .collect();
    if !failures.is_empty() {
        bail!(
            "Redis does not meet the compliance rules:\n{}",
            failures.join("\n")
        );
    }
    Ok(())
}
