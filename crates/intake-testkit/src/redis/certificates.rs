//! A certificate authority and a server certificate for a TLS test server,
//! made with the `openssl` command in the server's temporary directory.
//!
//! Keys are ECDSA P-256, quick to generate. The server certificate names
//! `IP:127.0.0.1` and `DNS:localhost` as subject alternative names, because
//! rustls checks only those, and is valid for two days.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const CA_CONFIG: &str = "\
[req]
distinguished_name = subject
prompt = no
x509_extensions = ca_extensions

[subject]
CN = intake test CA

[ca_extensions]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
";

/// The server certificate's configuration; `{CN}` and `{SAN}` are filled
/// in by [`server_config`].
const SERVER_CONFIG: &str = "\
[req]
distinguished_name = subject
prompt = no

[subject]
CN = {CN}

[server_extensions]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
{SAN}subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// The server configuration: names in subject alternative names (the usual
/// way), or the address in the common name alone (GCP Memorystore's way).
fn server_config(name_in_common_name_only: bool) -> String {
    let (common_name, alternative_names) = if name_in_common_name_only {
        ("127.0.0.1", "")
    } else {
        (
            "localhost",
            "subjectAltName = IP:127.0.0.1, DNS:localhost\n",
        )
    };
    SERVER_CONFIG
        .replace("{CN}", common_name)
        .replace("{SAN}", alternative_names)
}

/// Arguments that make `openssl req` create a new, unencrypted P-256 key.
const NEW_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

/// The PEM files a TLS server needs, all inside one directory.
#[derive(Clone, Debug)]
pub(super) struct TlsFiles {
    /// The certificate of the CA that signed the server certificate.
    pub(super) ca_certificate: PathBuf,
    /// The server certificate.
    pub(super) certificate: PathBuf,
    /// The server certificate's private key.
    pub(super) private_key: PathBuf,
}

impl TlsFiles {
    /// Generates a CA and a server certificate signed by it in `directory`;
    /// see [`server_config`] for `name_in_common_name_only`.
    pub(super) fn generate(
        directory: &Path,
        name_in_common_name_only: bool,
    ) -> Result<Self, String> {
        write_file(&directory.join("ca.cnf"), CA_CONFIG)?;
        write_file(
            &directory.join("server.cnf"),
            &server_config(name_in_common_name_only),
        )?;

        let new_ca = ["req", "-x509", "-config", "ca.cnf", "-days", "2"];
        let ca_files = ["-keyout", "ca.key", "-out", "ca.crt"];
        let arguments = [&new_ca[..], &NEW_KEY, &ca_files].concat();
        run_openssl(directory, &arguments)?;

        let new_request = ["req", "-new", "-config", "server.cnf"];
        let request_files = ["-keyout", "server.key", "-out", "server.csr"];
        let arguments = [&new_request[..], &NEW_KEY, &request_files].concat();
        run_openssl(directory, &arguments)?;

        let sign = ["x509", "-req", "-in", "server.csr", "-days", "2"];
        let authority = ["-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"];
        let extensions = ["-extfile", "server.cnf", "-extensions", "server_extensions"];
        let signed_file = ["-out", "server.crt"];
        let arguments = [&sign[..], &authority, &extensions, &signed_file].concat();
        run_openssl(directory, &arguments)?;

        Ok(Self {
            ca_certificate: directory.join("ca.crt"),
            certificate: directory.join("server.crt"),
            private_key: directory.join("server.key"),
        })
    }
}

fn write_file(path: &Path, contents: &str) -> Result<(), String> {
    fs::write(path, contents)
        .map_err(|error| format!("failed to write {}: {error}", path.display()))
}

fn run_openssl(directory: &Path, arguments: &[&str]) -> Result<(), String> {
    let output = Command::new("openssl")
        .current_dir(directory)
        .args(arguments)
        .output()
        .map_err(|error| format!("failed to run openssl: {error}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "openssl {} failed ({}):\n{}",
        arguments.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    ))
}
