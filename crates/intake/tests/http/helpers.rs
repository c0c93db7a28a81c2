//! Starting intake for a test: in this process on port 0, or as the built
//! binary.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use intake::{App, Config};
use intake_testkit::database::TestDatabase;
use intake_testkit::process::WatchedProcess;
use intake_testkit::redis::RedisServer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Long enough for any start-up on a loaded CI machine.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Configuration from `pairs`, as the environment would give it, with a
/// database of the test's own.
pub fn config(database: &TestDatabase, pairs: &[(&str, &str)]) -> Config {
    let mut variables: HashMap<String, String> = pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    variables
        .entry("DATABASE_URL".into())
        .or_insert_with(|| database.url());
    Config::from_lookup(|name| variables.get(name).cloned()).expect("valid test configuration")
}

/// The variables that point intake at `server` (password and TLS included).
pub fn redis_variables(server: &RedisServer) -> Vec<(&'static str, String)> {
    let mut variables = vec![("REDIS_URL", server.url())];
    if let Some(ca) = server.ca_cert_path() {
        variables.push(("REDIS_CA_CERT", ca.display().to_string()));
    }
    variables
}

/// intake running in this process on a free port.
pub struct TestApp {
    /// Where it listens.
    pub address: SocketAddr,
    /// A client for it.
    pub client: reqwest::Client,
    /// The started application (its database, coordinator and keys).
    pub app: App,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _database: Option<TestDatabase>,
}

impl TestApp {
    /// Starts intake with `pairs` as its environment.
    pub async fn spawn(pairs: &[(&str, &str)]) -> Self {
        let database = TestDatabase::sqlite();
        let config = config(&database, pairs);
        Self::spawn_with(config, database).await
    }

    /// Starts intake with a configuration the test adjusted.
    pub async fn spawn_with(config: Config, database: TestDatabase) -> Self {
        Self::start(config, Some(database)).await
    }

    /// Starts a second instance on a database another `TestApp` owns.
    pub async fn spawn_sharing(config: Config) -> Self {
        Self::start(config, None).await
    }

    async fn start(config: Config, database: Option<TestDatabase>) -> Self {
        intake::telemetry::install_crypto_provider();
        let app = App::start(config).await.expect("intake starts");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = tokio::spawn(intake::http::serve(app.clone(), listener, async {
            let _ = signal.await;
        }));
        Self {
            address,
            client: reqwest::Client::new(),
            app,
            shutdown: Some(shutdown),
            server: Some(server),
            _database: database,
        }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// `GET /health` as status and JSON.
    pub async fn health(&self) -> (u16, serde_json::Value) {
        let response = self.get("/health").await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("health is JSON"))
    }

