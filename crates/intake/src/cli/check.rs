//! `intake check`: the compliance rules of SPEC section 3, one line each.
//!
//! Exits 0 when no rule fails. Unlike `serve`, it never migrates: it only
//! looks.

use std::process::ExitCode;

use intake_coordination::redis::compliance::{self, Finding, Level};
use intake_coordination::redis::{ConnectError, RedisGateway};
use intake_storage::Database;
use secrecy::ExposeSecret as _;

use crate::config::Config;

pub(super) async fn run() -> anyhow::Result<ExitCode> {
    let findings = match super::load_config() {
        Err(error) => vec![finding(Level::Fail, "configuration", error.to_string())],
        Ok(config) => {
            let mut findings = vec![check_database(&config).await];
            findings.extend(check_redis(&config).await);
            findings
        }
    };
    for finding in &findings {
        println!("{finding}");
    }
    let failed = findings.iter().any(|finding| finding.level == Level::Fail);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn finding(level: Level, rule: &'static str, detail: impl Into<String>) -> Finding {
    Finding {
        level,
        rule,
        detail: detail.into(),
    }
}

async fn check_database(config: &Config) -> Finding {
    let opened = Database::connect(config.database_url.expose_secret()).await;
    let outcome = match opened {
        Ok(database) => {
            let pinged = database.ping().await.map(|()| database.backend().as_str());
            database.close().await;
            pinged
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(backend) => finding(Level::Ok, "database", format!("{backend} database answers")),
        Err(error) => finding(Level::Fail, "database", error.to_string()),
    }
}

async fn check_redis(config: &Config) -> Vec<Finding> {
    let Some(settings) = config.redis.clone() else {
        return vec![finding(
            Level::Warn,
            "redis-configured",
            "no Redis configured: coordination is in-process, for one instance only",
        )];
    };
    match RedisGateway::connect(settings).await {
        Ok(gateway) => compliance::check(&gateway).await,
        Err(error @ ConnectError::Authentication) => {
            vec![finding(Level::Fail, "redis-auth", error.to_string())]
        }
        Err(error) => vec![finding(Level::Fail, "redis-configured", error.to_string())],
    }
}
