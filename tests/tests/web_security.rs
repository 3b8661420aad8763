//! The local web UI as an attack surface: DNS rebinding (a foreign Host), cross-site requests (a
//! foreign Origin, on the API and on the WebSocket upgrade; a cookie request without Origin),
//! brute-force logins, oversized bodies, and the headers and cookie every answer carries.

use std::time::Duration;

use chatly_tests::{PATIENCE, TestNode};
use reqwest::header;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn foreign_hosts_origins_and_floods_are_refused() -> anyhow::Result<()> {
    let node = TestNode::start(Vec::new()).await?;
    let alice = node.account("alice", "correct horse").await?;
    let base = alice.base.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    // DNS rebinding: the name resolves to 127.0.0.1, but the Host is someone else's.
    let rebound = http
        .get(format!("{base}/api/v1/me"))
        .header(header::HOST, "evil.example")
        .bearer_auth(alice.token.clone().unwrap())
        .send()
        .await?;
    assert_eq!(rebound.status(), 403);
    let body: serde_json::Value = rebound.json().await?;
    assert_eq!(body["error"]["code"], "bad_host");

    // A cross-site form post, and a foreign Origin on an API call.
    let form = http
        .post(format!("{base}/api/v1/sessions"))
        .header(header::ORIGIN, "http://evil.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("username=alice&password=correct+horse")
        .send()
        .await?;
    assert_eq!(form.status(), 403);
    let foreign = http
        .post(format!("{base}/api/v1/rooms/public/messages"))
        .header(header::ORIGIN, "http://evil.example")
        .bearer_auth(alice.token.clone().unwrap())
        .json(&json!({"text": "from a web page"}))
        .send()
        .await?;
    assert_eq!(foreign.status(), 403);
    assert!(
        alice.texts("public").await?.is_empty(),
        "nothing was posted"
    );

    // The session cookie: HttpOnly, SameSite=Strict, a fresh session at every login; an unsafe
    // request that carries only the cookie and no Origin is refused.
    let login = http
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"username": "alice", "password": "correct horse"}))
        .send()
        .await?;
    assert_eq!(login.status(), 200);
    let cookie = login
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let token: serde_json::Value = login.json().await?;
    assert_ne!(
        token["token"],
        json!(alice.token),
        "each login opens a new session"
    );
    let pair = cookie.split(';').next().unwrap_or_default().to_string();
    let csrf = http
        .post(format!("{base}/api/v1/rooms/public/messages"))
        .header(header::COOKIE, &pair)
        .json(&json!({"text": "csrf"}))
        .send()
        .await?;
    assert_eq!(csrf.status(), 403);
    let same_site = http
        .post(format!("{base}/api/v1/rooms/public/messages"))
        .header(header::COOKIE, &pair)
        .header(header::ORIGIN, base.clone())
        .json(&json!({"text": "from the node's own page"}))
        .send()
        .await?;
    assert_eq!(same_site.status(), 201);

    // The WebSocket upgrade from a foreign page.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request =
        format!("{}/api/v1/events", base.replacen("http://", "ws://", 1)).into_client_request()?;
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse()?);
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", alice.token.clone().unwrap()).parse()?,
    );
    assert!(
        tokio_tungstenite::connect_async(request).await.is_err(),
        "a foreign page opened the event socket"
    );

    // Headers on every answer, refusals included.
    let page = http.get(format!("{base}/")).send().await?;
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()?
        .to_string();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(page.headers().contains_key(header::REFERRER_POLICY));

    // 20 MiB at a message route: 413, and the node keeps answering.
    let huge = http
        .post(format!("{base}/api/v1/rooms/public/messages"))
        .bearer_auth(alice.token.clone().unwrap())
        .header(header::CONTENT_TYPE, "application/json")
        .body(vec![b'a'; 20 * 1024 * 1024])
        .send()
        .await;
    if let Ok(response) = huge {
        assert_eq!(response.status(), 413);
    }
    let (status, _) = alice.get("/api/v1/me").await?;
    assert_eq!(status, 200, "the node still answers");

    // Brute force: after 5 failures a minute, 429 with Retry-After, even for the right password.
    for _ in 0..5 {
        let wrong = http
            .post(format!("{base}/api/v1/sessions"))
            .json(&json!({"username": "alice", "password": "wrong guess"}))
            .send()
            .await?;
        assert_eq!(wrong.status(), 401);
    }
    let limited = http
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"username": "alice", "password": "correct horse"}))
        .timeout(PATIENCE + Duration::from_secs(5))
        .send()
        .await?;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key(header::RETRY_AFTER));
    Ok(())
}