    /// Stops serving and waits for in-flight requests to finish.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The built `intake` binary with only `variables` in its environment,
/// run in `directory`.
pub fn intake_command(directory: &Path, variables: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_intake"));
    command
        .env_clear()
        .current_dir(directory)
        .envs(variables.iter().copied());
    command
}

/// Runs `intake ARGS` to completion.
pub fn run_intake(directory: &Path, arguments: &[&str], variables: &[(&str, &str)]) -> Output {
    intake_command(directory, variables)
        .args(arguments)
        .output()
        .expect("intake runs")
}

/// Runs `intake ARGS` to completion with `input` as its stdin.
pub fn run_intake_with_stdin(
    directory: &Path,
    arguments: &[&str],
    variables: &[(&str, &str)],
    input: &str,
) -> Output {
    let mut child = intake_command(directory, variables)
        .args(arguments)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("intake starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // intake may refuse before reading stdin and close it; a broken pipe
    // then is expected, and the exit status tells the story.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    child.wait_with_output().expect("intake runs")
}

/// `intake serve` as a child process, and the address it listens on.
pub struct ServingBinary {
    /// The process (killed when dropped).
    pub process: WatchedProcess,
    /// Where it listens.
    pub address: String,
}

impl ServingBinary {
    /// Starts `intake serve` in `directory` on a free port and waits for its
    /// `intake listening` line.
    pub fn start(directory: &Path, variables: &[(&str, &str)]) -> Self {
        let mut command = intake_command(directory, variables);
        command.env("INTAKE_LISTEN", "127.0.0.1:0").arg("serve");
        let process = WatchedProcess::spawn("intake serve", command).expect("intake starts");
        process
            .wait_for_line("intake listening", START_TIMEOUT)
            .unwrap_or_else(|error| panic!("{error}\n{}", process.output().text()));
        let address = process
            .output()
            .lines()
            .iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find_map(|line| line["listen"].as_str().map(str::to_owned))
            .expect("the listening line names the address");
        Self { process, address }
    }
}

/// The password of every user a test makes with [`TestApp::add_user`].
pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-in client: its session cookie and latest CSRF token.
pub struct SignedIn {
    /// `session=VALUE`, as a `Cookie` header carries it.
    pub cookie: String,
    /// The cookie's value alone.
    pub cookie_value: String,
    /// The CSRF token the sign-in answered.
    pub csrf: String,
}

impl SignedIn {
    /// Sends `method path` with the session and CSRF token, and a JSON body.
    pub async fn send(
        &self,
        app: &TestApp,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = app
            .client
            .request(method, app.url(path))
            .header(reqwest::header::COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    /// [`SignedIn::send`], answering the status and the JSON body.
    pub async fn call(
        &self,
        app: &TestApp,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let response = self.send(app, method, path, body).await;
        let status = response.status();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }
}

impl TestApp {
    /// Makes a user of `organization` (created when missing) with `role`
    /// and [`PASSWORD`]; answers the user's id.
    pub async fn add_user(&self, organization: &str, email: &str, role: &str) -> String {
        let database = &self.app.database;
        let organization = match database.organization_by_name(organization).await.unwrap() {
            Some(found) => found,
            None => database.create_organization(organization).await.unwrap(),
        };
        let hash = intake::auth::password::hash_password(PASSWORD.to_owned().into())
            .await
            .unwrap();
        let user = database
            .create_user(intake_storage::NewUser {
                organization_id: organization.id,
                email: Some(email.to_owned()),
                role: role.to_owned(),
                password_hash: Some(hash),
                oidc: None,
            })
            .await
            .unwrap();
        user.id
    }

    /// Signs `email` in with [`PASSWORD`].
    pub async fn sign_in(&self, email: &str) -> SignedIn {
        let response = self
            .client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "sign-in of {email}");
        let set_cookie = response.headers()[reqwest::header::SET_COOKIE]
            .to_str()
            .unwrap();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let cookie_value = cookie.split_once('=').unwrap().1.to_owned();
        let body: serde_json::Value = response.json().await.unwrap();
        SignedIn {
            cookie,
            cookie_value,
            csrf: body["csrfToken"].as_str().unwrap().to_owned(),
        }
    }
}

/// The `INTAKE_SECRET_KEY` of apps made by [`redis_app`] and [`redis_pair`]:
/// instances share it as they share Redis.
pub const SECRET_KEY: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn redis_config(
    server: &RedisServer,
    database: &TestDatabase,
    database_url: &str,
    extra: &[(&str, &str)],
) -> Config {
    let url = server.url();
    let mut pairs = vec![
        ("REDIS_URL", url.as_str()),
        ("INTAKE_SECRET_KEY", SECRET_KEY),
        ("DATABASE_URL", database_url),
    ];
    pairs.extend_from_slice(extra);
    config(database, &pairs)
}

/// intake coordinating through `server`, with `extra` in its environment.
pub async fn redis_app(server: &RedisServer, extra: &[(&str, &str)]) -> TestApp {
    redis_pair(server, extra).await.0
}

/// Two instances of intake sharing `server` and one database, as two
/// processes behind a load balancer would: each has its own pool,
/// coordinator and in-process fallback.
pub async fn redis_pair(server: &RedisServer, extra: &[(&str, &str)]) -> (TestApp, TestApp) {
    let database = TestDatabase::sqlite();
    let url = database.url();
    let first_config = redis_config(server, &database, &url, extra);
    let second_config = redis_config(server, &database, &url, extra);
    let first = TestApp::spawn_with(first_config, database).await;
    let second = TestApp::spawn_sharing(second_config).await;
    (first, second)
}
