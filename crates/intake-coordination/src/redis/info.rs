//! What `/health` and `intake check` read from Redis `INFO`.

use redis::Value;

/// The fields of `INFO server clients memory replication` intake reports.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ServerInfo {
    /// `redis_version`, e.g. `7.2.4`.
    pub redis_version: String,
    /// `role`: `master` or `slave`.
    pub role: String,
    /// `connected_clients`.
    pub connected_clients: u64,
    /// `used_memory` in bytes.
    pub used_memory: u64,
    /// `maxmemory` in bytes; 0 means no limit.
    pub maxmemory: u64,
    /// `used_memory / maxmemory`, or `None` when there is no limit.
    pub memory_usage_ratio: Option<f64>,
    /// `maxmemory_policy`, e.g. `noeviction`.
    #[serde(skip)]
    pub maxmemory_policy: String,
}

impl ServerInfo {
    /// Parses the text of an `INFO` reply. A Cluster connection answers with
    /// one text per node; the first is used.
    pub fn from_value(value: &Value) -> Self {
        match value {
            Value::BulkString(bytes) => Self::parse(&String::from_utf8_lossy(bytes)),
            Value::VerbatimString { text, .. } | Value::SimpleString(text) => Self::parse(text),
            Value::Map(entries) => entries
                .first()
                .map(|(_, text)| Self::from_value(text))
                .unwrap_or_default(),
            _ => Self::default(),
        }
    }

    /// Parses `INFO` text: `field:value` lines, `#` section headers.
    pub fn parse(text: &str) -> Self {
        let mut info = Self::default();
        for line in text.lines() {
            let Some((field, value)) = line.trim_end().split_once(':') else {
                continue;
            };
            let number = || value.parse().unwrap_or(0);
            match field {
                "redis_version" => info.redis_version = value.to_owned(),
                "role" => info.role = value.to_owned(),
                "connected_clients" => info.connected_clients = number(),
                "used_memory" => info.used_memory = number(),
                "maxmemory" => info.maxmemory = number(),
                "maxmemory_policy" => info.maxmemory_policy = value.to_owned(),
                _ => {}
            }
        }
        info.memory_usage_ratio =
            (info.maxmemory > 0).then(|| info.used_memory as f64 / info.maxmemory as f64);
        info
    }

    /// The server version as `(major, minor)`, if it parses.
    pub fn version(&self) -> Option<(u32, u32)> {
        let mut parts = self.redis_version.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some((major, minor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# Server\r\nredis_version:7.2.4\r\nredis_mode:standalone\r\n\
        # Clients\r\nconnected_clients:12\r\n# Memory\r\nused_memory:900\r\n\
        maxmemory:1000\r\nmaxmemory_policy:noeviction\r\n# Replication\r\nrole:master\r\n";

    #[test]
    fn reads_the_reported_fields_and_the_memory_ratio() {
        let info = ServerInfo::parse(SAMPLE);
        assert_eq!(info.redis_version, "7.2.4");
        assert_eq!(info.role, "master");
        assert_eq!(info.connected_clients, 12);
        assert_eq!((info.used_memory, info.maxmemory), (900, 1000));
        assert_eq!(info.memory_usage_ratio, Some(0.9));
        assert_eq!(info.maxmemory_policy, "noeviction");
        assert_eq!(info.version(), Some((7, 2)));
    }

    #[test]
    fn no_memory_limit_means_no_ratio() {
        let info = ServerInfo::parse("used_memory:900\r\nmaxmemory:0\r\n");
        assert_eq!(info.memory_usage_ratio, None);
    }
}
