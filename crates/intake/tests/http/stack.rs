//! The HTTP stack every route shares: request ids, security headers, body
//! limit, JSON errors.

use crate::helpers::TestApp;

#[tokio::test]
async fn a_two_mebibyte_body_is_refused_with_413_in_json() {
    let app = TestApp::spawn(&[]).await;
    let body = vec![b'a'; 2 * 1024 * 1024];

    let response = app
        .client
        .post(app.url("/api/forms"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 413);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"error": "Request body too large"}));
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_security_headers() {
    let app = TestApp::spawn(&[]).await;
    for path in [
        "/health",
        "/livez",
        "/readyz",
        "/metrics",
        "/api/nothing-here",
        "/nowhere",
    ] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert!(headers.contains_key("x-request-id"), "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(
            headers
                .get("cache-control")
                .is_some_and(|value| value == "no-store"),
            path.starts_with("/api/"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_well_formed_request_id_from_the_caller_is_echoed() {
    let app = TestApp::spawn(&[]).await;
    let response = app
        .client
        .get(app.url("/livez"))
        .header("x-request-id", "caller-id-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "caller-id-42");

    let forged = app
        .client
        .get(app.url("/livez"))
        .header("x-request-id", "bad id\"}")
        .send()
        .await
        .unwrap();
    assert_ne!(forged.headers()["x-request-id"], "bad id\"}");
}

#[tokio::test]
async fn an_unknown_route_answers_404_in_json() {
    let app = TestApp::spawn(&[]).await;
    let response = app.get("/api/unknown").await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"error": "Not found"}));
}

#[tokio::test]
async fn stopping_the_server_returns_once_requests_are_drained() {
    let app = TestApp::spawn(&[]).await;
    assert_eq!(app.get("/livez").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let app = TestApp::spawn(&[]).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let document: serde_json::Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    for path in [
        "/api/auth/login",
        "/api/forms/{id}/responses",
        "/api/audit",
        "/health",
    ] {
        assert!(document["paths"][path].is_object(), "{path} missing");
    }
}
